"""python -m mlsearch tune: validation-only search, resumable, a params file that rebuilds the best trial."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml
from synthetic_pairs import make_dataset

from mlsearch import tune
from mlsearch.config import load_config, profile_files
from mlsearch.data.dataset import Dataset

pytest.importorskip("optuna")
torch.set_num_threads(1)
pytestmark = pytest.mark.slow


def _setup(tmp_path, monkeypatch, garbage_test: bool = False):
    ds = make_dataset(("en", "de"), queries=16)
    if garbage_test:  # every test pair replaced by nonsense with one label: must change nothing
        pairs = ds.pairs.copy()
        test = pairs["split"] == "test"
        pairs.loc[test, ["query", "title"]] = "zzz qqq"
        pairs.loc[test, "label"] = 1
        ds = Dataset(ds.name, ds.languages, pairs, ds.product_alignment, ds.query_alignment)
    monkeypatch.setattr(tune, "load_dataset", lambda cfg, progress=True: ds)
    files = profile_files("tiny")
    overrides = {"languages": ["en", "de"], "train.device": "cpu", "eval.bootstrap": 20, "results_dir": str(tmp_path)}
    return load_config(files, overrides), files, overrides


def test_tune_reads_no_test_pair_resumes_and_writes_a_params_file(tmp_path, monkeypatch):
    cfg, files, overrides = _setup(tmp_path, monkeypatch)
    first = tune.run_tune(cfg, files, overrides, trials=2, out=tmp_path / "a", progress=False)
    table = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert list(table["trial"]) == [0, 1] and first["trials"] == 2
    # trial 0 is the current settings
    assert table.loc[0, "train.lr"] == cfg.train.lr and table.loc[0, "model.d_model"] == cfg.model.d_model
    assert "train.align_weight" in table.columns  # two languages: the alignment weight is searched too

    again = tune.run_tune(cfg, files, overrides, trials=3, out=tmp_path / "a", progress=False)  # resumes: one more
    assert again["trials"] == 3 and list(pd.read_csv(tmp_path / "a" / "trials.csv")["trial"]) == [0, 1, 2]
    assert again["best_valid_f1"] >= again["default_valid_f1"]
    best = yaml.safe_load((tmp_path / "a" / "best.yaml").read_text())
    rebuilt = load_config([*files, tmp_path / "a" / "best.yaml"], overrides)
    assert rebuilt.train.lr == pytest.approx(best["train"]["lr"]) and rebuilt.model.d_model == best["model"]["d_model"]
    assert (tmp_path / "a" / "trials.png").is_file() and "--params" in again["command"]

    cfg2, files2, overrides2 = _setup(tmp_path, monkeypatch, garbage_test=True)
    garbage = tune.run_tune(cfg2, files2, overrides2, trials=2, out=tmp_path / "b", progress=False)
    same = pd.read_csv(tmp_path / "b" / "trials.csv")
    assert same["valid_f1"].tolist() == table["valid_f1"].tolist()  # the test split was never read
    assert garbage["best"] == first["best"]


def test_tune_refuses_bad_budgets_and_other_kinds(tmp_path, monkeypatch):
    from mlsearch.errors import ConfigError

    cfg, files, overrides = _setup(tmp_path, monkeypatch)
    with pytest.raises(ConfigError, match="--trials"):
        tune.run_tune(cfg, files, overrides, trials=0, out=tmp_path)
    with pytest.raises(ConfigError, match="--minutes"):
        tune.run_tune(cfg, files, overrides, minutes=0, out=tmp_path)
    with pytest.raises(ConfigError, match="tfidf"):
        tune.run_tune(load_config(files, {**overrides, "kind": "tfidf"}), files, overrides, out=tmp_path)
