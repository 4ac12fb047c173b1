"""Thresholds on validation, metrics of the match class, query-level bootstrap."""

import numpy as np

from mlsearch.evaluate import best_threshold, bootstrap_f1, f1_at, metrics


def test_best_threshold_maximises_f1():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    thr, f1 = best_threshold(labels, scores)
    grid = max(f1_at(labels, scores, t) for t in scores)
    assert abs(f1 - grid) < 1e-12 and abs(f1_at(labels, scores, thr) - f1) < 1e-12
    assert best_threshold(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]))[1] == 1.0


def test_metrics_values():
    labels = np.array([1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.4, 0.6, 0.1, 0.7, 0.2])
    m = metrics(labels, scores, 0.5, query_ids=np.array([0, 0, 1, 1, 2, 2]), bootstrap=200, seed=1)
    # predicted positive: 0.9, 0.6, 0.7 → tp 2, fp 1, fn 1
    assert (m["precision"], m["recall"]) == (2 / 3, 2 / 3)
    assert abs(m["f1"] - 2 / 3) < 1e-12 and abs(m["accuracy"] - 4 / 6) < 1e-12
    assert m["n_pairs"] == 6 and m["positives"] == 3 and m["threshold"] == 0.5
    assert 0 < m["roc_auc"] <= 1 and 0 < m["pr_auc"] <= 1
    assert m["f1_ci_low"] <= m["f1"] <= m["f1_ci_high"]
    again = metrics(labels, scores, 0.5, query_ids=np.array([0, 0, 1, 1, 2, 2]), bootstrap=200, seed=1)
    assert again == m


def test_bootstrap_resamples_queries():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.8, labels, 1 - labels).astype(bool)
    q = np.repeat(np.arange(40), 10)
    lo, hi = bootstrap_f1(labels, pred, q, 300, 0)
    lo_p, hi_p = bootstrap_f1(labels, pred, None, 300, 0)
    assert lo < hi and lo_p < hi_p
    # a perfect query-constant prediction has a zero-width interval
    assert bootstrap_f1(labels, labels.astype(bool), q, 50, 0) == (1.0, 1.0)
