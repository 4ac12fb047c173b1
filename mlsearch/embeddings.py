"""Does joint training put languages in one representation space? Measured, and mapped in 2-D.

The paper shows it with a picture: separately trained monolingual models give four clusters
(queries/titles × language), a jointly trained model clusters texts by topic whatever their
language. Pictures of t-SNE are easy to over-read, so this module also measures the same thing:

- **cross-lingual retrieval** (:func:`retrieval_accuracy`): for each mapped text in language a (a
  cross-listed product's title, or a query mapped through a purchased product), is its counterpart
  in language b its nearest neighbour (cosine) among all candidate texts of b? Top-1 accuracy and MRR
  with their chance levels. Separate monolingual models have no reason to agree (≈ chance).
- **mapped cosine**: the mean cosine of mapped texts next to that of unmapped pairs. A cosine
  alignment loss can also be met by squeezing every encoding into one narrow cone: then both are
  close to 1 and retrieval stays at chance although the alignment loss is small.
- **language separability** (:func:`language_separability`): cross-validated balanced accuracy of a
  logistic regression that predicts the language from the embedding (1.0: languages live apart).
- **cross-lingual topic agreement** (:func:`topic_agreement`): is the nearest text of *another*
  language of the same vertical (clothing, shoes, bags, pets)?

Title mappings are those of products that appear in the test pairs; query mappings are the training
queries of ``query_alignment`` (the only query mappings the data has). Both are mappings the joint
model was aligned on, so retrieval says whether alignment took hold, not whether it generalises;
separability and topic agreement are computed on test texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import permutations
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlsearch.data.dataset import Dataset
from mlsearch.io import write_text
from mlsearch.tables import to_markdown

SIDES = ("query", "title")


class Encoder(Protocol):
    """What :func:`collect_embeddings` needs (``mlsearch.inference.Scorer`` is one)."""

    def encode(self, lang: str, texts: list[str], side: str = "query") -> np.ndarray: ...


# --------------------------------------------------------------------------- texts


def mapped_texts(ds: Dataset, side: str, lang_a: str, lang_b: str) -> pd.DataFrame:
    """One-to-one mapped texts ``text_a`` (in ``lang_a``) ↔ ``text_b`` (in ``lang_b``).

    ``side="title"``: product mappings of products in the test pairs of either language;
    ``side="query"``: query mappings. Each text is kept once (first mapping wins) so every text of
    a has exactly one correct counterpart among the candidates of b.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    kind = "product" if side == "title" else "query"
    t = ds.alignment(kind, lang_a, lang_b)
    if side == "title":
        p = ds.pairs[ds.pairs["split"] == "test"]
        in_a = set(p.loc[p["lang"] == lang_a, "title"])
        in_b = set(p.loc[p["lang"] == lang_b, "title"])
        t = t[t["text_a"].isin(in_a) | t["text_b"].isin(in_b)]
    t = t.drop_duplicates("text_a").drop_duplicates("text_b")
    return t[["text_a", "text_b"]].reset_index(drop=True)


def _query_topics(test: pd.DataFrame) -> pd.DataFrame:
    """A test query's vertical: that of its clean matches (all in the query's category)."""
    label = "label_clean" if "label_clean" in test.columns else "label"
    pos = test[test[label] == 1]
    return pos.groupby(["lang", "query"], sort=False)["vertical"].first().reset_index()


