"""Ranking metrics per query: nDCG@k, MRR and Recall@k, from the scores a model gives the candidates.

Product search is judged by how it orders a query's candidates (ESCI's task 1 is scored by nDCG), not
only by a match bit at one threshold; a model that tunes a threshold to a decent F1 but ranks nothing
shows here. Definitions, per query, then averaged over queries:

- gains: graded relevance where the source has it (the ``relevance`` column: ESCI's official gains
  Exact 1.0, Substitute 0.1, Complement 0.01, Irrelevant 0), else the binary label;
- ``ndcg@k``: DCG with gain/log2(1 + rank) over the top k, divided by the DCG of the ideal order;
- ``mrr``: 1 / rank of the first relevant candidate (label 1); ``recall@k``: share of the relevant
  candidates in the top k.
- Ties in score are averaged over their orderings: exactly scikit-learn's ``ndcg_score`` for nDCG, and
  the expected value under a random order of tied candidates for MRR and recall.
- Queries with no relevant candidate (no positive gain; for MRR and recall no label 1) have no such
  value: they are left out of the means and counted (``no_relevant_queries``).

The 95% interval of each mean resamples queries (seeded), like the F1 interval.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

#: The official ESCI gains for nDCG (esci-data; issues #9 and #18 of that repository discuss a swapped
#: S/C position in early code: Substitute 0.1, Complement 0.01 is the documented order).
ESCI_GAINS = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
NDCG_KS = (5, 10)
RECALL_KS = (1, 5)
#: Metric names in the order they are reported.
RANKING_METRICS = [f"ndcg@{k}" for k in NDCG_KS] + ["mrr"] + [f"recall@{k}" for k in RECALL_KS]


def _tie_groups(scores: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Order by descending score and the index groups of equal scores in that order."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    cuts = np.flatnonzero(np.diff(s) != 0) + 1
    return order, np.split(np.arange(len(s)), cuts)


def _expected_weighted(values: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """Σ value · weight(position), averaged over orderings of tied scores (positions 0-based)."""
    order, groups = _tie_groups(scores)
    v = values[order]
    total = 0.0
    for g in groups:
        total += v[g].mean() * weights[g].sum()
    return float(total)


def dcg(gains: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Tie-averaged DCG@k (scikit-learn's ``_tie_averaged_dcg``)."""
    n = len(gains)
    disc = 1.0 / np.log2(np.arange(n) + 2.0)
    disc[k:] = 0.0
    return _expected_weighted(np.asarray(gains, float), np.asarray(scores, float), disc)


def ndcg(gains: np.ndarray, scores: np.ndarray, k: int) -> float:
    """nDCG@k of one query; NaN when no candidate has a positive gain."""
    gains = np.asarray(gains, float)
    ideal = dcg(gains, gains, k)
    return float("nan") if ideal <= 0 else dcg(gains, scores, k) / ideal


def reciprocal_rank(relevant: np.ndarray, scores: np.ndarray) -> float:
    """Expected 1/rank of the first relevant candidate under random orders of ties; NaN if none is relevant."""
    relevant = np.asarray(relevant, bool)
    if not relevant.any():
        return float("nan")
    order, groups = _tie_groups(np.asarray(scores, float))
    r = relevant[order]
    for g in groups:
        hits = int(r[g].sum())
        if hits:
            n, start = len(g), int(g[0]) + 1  # 1-based rank of the group's first place
            # P(first relevant at offset j) = C(n-1-j, hits-1) / C(n, hits)
            return sum(comb(n - 1 - j, hits - 1) / comb(n, hits) / (start + j) for j in range(n - hits + 1))
    return float("nan")  # unreachable


def recall_at(relevant: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Expected share of relevant candidates in the top k; NaN if none is relevant."""
    relevant = np.asarray(relevant, float)
    if relevant.sum() == 0:
        return float("nan")
    top = np.zeros(len(relevant))
    top[:k] = 1.0
    return _expected_weighted(relevant, np.asarray(scores, float), top) / relevant.sum()


def per_query(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per query with every metric of :data:`RANKING_METRICS` (NaN where undefined).

    ``frame`` has ``query_id``, ``label``, ``score`` and optionally ``relevance`` (graded gains).
    """
    gain_col = "relevance" if "relevance" in frame.columns else "label"
    rows = []
    for qid, g in frame.groupby("query_id", sort=True):
        s = g["score"].to_numpy(float)
        gains = g[gain_col].to_numpy(float)
        rel = g["label"].to_numpy() == 1
        row = {"query_id": qid}
        row.update({f"ndcg@{k}": ndcg(gains, s, k) for k in NDCG_KS})
        row["mrr"] = reciprocal_rank(rel, s)
        row.update({f"recall@{k}": recall_at(rel, s, k) for k in RECALL_KS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["query_id", *RANKING_METRICS])


def ranking_metrics(frame: pd.DataFrame, bootstrap: int = 1000, seed: int = 0) -> dict[str, float | int]:
    """Means over queries of every ranking metric, with ``<name>_ci_low``/``_ci_high`` from a bootstrap
    over queries, the number of queries, and how many had no relevant candidate."""
    table = per_query(frame)
    out: dict[str, float | int] = {"n_queries": int(len(table))}
    rng = np.random.default_rng(seed)
    n = len(table)
    idx = rng.integers(0, n, size=(bootstrap, n)) if bootstrap > 0 and n else None
    for name in RANKING_METRICS:
        v = table[name].to_numpy(float)
        ok = np.isfinite(v)
        out[name] = float(v[ok].mean()) if ok.any() else float("nan")
        if idx is not None and ok.any():
            vals, mask = np.where(ok, v, 0.0)[idx], ok[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                means = vals.sum(1) / mask.sum(1)
            means = means[np.isfinite(means)]
            lo, hi = np.quantile(means, [0.025, 0.975])
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
        else:
            out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = float("nan")
    out["no_relevant_queries"] = int(table["mrr"].isna().sum())
    return out
