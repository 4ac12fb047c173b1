"""Less data from the same dataset: shares of training queries and of alignment mappings.

``subsample(ds, cfg.data)`` keeps

- ``train_share`` of every language's TRAINING queries (``train_share_by_language`` overrides it per
  language), whole queries with all their candidate pairs; validation and test are never touched,
  so every point of a data-size sweep is scored on the same test pairs;
- the query mappings whose training queries are both still there (mappings come from training
  queries: dropping a query drops its mappings, as if the data had been collected at that size);
- ``product_alignment_share`` / ``query_alignment_share`` of the (remaining) mappings of each
  language pair.

Selections are nested: a query (or mapping) kept at share s is kept at every larger share, because
each item's rank comes from one permutation seeded by ``data.seed`` and its language (pair). So a
sweep over sizes compares models on growing supersets, not on unrelated draws.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from mlsearch.config import DataConfig
from mlsearch.data.dataset import Dataset


def is_identity(data: DataConfig) -> bool:
    """True when ``data`` asks for the whole dataset (the default)."""
    return (
        data.train_share == 1.0
        and all(v == 1.0 for v in data.train_share_by_language.values())
        and data.product_alignment_share == 1.0
        and data.query_alignment_share == 1.0
    )


def _ranks(n: int, seed: int, salt: str) -> np.ndarray:
    """Rank of each of ``n`` items in a permutation seeded by ``seed`` and ``salt`` (stable per salt)."""
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode())])
    ranks = np.empty(n, dtype=np.int64)
    ranks[rng.permutation(n)] = np.arange(n)
    return ranks


def _count(n: int, share: float) -> int:
    """Items kept of ``n`` at ``share``: rounded, and at least one when the share is positive."""
    if share <= 0 or n == 0:
        return 0
    return min(n, max(1, int(round(n * share))))


def train_share(data: DataConfig, lang: str) -> float:
    return data.train_share_by_language.get(lang, data.train_share)


def subsample(ds: Dataset, data: DataConfig) -> Dataset:
    """The dataset with only the shares of training queries and mappings that ``data`` asks for."""
    if is_identity(data):
        return ds
    pairs = ds.pairs
    dropped: dict[str, set[str]] = {}  # language -> training query texts no longer there
    keep_rows = np.ones(len(pairs), dtype=bool)
    for lang in ds.languages:
        share = train_share(data, lang)
        if share >= 1.0:
            continue
        rows = (pairs["lang"] == lang) & (pairs["split"] == "train")
        qids = np.sort(pairs.loc[rows, "query_id"].astype(str).unique())
        kept = set(qids[_ranks(len(qids), data.seed, f"train:{lang}") < _count(len(qids), share)])
        gone = rows & ~pairs["query_id"].astype(str).isin(kept)
        dropped[lang] = set(pairs.loc[gone, "query"].astype(str))
        keep_rows &= ~gone.to_numpy()

    def mappings(table: pd.DataFrame, share: float, kind: str, drop_queries: bool) -> pd.DataFrame:
        table = table.reset_index(drop=True)
        keep = np.ones(len(table), dtype=bool)
        if drop_queries and dropped:
            for side in ("a", "b"):
                langs, texts = table[f"lang_{side}"].to_numpy(), table[f"text_{side}"].astype(str).to_numpy()
                for lang, gone in dropped.items():
                    keep &= ~((langs == lang) & np.isin(texts, list(gone)))
        if share < 1.0:
            for (a, b), idx in table[keep].groupby(["lang_a", "lang_b"]).groups.items():
                idx = np.asarray(idx)
                ranks = _ranks(len(idx), data.seed, f"{kind}:{a}-{b}")
                keep[idx[ranks >= _count(len(idx), share)]] = False
        return table[keep].reset_index(drop=True)

    meta = dict(ds.meta)
    meta["subsample"] = {
        "train_share": data.train_share,
        "train_share_by_language": dict(data.train_share_by_language),
        "product_alignment_share": data.product_alignment_share,
        "query_alignment_share": data.query_alignment_share,
    }
    return Dataset(
        name=ds.name,
        languages=list(ds.languages),
        pairs=pairs[keep_rows].reset_index(drop=True),
        product_alignment=mappings(ds.product_alignment, data.product_alignment_share, "product", False),
        query_alignment=mappings(ds.query_alignment, data.query_alignment_share, "query", True),
        meta=meta,
    )
