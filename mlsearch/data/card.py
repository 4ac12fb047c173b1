"""Dataset card: ``write_card(ds, out)`` writes ``out/stats.json`` and ``out/card.md``.

Works for any :class:`~mlsearch.data.dataset.Dataset` (benchmark, ESCI, a user's pairs): whatever a
source does not provide (``meta`` keys, alignment tables, a ``category`` column) is reported as absent.
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pandas as pd

from mlsearch.data.dataset import SPLITS, Dataset
from mlsearch.io import write_json, write_text

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def word_types(texts: pd.Series) -> set[str]:
    """Lower-cased word types; for Japanese (no spaces) character bigrams stand in for words."""
    out: set[str] = set()
    for text in texts.astype(str):
        for w in _WORD.findall(text.lower()):
            if _CJK.search(w):
                out.update(w[i : i + 2] for i in range(max(1, len(w) - 1)))
            else:
                out.add(w)
    return out


def vocabulary_overlap(ds: Dataset) -> dict[str, float]:
    """Jaccard similarity of the word types (queries and titles) of every language pair."""
    vocab = {
        lang: word_types(pd.concat([g["query"], g["title"]]))
        for lang, g in ds.pairs.groupby("lang", sort=True)
        if lang in ds.languages
    }
    out = {}
    for a, b in combinations(sorted(ds.languages), 2):
        va, vb = vocab.get(a, set()), vocab.get(b, set())
        out[f"{a}-{b}"] = round(len(va & vb) / len(va | vb), 4) if va | vb else 0.0
    return out


def card_stats(ds: Dataset) -> dict:
    stats = ds.stats()
    p = ds.pairs
    stats["queries"] = {
        lang: {s: int(p.loc[(p["lang"] == lang) & (p["split"] == s), "query_id"].nunique()) for s in SPLITS}
        for lang in ds.languages
    }
    stats["cross_listed_products"] = int(ds.meta.get("cross_listed_products", 0))
    stats["vocabulary_overlap"] = vocabulary_overlap(ds)
    stats["positive_rate"] = {k: round(v, 4) for k, v in stats["positive_rate"].items()}
    for key in ("label_noise", "label_noise_splits", "seed", "products"):
        if key in ds.meta:
            stats[key] = ds.meta[key]
    if "vertical" in p.columns:
        stats["verticals"] = {str(k): int(v) for k, v in p["vertical"].value_counts().sort_index().items()}
    return stats


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _examples(ds: Dataset, lang: str, n_queries: int = 2) -> str:
    train = ds.split(lang, "train")
    if train.empty:
        return "_no training pairs_"
    qids = train["query_id"].drop_duplicates().head(n_queries)
    rows = []
    for qid in qids:
        sel = train[train["query_id"] == qid]
        pos = sel[sel["label"] == 1].head(2)
        neg = sel[sel["label"] == 0].head(2)
        for _, r in pd.concat([pos, neg]).iterrows():
            rows.append([r["query"], r["title"], int(r["label"]), r.get("candidate", "")])
    return _table(["query", "title", "label", "kind"], rows)


def render_card(ds: Dataset, stats: dict) -> str:
    langs = list(stats["languages"])
    parts = [f"# Dataset card: {ds.name}", ""]
    design = ds.meta.get("design")
    if design:
        parts += ["## How it was made", "", design, ""]
    parts += ["## Size", ""]
    rows = [
        [lang, *[stats["queries"][lang][s] for s in SPLITS], *[stats["pairs"][lang][s] for s in SPLITS],
         f"{stats['positive_rate'][lang]:.3f}"]
        for lang in langs
    ]
    parts += [_table(["lang", *[f"{s} queries" for s in SPLITS], *[f"{s} pairs" for s in SPLITS], "positive share"],
                     rows), ""]
    if "label_noise" in stats:
        parts += [f"Label noise: {stats['label_noise']:.3f} of labels flipped in "
                  f"{', '.join(stats.get('label_noise_splits', []))}; the other splits are clean.", ""]
    parts += [f"Cross-listed products: {stats['cross_listed_products']}.", ""]
    if "verticals" in stats:
        parts += ["Pairs per vertical: " + ", ".join(f"{k} {v}" for k, v in stats["verticals"].items()) + ".", ""]
    parts += ["## Alignment pairs and vocabulary overlap", ""]
    keys = list(stats["product_alignment"])
    parts += [_table(["languages", "product mappings", "query mappings", "vocabulary Jaccard"],
                     [[k, stats["product_alignment"][k], stats["query_alignment"][k],
                       f"{stats['vocabulary_overlap'].get(k, 0.0):.3f}"] for k in keys]) if keys else "_one language_", ""]
    parts += ["Query mappings come from training queries only. Vocabulary overlap: Jaccard similarity of "
              "lower-cased word types (Japanese: character bigrams).", "", "## Examples (training split)", ""]
    for lang in langs:
        parts += [f"### {lang}", "", _examples(ds, lang), ""]
    return "\n".join(parts)


def write_card(ds: Dataset, out: Path) -> dict:
    """Write ``out/stats.json`` and ``out/card.md`` (atomically); return the stats."""
    out = Path(out)
    stats = card_stats(ds)
    write_json(out / "stats.json", stats)
    write_text(out / "card.md", render_card(ds, stats))
    return stats
