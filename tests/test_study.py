"""The study: subsampling, the study file, its cells, and the gain arithmetic (checked by hand)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlsearch import study as st
from mlsearch.cells import RunOptions
from mlsearch.config import load_config, profile_files
from mlsearch.data.benchmark import generate
from mlsearch.data.subsample import subsample
from mlsearch.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_ds():
    return generate(load_config(profile_files("tiny")).data)


def _data(**overrides):
    return load_config(profile_files("tiny"), {f"data.{k}": v for k, v in overrides.items()}).data


def _train_qids(ds, lang):
    p = ds.pairs
    return set(p.loc[(p["lang"] == lang) & (p["split"] == "train"), "query_id"])


# ----------------------------------------------------------------------------- subsampling
def test_default_shares_return_the_dataset_itself(tiny_ds):
    assert subsample(tiny_ds, _data()) is tiny_ds


def test_train_share_keeps_whole_queries_nested_and_leaves_valid_test_alone(tiny_ds):
    half, quarter = subsample(tiny_ds, _data(train_share=0.5)), subsample(tiny_ds, _data(train_share=0.25))
    for lang in tiny_ds.languages:
        full_q, half_q, quarter_q = _train_qids(tiny_ds, lang), _train_qids(half, lang), _train_qids(quarter, lang)
        assert len(half_q) == round(len(full_q) * 0.5)
        assert quarter_q <= half_q <= full_q  # nested
        for split in ("valid", "test"):
            pd.testing.assert_frame_equal(half.split(lang, split), tiny_ds.split(lang, split))
        # whole queries: every kept query has all its candidate pairs
        kept = half.split(lang, "train")
        orig = tiny_ds.split(lang, "train")
        assert len(kept) == orig["query_id"].isin(half_q).sum()


def test_dropped_training_queries_take_their_query_mappings_with_them(tiny_ds):
    small = subsample(tiny_ds, _data(train_share=0.25))
    train_text = {lang: set(small.split(lang, "train")["query"]) for lang in small.languages}
    qa = small.query_alignment
    assert len(qa) < len(tiny_ds.query_alignment)
    for row in qa.itertuples():
        assert row.text_a in train_text[row.lang_a] and row.text_b in train_text[row.lang_b]
    assert len(small.product_alignment) == len(tiny_ds.product_alignment)  # the catalogue is not the traffic


def test_mapping_shares_per_language_pair(tiny_ds):
    some = subsample(tiny_ds, _data(product_alignment_share=0.3, query_alignment_share=0.0))
    assert len(some.query_alignment) == 0
    for (a, b), n in tiny_ds.product_alignment.groupby(["lang_a", "lang_b"]).size().items():
        kept = some.product_alignment
        assert ((kept["lang_a"] == a) & (kept["lang_b"] == b)).sum() == max(1, round(n * 0.3))
    more = subsample(tiny_ds, _data(product_alignment_share=0.6))
    key = ["lang_a", "text_a", "lang_b", "text_b"]
    assert set(map(tuple, some.product_alignment[key].to_numpy())) <= set(map(tuple, more.product_alignment[key].to_numpy()))


def test_one_low_resource_language(tiny_ds):
    low = subsample(tiny_ds, _data(train_share_by_language={"de": 0.25}))
    assert len(_train_qids(low, "de")) == round(len(_train_qids(tiny_ds, "de")) * 0.25)
    assert _train_qids(low, "en") == _train_qids(tiny_ds, "en")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data.train_share", 0.0, "data.train_share must be in (0, 1]"),
        ("data.train_share", 1.5, "data.train_share must be in (0, 1]"),
        ("data.product_alignment_share", -0.1, "data.product_alignment_share must be in [0, 1]"),
        ("data.train_share_by_language", {"xx": 0.5}, "unknown language code"),
    ],
)
def test_bad_shares_are_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_config(profile_files("tiny"), {key: value})


# ----------------------------------------------------------------------------- the study file and its cells
def test_committed_study_files_load_and_the_cpu_study_has_its_cells():
    for name in ("tiny", "quick", "full"):
        st.load_study(ROOT / "params" / "study" / f"{name}.yaml")
    spec = st.load_study(ROOT / "params" / "study" / "quick.yaml")
    cells = st.study_cells(spec, ["en", "de", "fr", "it", "es"])
    names = [c.name for c in cells]
    assert len(names) == len(set(names))
    # size: 6 factors × (5 mono + 3 kinds); alignment: 4 product + 1 query points (×1 shared with size);
    # low resource: 3 shares × 5 languages × (mono + all five); align form: 2 factors × 2 kinds
    # (references shared with size)
    assert len(cells) == 6 * 8 + 5 + 3 * 10 + 4
    assert "x1-de0.25/de" in names and "x1-de0.5/en+de+fr+it+es" in names
    assert "x1/en+de+fr+it+es" in names and "x1-it0.0625/it" in names and "x1-prod0.1/en+de+fr+it+es" in names
    assert not any("prod" in n for n in names if "+" not in n)  # monolingual models ignore alignment shares
    assert cells[0].point == "x4" and "+" in cells[0].name  # longest first
    by_name = {c.name: c for c in cells}
    assert dict(by_name["x0.5/en"].data) == {"data.train_share": 0.125}  # the dataset is generated at ×4
    assert dict(by_name["x1-it0.0625/it"].data)["data.train_share_by_language"] == {"it": 0.015625}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("size:\n  factorz: [1]\n", "unknown parameter 'size.factorz'"),
        ("size:\n  factors: [0, 1]\n", "size.factors must be positive"),
        ("sweeps: [size, bogus]\n", "unknown or no sweeps"),
        ("size:\n  kinds: [method, nope]\n", "unknown model kind"),
        ("alignment:\n  product_share: [2]\n", "shares in \\[0, 1\\]"),
        ("low_resource:\n  factors: [0.25, 0]\n", "low_resource.factors must be shares"),
        ("low_resource:\n  factor: 0.25\n", "unknown parameter 'low_resource.factor'"),
    ],
)
def test_bad_study_files_are_config_errors(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text("profile: tiny\n" + text)
    with pytest.raises(ConfigError, match=message):
        st.load_study(path)


@pytest.mark.slow
def test_cli_study_dry_run_and_errors(tmp_path, capsys):
    """The dry run as a user runs it (a process); the two error lines from the same main() in this
    process (a process each would cost seconds of imports to print one line)."""
    from mlsearch.__main__ import main

    run = ["study", "--profile", "tiny", "--set", f"results_dir={tmp_path}"]
    ok = subprocess.run([sys.executable, "-m", "mlsearch", *run, "--dry-run"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "14 cells × 2 seeds" in ok.stdout and "todo  x1/en+de+fr" in ok.stdout
    assert main([*run, "--sweeps", "size,bogus"]) == 2 and capsys.readouterr().err.startswith("error: unknown sweep(s)")
    assert main([*run[:1], "--profile", "nope"]) == 2 and "no study file" in capsys.readouterr().err


def test_a_run_of_other_settings_is_never_reused(tmp_path):
    spec = st.load_study(ROOT / "params" / "study" / "tiny.yaml", ["size"])
    cell = st.study_cells(spec, ["en", "de", "fr"])[-1]
    for seed in spec.seeds:
        d = st.run_dir(st.cell_config(spec, cell, seed, str(tmp_path), {}))
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"config_hash": "not-this-one"}))
    with pytest.raises(ConfigError, match="other settings"):
        st._complete(spec, cell, str(tmp_path), {})


# ----------------------------------------------------------------------------- gain arithmetic
def _row(point, kind, model, lang, seed, f1, share):
    factor, low, low_factor = st._parse_point(point)
    return {"point": point, "factor": factor, "low_language": low, "low_factor": low_factor, "product_share": 1.0,
            "query_share": 1.0, "kind": kind, "model": model, "n_languages": len(model.split("+")),
            "eval_language": lang, "seed": seed, "f1": f1, "train_share": share}


def test_gains_pair_each_run_with_the_monolingual_model_of_the_same_data_and_seed():
    rows = [
        _row("x1", "method", "de", "de", 0, 0.40, 0.5), _row("x1", "method", "de", "de", 1, 0.50, 0.5),
        _row("x1", "method", "fr", "fr", 0, 0.20, 0.5), _row("x1", "method", "fr", "fr", 1, 0.25, 0.5),
        _row("x1", "method", "de+fr", "de", 0, 0.44, 0.5), _row("x1", "method", "de+fr", "de", 1, 0.60, 0.5),
        _row("x1", "method", "de+fr", "fr", 0, 0.20, 0.5), _row("x1", "method", "de+fr", "fr", 1, 0.30, 0.5),
        # low-resource de: its own monolingual reference at the same (small) share
        _row("x1-de0.25", "method", "de", "de", 0, 0.10, 0.125), _row("x1-de0.25", "method", "de", "de", 1, 0.20, 0.125),
        _row("x1-de0.25", "method", "de+fr", "de", 0, 0.15, 0.125), _row("x1-de0.25", "method", "de+fr", "de", 1, 0.20, 0.125),
    ]
    g = st.paired_gains(pd.DataFrame(rows))
    by = {(r.point, r.eval_language, r.seed): r.gain_pct for r in g.itertuples()}
    assert by["x1", "de", 0] == pytest.approx(10.0) and by["x1", "de", 1] == pytest.approx(20.0)
    assert by["x1", "fr", 0] == pytest.approx(0.0) and by["x1", "fr", 1] == pytest.approx(20.0)
    assert by["x1-de0.25", "de", 0] == pytest.approx(50.0) and by["x1-de0.25", "de", 1] == pytest.approx(0.0)

    s = st.summarize(g[g["point"] == "x1"], ["point"]).set_index("eval_language")
    # de: gains 10, 20 → mean 15, sd 7.071, half-width t(1)=12.706 × 7.071/√2 = 63.53
    assert s.loc["de", "gain_pct"] == pytest.approx(15.0)
    assert s.loc["de", "gain_high"] - 15.0 == pytest.approx(12.706 * math.sqrt(50) / math.sqrt(2))
    # mean over languages per seed: seed 0 (10+0)/2 = 5, seed 1 (20+20)/2 = 20 → 12.5
    assert s.loc["mean", "gain_pct"] == pytest.approx(12.5)
    assert s.loc["mean", "seeds"] == 2

    low = st.low_resource_table(pd.DataFrame(rows))
    r = low[low["setting"] == "low"].iloc[0]
    assert (r["eval_language"], r["gain_pct"]) == ("de", pytest.approx(25.0))


def test_point_names_round_trip():
    assert st._parse_point("x0.125") == (0.125, "", 1.0)
    assert st._parse_point("x1-it0.0625") == (1.0, "it", 0.0625)
    assert st._parse_point("x1-prod0.1") == (1.0, "", 1.0)
    assert np.isnan(st._interval(np.array([3.0]))[2])


@pytest.mark.slow
def test_study_runs_cells_with_papermill_then_notebook_05_and_resumes(tmp_path, capsys):
    """The real path of `make study` on a tiny study: cells through notebook 02, tables, figures,
    report and timing record; a rerun trains nothing and keeps the record of the real run."""
    study = tmp_path / "s.yaml"
    study.write_text("profile: tiny\nseeds: [0]\nsweeps: [alignment]\nalignment:\n  product_share: [0]\n  query_share: []\n")
    results = tmp_path / "results"
    two = {"grid.languages": ["en", "de"], "grid.max_languages": 2}  # four cells, two rounds of two notebooks
    cmd = [sys.executable, "-m", "mlsearch", "study", "--study", str(study), "--set", f"results_dir={results}",
           "--set", "grid.languages=[en,de]", "--set", "grid.max_languages=2", "-j", "2"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    root = results / "benchmark" / "tiny" / "study"
    timing = json.loads((root / "timing.json").read_text())
    assert (timing["cells"], timing["cells_run"], timing["cells_failed"]) == (4, 4, [])  # 2 mono, x1, x1-prod0
    assert timing["sweeps"] == ["alignment"] and timing["command"].startswith("python -m mlsearch study")
    assert (root / "report.html").stat().st_size > 10_000
    table = pd.read_csv(root / "tables" / "gain_alignment.csv")
    assert set(table["product_share"]) == {0.0, 1.0} and table["seeds"].eq(1).all()
    assert sorted(p.name for p in (root / "figures").iterdir()) == ["gain_vs_alignment.png"]  # only what ran
    capsys.readouterr()
    # the same command again, in this process and without the analysis (a rerun's analysis, notebook 05
    # once more, is test_study_in_parts_inline_then_analysed's last part)
    st.run_study(st.load_study(study), study, str(results), jobs=2, extra=two, options=RunOptions(train_only=True))
    assert "0 cells run, 4 skipped" in capsys.readouterr().out
    assert json.loads((root / "timing.json").read_text()) == timing


@pytest.mark.slow
def test_study_in_parts_inline_then_analysed(tmp_path, monkeypatch):
    """A study run in parts: --inline --train-only with a budget trains one cell, a second part the
    rest (the record keeps both parts), a plain rerun only analyses (notebook 05) and keeps the record."""
    from mlsearch import cells

    study = tmp_path / "s.yaml"
    study.write_text("profile: tiny\nseeds: [0]\nsweeps: [alignment]\nalignment:\n  product_share: [0]\n  query_share: []\n")
    spec = st.load_study(study)
    results = str(tmp_path / "results")
    real = cells.train_set

    def slow_train_set(**kw):  # each cell takes at least the budget, so the first part stops after one
        out = real(**kw)
        time.sleep(0.5)
        return out

    monkeypatch.setattr(cells, "train_set", slow_train_set)
    root = st.run_study(spec, study, results, jobs=1, options=RunOptions(inline=True, train_only=True, budget=0.25))
    first = json.loads((root / "timing.json").read_text())
    assert (first["cells_run"], len(first["cells_not_started"]), first["executor"]) == (1, 4, "inline")
    assert not (root / "report.html").exists() and not (root / "02_train.ipynb").exists()

    st.run_study(spec, study, results, jobs=1, options=RunOptions(inline=True, train_only=True))
    second = json.loads((root / "timing.json").read_text())
    assert (second["cells_run"], second["cells_skipped"], second["cells_not_started"]) == (4, 1, [])
    assert len(second["earlier_parts"]) == 1 and not (root / "report.html").exists()
    assert not list((root / "runs").rglob("*.ipynb"))  # inline cells execute no notebook

    st.run_study(spec, study, results, jobs=1)
    assert (root / "report.html").stat().st_size > 10_000
    assert json.loads((root / "timing.json").read_text()) == second
    # the same gains for nDCG@10, next to F1's (notebook 05's metric parameter)
    _, tables, _ = st.analyze(spec, results, metric="ndcg@10")
    runs = st.collect(root)
    assert runs["ndcg@10"].between(0, 1).all() and (root / "tables" / "gain_alignment_ndcg.csv").is_file()
    assert (root / "figures" / "gain_vs_alignment_ndcg.png").is_file()
    assert "ndcg10_mono" in pd.read_csv(root / "tables" / "gain_alignment_ndcg.csv").columns
    assert (root / "tables" / "gain_alignment.csv").is_file()  # F1's table is still there
    with pytest.raises(ConfigError):
        st.analyze(spec, results, metric="auc")
