"""Metrics of the match class, with the decision threshold chosen on validation only.

``best_threshold(valid_labels, valid_scores)`` picks the score cut that maximises validation F1;
``metrics(test_labels, test_scores, threshold, query_ids)`` reports precision/recall/F1 at that cut
plus threshold-free ROC-AUC and PR-AUC, and a bootstrap 95% interval for F1 that resamples QUERIES
(with all their candidate pairs), since pairs of one query are not independent.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """``(threshold, f1)`` maximising F1 of ``scores >= threshold``; ties → the highest threshold."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.sum() == 0:
        return 1.0, 0.0
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    p, r = precision[:-1], recall[:-1]
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    i = int(np.flatnonzero(f1 == f1.max())[-1])
    return float(thresholds[i]), float(f1[i])


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return precision, recall, f1


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    pred = np.asarray(scores) >= threshold
    labels = np.asarray(labels).astype(bool)
    tp, fp, fn = (pred & labels).sum(), (pred & ~labels).sum(), (~pred & labels).sum()
    return float(_prf(np.array(tp), np.array(fp), np.array(fn))[2])


def metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    query_ids: np.ndarray | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Headline metrics at ``threshold``; the F1 interval resamples queries ``bootstrap`` times (seeded)."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    pred = scores >= threshold
    pos = labels == 1
    tp, fp, fn = int((pred & pos).sum()), int((pred & ~pos).sum()), int((~pred & pos).sum())
    precision, recall, f1 = (float(x) for x in _prf(np.array(tp), np.array(fp), np.array(fn)))
    both = 0 < pos.sum() < len(pos)
    out: dict[str, float | int] = {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "accuracy": float((pred == pos).mean()) if len(pos) else 0.0,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "pr_auc": float(average_precision_score(labels, scores)) if both else float("nan"),
        "threshold": float(threshold),
        "n_pairs": int(len(labels)),
        "positives": int(pos.sum()),
    }
    low, high = bootstrap_f1(labels, pred, query_ids, bootstrap, seed)
    out["f1_ci_low"], out["f1_ci_high"] = low, high
    return out


def bootstrap_f1(
    labels: np.ndarray, pred: np.ndarray, query_ids: np.ndarray | None, n: int, seed: int
) -> tuple[float, float]:
    """2.5% and 97.5% quantiles of F1 over ``n`` resamples of queries (pairs if no query ids)."""
    if n <= 0 or len(labels) == 0:
        return float("nan"), float("nan")
    groups = np.arange(len(labels)) if query_ids is None else np.unique(np.asarray(query_ids), return_inverse=True)[1]
    k = int(groups.max()) + 1
    pos, pred = np.asarray(labels) == 1, np.asarray(pred, dtype=bool)
    tp_q = np.bincount(groups, weights=pred & pos, minlength=k)
    fp_q = np.bincount(groups, weights=pred & ~pos, minlength=k)
    fn_q = np.bincount(groups, weights=~pred & pos, minlength=k)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(n)]).astype(np.float64)
    f1 = _prf(counts @ tp_q, counts @ fp_q, counts @ fn_q)[2]
    return float(np.quantile(f1, 0.025)), float(np.quantile(f1, 0.975))
