"""tools/screen: the validation table of a screen, read from its runs' metrics.json (no test number)."""

import json

import pytest

from mlsearch.tools import screen


def _run(out, name, lang, f1, test_f1=0.99):
    d = out / name / "benchmark" / "quick" / "runs" / lang / "seed0"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"valid": {lang: {"f1": f1, "threshold": 0.5}}, "best_epoch": 3,
                                                "eval": {lang: {"f1": test_f1}}}))


def test_table_means_validation_f1_per_candidate_and_dataset(tmp_path):
    _run(tmp_path, "wide-s1-x1", "en", 0.6)
    _run(tmp_path, "wide-s1-x1", "de", 0.8)
    _run(tmp_path, "wide-s2-x4", "en", 0.9)
    _run(tmp_path, "small-s1-x1", "en", 0.5, test_f1=1.0)
    t = screen.table(tmp_path)
    assert list(t.index) == ["wide", "small"]  # best mean first
    assert t.loc["wide", "s1 x1"] == pytest.approx(0.7) and t.loc["wide", "s2 x4"] == pytest.approx(0.9)
    assert t.loc["wide", "mean"] == pytest.approx(0.8) and t.loc["small", "mean"] == pytest.approx(0.5)  # test F1 unread
    assert screen.folder(tmp_path, "wide", 2, 4.0).name == "wide-s2-x4"


def test_joint_trains_each_candidate_and_seed_once_without_test_and_tables_validation(tmp_path, monkeypatch):
    calls = []

    def fake_train(cfg, run_dir, progress, evaluate):
        assert evaluate is False  # the screen never reads test
        calls.append((cfg.train.alignment, cfg.seed, tuple(cfg.languages)))
        f1 = 0.6 + 0.1 * (cfg.train.alignment == "none") + 0.01 * cfg.seed
        return {"score": f1, "best_epoch": 2, "valid": {lang: {"f1": f1, "threshold": 0.5} for lang in cfg.languages}}

    monkeypatch.setattr(screen, "train_and_evaluate", fake_train)
    (tmp_path / "a.yaml").write_text("train: {alignment: both}\n")
    (tmp_path / "b.yaml").write_text("train: {alignment: none}\n")
    cands = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    screen.joint(cands, tmp_path / "out", ["en", "de"], [0, 1])
    screen.joint(cands, tmp_path / "out", ["en", "de"], [0, 1])  # complete: nothing trains again
    assert sorted(calls) == [("both", 0, ("en", "de")), ("both", 1, ("en", "de")), ("none", 0, ("en", "de")), ("none", 1, ("en", "de"))]
    (tmp_path / "c.yaml").write_text("train: {alignment: product}\n")
    (tmp_path / "out" / "c" / "seed0").mkdir(parents=True)
    (tmp_path / "out" / "c" / "seed0" / "claimed").touch()  # another process trains it
    screen.joint([tmp_path / "c.yaml"], tmp_path / "out", ["en", "de"], [0])
    assert len(calls) == 4
    t = screen.joint_table(tmp_path / "out")
    assert list(t.index) == ["b", "a"] and t.loc["b", "mean"] == pytest.approx(0.705) and t.loc["a", "en"] == pytest.approx(0.605)
    assert screen.main(["joint-table", "--out", str(tmp_path / "out"), "--write", str(tmp_path / "t.md")]) == 0
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("# Joint-recipe screen: validation F1 of the 2-language model") and "no test split was read" in md and "| b | 0.7000 | 0.7100 |" in md
