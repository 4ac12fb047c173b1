"""Ranking metrics against hand-computed values and scikit-learn's ndcg_score."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from mlsearch.ranking import ESCI_GAINS, ndcg, per_query, ranking_metrics, recall_at, reciprocal_rank


def test_hand_computed_values():
    # candidates scored 0.9, 0.5, 0.1; the relevant one is second
    s, rel = np.array([0.9, 0.5, 0.1]), np.array([0, 1, 0])
    assert reciprocal_rank(rel, s) == pytest.approx(0.5)
    assert ndcg(rel, s, 10) == pytest.approx(1 / math.log2(3))
    assert recall_at(rel, s, 1) == 0.0 and recall_at(rel, s, 5) == 1.0
    # two relevant, ranked 1 and 3: DCG = 1 + 1/2, ideal = 1 + 1/log2(3)
    rel2 = np.array([1, 0, 1])
    assert ndcg(rel2, s, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg(rel2, s, 1) == pytest.approx(1.0) and recall_at(rel2, s, 1) == pytest.approx(0.5)
    # graded gains (ESCI): an Exact ranked below a Substitute
    gains = np.array([ESCI_GAINS["S"], ESCI_GAINS["E"], ESCI_GAINS["I"]])
    assert ndcg(gains, s, 10) == pytest.approx((0.1 + 1 / math.log2(3)) / (1 + 0.1 / math.log2(3)))


def test_ties_are_averaged_over_orderings():
    # all three tied, one relevant: its rank is 1, 2 or 3 with equal chance
    s, rel = np.zeros(3), np.array([0, 0, 1])
    assert reciprocal_rank(rel, s) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert recall_at(rel, s, 1) == pytest.approx(1 / 3)
    assert ndcg(rel, s, 10) == pytest.approx((1 + 1 / math.log2(3) + 0.5) / 3)
    # two of four tied at the top, both relevant: rank 1 for sure
    assert reciprocal_rank(np.array([1, 1, 0, 0]), np.array([1.0, 1.0, 0.2, 0.1])) == pytest.approx(1.0)
    # a tied pair at ranks 2-3, one relevant: E[1/rank] = (1/2 + 1/3) / 2
    assert reciprocal_rank(np.array([0, 1, 0]), np.array([0.9, 0.5, 0.5])) == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_query_without_relevant_candidate_is_left_out_and_counted():
    frame = pd.DataFrame({"query_id": ["a", "a", "b", "b"], "label": [1, 0, 0, 0], "score": [0.2, 0.8, 0.5, 0.4]})
    table = per_query(frame)
    assert math.isnan(table.set_index("query_id").loc["b", "mrr"])
    m = ranking_metrics(frame, bootstrap=50)
    assert m["mrr"] == pytest.approx(0.5) and m["n_queries"] == 2 and m["no_relevant_queries"] == 1
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert m["mrr_ci_low"] <= m["mrr"] <= m["mrr_ci_high"]


def test_ndcg_matches_scikit_learn_on_random_data():
    rng = np.random.default_rng(0)
    n_q, n_c = 40, 8
    gains = rng.choice([0.0, 0.01, 0.1, 1.0], size=(n_q, n_c))
    gains[:, 0] = 1.0  # every query has a relevant candidate (scikit-learn scores others 0)
    scores = rng.integers(0, 4, size=(n_q, n_c)).astype(float)  # many ties
    frame = pd.DataFrame({
        "query_id": np.repeat(np.arange(n_q), n_c), "label": (gains.ravel() == 1.0).astype(int),
        "relevance": gains.ravel(), "score": scores.ravel(),
    })
    for k in (5, 10):
        ours = ranking_metrics(frame, bootstrap=0)[f"ndcg@{k}"]
        assert ours == pytest.approx(ndcg_score(gains, scores, k=k), abs=1e-12)
