"""The kinds bench's scoring paths (mlsearch/tools/kindbench.py): same logits, whichever way pairs are scored."""

from __future__ import annotations

import torch
from synthetic_pairs import make_dataset, tiny_config

from mlsearch.inference import load_run
from mlsearch.run import train_and_evaluate
from mlsearch.tools.kindbench import score_pairs, score_two_tower

torch.set_num_threads(1)


def test_two_towers_scored_from_distinct_texts_match_scoring_every_pair(tmp_path):
    ds = make_dataset(("en",), queries=8)
    train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1, "eval.bootstrap": 0}), tmp_path / "run", ds, progress=False)
    scorer = load_run(tmp_path / "run")
    test = ds.split("en", "test")
    queries, titles = test["query"].tolist(), test["title"].tolist()
    assert len(set(queries)) < len(queries)  # queries repeat: the distinct-text path has something to share
    a = score_two_tower(scorer, "en", queries, titles, batch=5)
    b = score_pairs(scorer, "en", queries, titles, batch=7)
    assert a.shape == (len(queries),) and torch.allclose(a, b, atol=1e-5)