def embedding_items(ds: Dataset, languages: list[str], max_points: int, seed: int) -> pd.DataFrame:
    """Test texts to embed: columns ``lang, side, text, topic``; at most ``max_points`` in all.

    Titles are those of products in the test pairs of at least two of ``languages`` (so one product
    shows up in several languages); queries are test queries. Each (language, side) group gets an
    equal share, sampled with ``seed``. ``topic`` is the vertical when the data has one, else "".
    """
    rng = np.random.default_rng(seed)
    per_group = max(1, max_points // (2 * len(languages)))
    test = ds.pairs[(ds.pairs["split"] == "test") & ds.pairs["lang"].isin(languages)]
    if "vertical" not in test.columns:
        test = test.assign(vertical="")
    titles = test.drop_duplicates(["lang", "product_id"])[["lang", "product_id", "title", "vertical"]]
    listed = titles.groupby("product_id")["lang"].nunique()
    shared = sorted(listed[listed >= 2].index) if len(languages) > 1 else sorted(listed.index)
    order = {pid: i for i, pid in enumerate(rng.permutation(np.array(shared, dtype=object)))}
    titles = titles[titles["product_id"].isin(order)]
    titles = titles.assign(_o=titles["product_id"].map(order)).sort_values(["lang", "_o"])
    queries = _query_topics(test)
    queries = queries.assign(_o=rng.permutation(len(queries))).sort_values(["lang", "_o"])
    frames = []
    for lang in languages:
        t = titles[titles["lang"] == lang].head(per_group)
        q = queries[queries["lang"] == lang].head(per_group)
        frames.append(pd.DataFrame({"lang": lang, "side": "title", "text": t["title"], "topic": t["vertical"]}))
        frames.append(pd.DataFrame({"lang": lang, "side": "query", "text": q["query"], "topic": q["vertical"]}))
    return pd.concat(frames, ignore_index=True)


def collect_embeddings(encoders: Mapping[str, Encoder], items: pd.DataFrame) -> np.ndarray:
    """Encode every row of ``items`` (``lang, side, text``) with ``encoders[lang]``, rows kept in order.

    ``encoders`` maps a language to the model that encodes it: one joint model for every language,
    or each language's own monolingual model (their vectors share a size, not a space).
    """
    out: np.ndarray | None = None
    for (lang, side), g in items.groupby(["lang", "side"], sort=False):
        vecs = encoders[lang].encode(lang, g["text"].astype(str).tolist(), side)
        if out is None:
            out = np.zeros((len(items), vecs.shape[1]), dtype=np.float64)
        out[items.index.get_indexer(g.index)] = vecs
    return np.zeros((0, 0)) if out is None else out


# --------------------------------------------------------------------------- measures


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_accuracy(emb_a: np.ndarray, emb_b: np.ndarray) -> dict[str, float]:
    """Row i of ``emb_a`` should retrieve row i of ``emb_b`` (cosine) among all rows of ``emb_b``.

    Returns ``n, top1, mrr, chance_top1, chance_mrr`` and ``cos_mapped, cos_random``: the mean cosine
    of mapped rows and of all other (a, b) rows. Close values mean mapped texts are no closer than any
    two texts (e.g. everything squeezed into one narrow cone). Ties count against the correct row
    (rank = 1 + number of candidates at least as similar), so constant embeddings score 0, not 1.
    """
    if emb_a.shape != emb_b.shape:
        raise ValueError(f"mapped embeddings differ in shape: {emb_a.shape} vs {emb_b.shape}")
    n = len(emb_a)
    if n == 0:
        keys = ("top1", "mrr", "chance_top1", "chance_mrr", "cos_mapped", "cos_random")
        return {"n": 0, **dict.fromkeys(keys, float("nan"))}
    sim = _unit(emb_a) @ _unit(emb_b).T
    correct = np.diag(sim)[:, None]
    tol = 1e-9
    better = (sim > correct + tol).sum(axis=1)
    tied = (np.abs(sim - correct) <= tol).sum(axis=1) - 1  # other rows as similar as the correct one
    rank = 1 + better + tied
    return {
        "n": n,
        "top1": float(np.mean(rank == 1)),
        "mrr": float(np.mean(1.0 / rank)),
        "chance_top1": 1.0 / n,
        "chance_mrr": float(np.sum(1.0 / np.arange(1, n + 1)) / n),
        "cos_mapped": float(np.mean(np.diag(sim))),
        "cos_random": float((sim.sum() - np.trace(sim)) / (n * n - n)) if n > 1 else float("nan"),
    }


def language_separability(X: np.ndarray, langs: np.ndarray | list[str], seed: int) -> float:
    """Cross-validated balanced accuracy of a logistic regression predicting the language from ``X``.

    Chance is 1 / number of languages; NaN when there are fewer than 2 languages or 2 texts of one.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(langs)
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.min() < 2:
        return float("nan")
    folds = StratifiedKFold(n_splits=int(min(5, counts.min())), shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(clf, _unit(X), y, cv=folds)
    return float(balanced_accuracy_score(y, pred))


def topic_agreement(X: np.ndarray, langs: np.ndarray | list[str], topics: np.ndarray | list[str]) -> tuple[float, float]:
    """``(agreement, chance)``: share of texts whose nearest text (cosine) of ANOTHER language has
    the same topic; chance is what a random other-language neighbour would give."""
    langs, topics = np.asarray(langs), np.asarray(topics)
    sim = _unit(X) @ _unit(X).T
    sim[langs[:, None] == langs[None, :]] = -np.inf
    ok = np.isfinite(sim).any(axis=1)
    if not ok.any():
        return float("nan"), float("nan")
    nearest = sim.argmax(axis=1)
    agree = float(np.mean(topics[nearest][ok] == topics[ok]))
    others = langs[:, None] != langs[None, :]
    same = (topics[:, None] == topics[None, :]) & others
    chance = float(np.mean(same.sum(axis=1)[ok] / others.sum(axis=1)[ok]))
    return agree, chance


def tsne_2d(X: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE of the unit-normalised rows of ``X`` (so distances follow cosine), ``[N, 2]``."""
    from sklearn.manifold import TSNE

    n = len(X)
    if n < 3:
        return np.zeros((n, 2))
    perplexity = float(max(1.0, min(30.0, (n - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(_unit(X))


# --------------------------------------------------------------------------- one table


def measure(
    ds: Dataset, models: Mapping[str, Mapping[str, Encoder]], languages: list[str], setting: str, seed: int,
    items: pd.DataFrame | None = None, embeddings: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Every measure for each model of one setting: rows ``setting, model, side, metric, value, chance, n``.

    ``models`` maps a model label (e.g. "monolingual", "joint") to its encoders per language.
    Retrieval is averaged over ordered language pairs (a→b and b→a); ``n`` sums their queries.
    ``items``/``embeddings`` (per model) can be passed to reuse the texts of the 2-D maps.
    """
    if items is None:
        items = embedding_items(ds, languages, 400, seed)
    rows: list[dict[str, Any]] = []
    for label, encoders in models.items():
        X = embeddings[label] if embeddings is not None else collect_embeddings(encoders, items)
        for side in SIDES:
            per_pair = []
            for a, b in permutations(languages, 2):
                t = mapped_texts(ds, side, a, b)
                if len(t) < 2:
                    continue
                ea = encoders[a].encode(a, t["text_a"].astype(str).tolist(), side)
                eb = encoders[b].encode(b, t["text_b"].astype(str).tolist(), side)
                per_pair.append(retrieval_accuracy(ea, eb))
            base = {"setting": setting, "model": label, "side": side}
            if per_pair:
                n = int(sum(r["n"] for r in per_pair))
                for metric, value_key, chance_key in (("retrieval_top1", "top1", "chance_top1"),
                                                      ("retrieval_mrr", "mrr", "chance_mrr"),
                                                      ("mapped_cosine", "cos_mapped", "cos_random")):
                    value = float(np.mean([r[value_key] for r in per_pair]))
                    chance = float(np.mean([r[chance_key] for r in per_pair]))
                    rows.append({**base, "metric": metric, "value": value, "chance": chance, "n": n})
            sel = (items["side"] == side).to_numpy()
            y = items.loc[sel, "lang"].to_numpy()
            rows.append({**base, "metric": "language_separability", "value": language_separability(X[sel], y, seed),
                         "chance": 1.0 / max(len(set(y)), 1), "n": int(sel.sum())})
            agree, chance = topic_agreement(X[sel], y, items.loc[sel, "topic"].to_numpy())
            rows.append({**base, "metric": "topic_agreement", "value": agree, "chance": chance, "n": int(sel.sum())})
    return pd.DataFrame(rows, columns=["setting", "model", "side", "metric", "value", "chance", "n"])


NOTE = (
    "retrieval_*: is a mapped text's counterpart in the other language its nearest neighbour (cosine) among all "
    "candidates there (top-1, MRR; mean over ordered language pairs). mapped_cosine: mean cosine of mapped texts "
    "('chance': of unmapped pairs; close values mean mapped texts are no closer than any two). language_separability: cross-validated "
    "balanced accuracy of a logistic regression predicting the language (1 = languages apart). topic_agreement: "
    "the nearest text of another language has the same vertical. 'monolingual' encodes each language with its "
    "own separately trained model; 'joint' with one model trained on all the setting's languages."
)


def write_embedding_table(root: str | Path, table: pd.DataFrame) -> list[Path]:
    """``<root>/tables/embeddings.csv`` and ``.md``, each written atomically."""
    out = Path(root) / "tables"
    csv = write_text(out / "embeddings.csv", table.to_csv(index=False, float_format="%.6g"))
    md = write_text(out / "embeddings.md", f"# Embeddings: one space for all languages?\n\n{NOTE}\n\n{to_markdown(table, 3)}")
    return [csv, md]
