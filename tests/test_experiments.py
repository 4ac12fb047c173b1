"""The grid: language sets, skip-complete logic, parameter passing, and a whole grid on fake notebooks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest

from mlsearch import cells, experiments
from mlsearch.config import load_config, profile_files
from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.experiments import grid_cells, language_sets, notebook_params
from mlsearch.report import render_provenance, update_results_readme


def test_language_set_counts() -> None:
    five = ["en", "de", "fr", "it", "es"]
    assert len(language_sets(five, 5)) == 31
    assert len(language_sets([*five, "ja"], 6)) == 63
    assert len(language_sets(five, 2)) == 5 + 10
    assert len(language_sets(five, 3)) == 5 + 10 + 10
    sets = language_sets(["en", "de", "fr"], 3)
    assert sets[:3] == [["en"], ["de"], ["fr"]] and sets[-1] == ["en", "de", "fr"]
    with pytest.raises(ConfigError, match="max_languages"):
        language_sets(five, 0)


def tiny(tmp_path: Path, **over) -> tuple:
    files = profile_files("tiny")
    overrides = {"results_dir": str(tmp_path), "grid.seeds": [0, 1], **over}
    return load_config(files, overrides), files, overrides


def test_cells_largest_first_and_skip_complete(tmp_path: Path) -> None:
    cfg, _, _ = tiny(tmp_path)
    cells = grid_cells(cfg)
    assert [len(c.languages) for c in cells] == [3, 2, 2, 2, 1, 1, 1]
    de = next(c for c in cells if c.name == "de")
    assert de.notebook == tmp_path / "benchmark" / "tiny" / "runs" / "de" / "02_train.ipynb"
    assert de.pending_seeds() == [0, 1] and not de.complete()
    (de.run_dirs[0]).mkdir(parents=True)
    (de.run_dirs[0] / "run_info.json").write_text("{}")  # started, not finished: still pending
    (de.run_dirs[1]).mkdir(parents=True)
    (de.run_dirs[1] / "metrics.json").write_text("{}")
    assert de.pending_seeds() == [0]  # partial cell: rerun
    (de.run_dirs[0] / "metrics.json").write_text("{}")
    assert de.complete()


def test_baseline_cells_live_under_their_kind(tmp_path: Path) -> None:
    cfg, _, _ = tiny(tmp_path, kind="tfidf")
    cell = grid_cells(cfg)[-1]
    assert cell.run_dirs[0] == tmp_path / "benchmark" / "tiny" / "runs" / "tfidf" / "fr" / "seed0"


def test_notebook_params_rebuild_the_same_config(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("train:\n  epochs: 1\n")
    files = [*profile_files("tiny"), extra]
    cfg = load_config(files, {"results_dir": str(tmp_path), "model.d_model": 8})
    params = notebook_params(cfg, files, {"results_dir": str(tmp_path), "model.d_model": 8})
    assert params == {"profile": "tiny", "results_dir": str(tmp_path), "extra_params": [str(extra)],
                      "overrides": {"model.d_model": 8}}
    # A files list the notebooks cannot rebuild (no base.yaml + profile) is refused, not silently changed.
    lone = tmp_path / "lone.yaml"
    lone.write_text("profile: quick\ntrain:\n  epochs: 3\n")
    cfg = load_config([lone], {})
    with pytest.raises(ConfigError, match="--profile"):
        notebook_params(cfg, [lone], {})


FAKE_TRAIN = '''import json, pathlib
from mlsearch.paths import model_name
model = model_name(languages)
res = pathlib.Path(results_dir)
if (res / f"FAIL_{model}").exists():
    raise RuntimeError(f"planned failure of {model}")
for seed in seeds:
    d = res / "benchmark" / profile / "runs" / model / f"seed{seed}"
    (d / "checkpoints").mkdir(parents=True, exist_ok=True)
    (d / "run_info.json").write_text(json.dumps({"train_seconds": 0.01, "device": "cpu", "date": "2025-01-02"}))
    ev = {lang: {"f1": 0.5 + 0.1 * len(languages)} for lang in languages}
    (d / "metrics.json").write_text(json.dumps({
        "train_languages": languages, "seed": seed, "kind": kind, "profile": profile, "source": "benchmark",
        "model": model, "eval": ev, "extra": extra_params, "overrides": overrides}))
'''
FAKE_COMPARE = '''import pathlib
from mlsearch.tables import write_tables
root = pathlib.Path(results_dir) / "benchmark" / profile
tables = write_tables(root)
print("SUMMARY", len(tables["f1"]), "rows")
'''


def fake_notebook(path: Path, body: str, params: str) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                            "language_info": {"name": "python"}})
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_grid_on_fake_notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure reported by cell, resume skips complete cells, compare + report + timing written."""
    common = 'profile = "quick"\nresults_dir = "results"\nextra_params = []\noverrides = {}\n'
    monkeypatch.setattr(cells, "TRAIN_NOTEBOOK", fake_notebook(
        tmp_path / "train.ipynb", FAKE_TRAIN, common + 'languages = ["en"]\nseeds = [0]\nkind = "method"'))
    monkeypatch.setattr(experiments, "COMPARE_NOTEBOOK", fake_notebook(tmp_path / "compare.ipynb", FAKE_COMPARE, common))
    monkeypatch.setattr(experiments, "EMBEDDINGS_NOTEBOOK", fake_notebook(
        tmp_path / "embed.ipynb", 'print("EMBEDDINGS of seed", seed)', common + "seed = 9"))
    built = []
    monkeypatch.setattr(experiments, "load_dataset", lambda cfg, progress=True: built.append(cfg.profile) or "dataset")
    monkeypatch.setattr(experiments, "write_card", lambda ds, out: Path(out).mkdir(parents=True, exist_ok=True) or {})
    monkeypatch.setattr(cells, "_device_summary", lambda: ("CPU", 0))
    res = tmp_path / "results"
    cfg, files, overrides = tiny(res, **{"grid.languages": ["en", "de"], "grid.max_languages": 2})
    root = res / "benchmark" / "tiny"
    (res / "FAIL_de").parent.mkdir(parents=True)
    (res / "FAIL_de").write_text("")

    with pytest.raises(MlsearchError, match=r"1 of 3 grid cells failed: de \(.*runs/de/02_train.ipynb\)"):
        experiments.run_grid(cfg, files, overrides, jobs=2)
    assert built == ["tiny"] and (root / "data").is_dir()
    assert (root / "runs" / "en+de" / "seed1" / "metrics.json").is_file()
    assert (root / "runs" / "de" / "02_train.ipynb").is_file()  # kept for reading the error
    assert not (root / "report.html").exists()
    timing = json.loads((root / "timing.json").read_text())
    assert timing["cells_failed"] == ["de"] and timing["jobs"] == 2 and timing["cells"] == 3

    (res / "FAIL_de").unlink()
    m_en = (root / "runs" / "en" / "seed0" / "metrics.json").stat().st_mtime_ns
    assert experiments.run_grid(cfg, files, overrides, jobs=1) == root
    assert (root / "runs" / "en" / "seed0" / "metrics.json").stat().st_mtime_ns == m_en  # skipped, not rerun
    metrics = json.loads((root / "runs" / "de" / "seed1" / "metrics.json").read_text())
    assert metrics["profile"] == "tiny" and metrics["overrides"] == {"grid.seeds": [0, 1], "grid.languages": ["en", "de"], "grid.max_languages": 2}
    timing = json.loads((root / "timing.json").read_text())
    assert timing["cells_run"] == 1 and timing["cells_skipped"] == 2 and timing["cells_failed"] == []
    html = (root / "report.html").read_text()
    assert "SUMMARY 8 rows" in html and "write_tables" not in html  # outputs shown, code hidden
    assert "EMBEDDINGS of seed 0" in html  # 04 ran after 03 on the grid's first seed, in the same report
    assert (root / "tables" / "f1_summary.md").is_file()
    readme = (res / "README.md").read_text()
    assert "| benchmark | tiny | 6 | 0,1 |" in readme


def test_provenance_from_timing_and_run_info(tmp_path: Path) -> None:
    root = tmp_path / "benchmark" / "quick"
    run = root / "runs" / "en" / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "run_info.json").write_text(json.dumps({"device": "cpu", "date": "2025-03-04T10:00:00", "train_seconds": 3}))
    assert "| benchmark | quick | 1 |  |  | cpu | 2025-03-04 |  |" in render_provenance(tmp_path)
    (root / "timing.json").write_text(json.dumps({
        "command": "python -m mlsearch grid --profile quick", "seeds": [0, 1, 2], "machine": "Linux x86_64, 2 CPUs",
        "date": "2025-03-05T11:00:00+00:00", "wall_seconds": 600.0, "gpus": 0, "gpu_name": None}))
    readme = tmp_path / "README.md"
    readme.write_text("# Results\n\nhand text\n\n<!-- provenance:begin (written by mlsearch.report.update_results_readme) -->\nold\n<!-- provenance:end -->\ntail\n")
    update_results_readme(tmp_path)
    text = readme.read_text()
    assert "hand text" in text and text.endswith("tail\n") and "old" not in text
    assert "| benchmark | quick | 1 | 0,1,2 | `python -m mlsearch grid --profile quick` | Linux x86_64, 2 CPUs | 2025-03-05 | 10.0 |" in text


def test_provenance_of_a_run_in_parts(tmp_path: Path) -> None:
    root = tmp_path / "benchmark" / "full"
    root.mkdir(parents=True)
    part = {"date": "2026-01-01T10:00:00", "wall_seconds": 300.0, "cells_not_started": ["x"]}
    (root / "timing.json").write_text(json.dumps({
        "command": "python -m mlsearch grid --profile full --budget 400", "seeds": [0], "machine": "Linux x86_64, 16 CPUs",
        "date": "2026-01-02T10:00:00+00:00", "wall_seconds": 240.0, "gpus": 1, "gpu_name": "H200", "earlier_parts": [part]}))
    assert "16 CPUs, 1× H200 | 2026-01-02 | 9.0 in 2 parts |" in render_provenance(tmp_path)


@pytest.mark.slow
def test_grid_inline_train_only_then_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--inline trains through train_set (no notebook 02); --train-only stops there; a later plain run
    trains nothing, keeps the training record, and skips the embedding maps when checkpoints are absent."""
    common = 'profile = "quick"\nresults_dir = "results"\nextra_params = []\noverrides = {}\n'
    monkeypatch.setattr(cells, "TRAIN_NOTEBOOK", tmp_path / "absent.ipynb")  # never executed inline
    monkeypatch.setattr(experiments, "COMPARE_NOTEBOOK", fake_notebook(tmp_path / "compare.ipynb", FAKE_COMPARE, common))
    monkeypatch.setattr(experiments, "EMBEDDINGS_NOTEBOOK", fake_notebook(
        tmp_path / "embed.ipynb", 'print("EMBEDDINGS of seed", seed)', common + "seed = 9"))
    calls = []

    def fake_train_set(profile, results_dir, extra_params, languages, seeds, kind, overrides, progress=True):
        calls.append(languages)
        for seed in seeds:  # run folders as copied from another machine: no checkpoints
            d = Path(results_dir) / "benchmark" / profile / "runs" / "+".join(languages) / f"seed{seed}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "run_info.json").write_text(json.dumps({"train_seconds": 0.5}))
            (d / "metrics.json").write_text(json.dumps({"train_languages": languages, "seed": seed, "kind": kind, "profile": profile,
                                                        "source": "benchmark", "model": "+".join(languages),
                                                        "eval": {lang: {"f1": 0.5} for lang in languages}}))

    monkeypatch.setattr(cells, "train_set", fake_train_set)
    monkeypatch.setattr(cells, "_device_summary", lambda: ("CPU", 0))
    monkeypatch.setattr(cells, "_gpu_name", lambda: None)
    res = tmp_path / "results"
    cfg, files, overrides = tiny(res, **{"grid.languages": ["en", "de"], "grid.max_languages": 2})
    root = res / "benchmark" / "tiny"
    experiments.run_grid(cfg, files, overrides, jobs=1, options=experiments.RunOptions(inline=True, train_only=True))
    assert sorted(calls) == [["de"], ["en"], ["en", "de"]] and not (root / "report.html").exists()
    trained = json.loads((root / "timing.json").read_text())
    assert trained["executor"] == "inline" and trained["cells_run"] == 3 and trained["notebook_overhead_seconds_median"] is not None

    experiments.run_grid(cfg, files, overrides, jobs=1)
    assert len(calls) == 3  # nothing retrained
    html = (root / "report.html").read_text()
    assert "SUMMARY" in html and "EMBEDDINGS" not in html
    assert json.loads((root / "timing.json").read_text()) == trained


def test_profile_auto_resolves_by_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from mlsearch.__main__ import build_parser, config_from_args

    for cuda, expected in ((False, "quick"), (True, "full")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        cfg, files = config_from_args(build_parser().parse_args(["grid", "--profile", "auto"]))
        assert cfg.profile == expected and files[-1].name == f"{expected}.yaml"


def test_cells_never_mix_profiles(tmp_path: Path) -> None:
    quick, _, _ = tiny(tmp_path)
    other = dataclasses.replace(quick, profile="other")
    assert {c.notebook.parent.parent.parent for c in grid_cells(quick)} != {c.notebook.parent.parent.parent for c in grid_cells(other)}


def test_provenance_of_a_committed_result_set_without_run_folders(tmp_path: Path) -> None:
    """Run folders are not committed: a fresh clone lists the set from timing.json and tables/f1.csv."""
    root = tmp_path / "benchmark" / "quick"
    (root / "tables").mkdir(parents=True)
    (root / "tables" / "f1.csv").write_text(
        "kind,model,seed,eval_language,f1\nmethod,en,0,en,0.4\nmethod,en+de,0,en,0.5\nmethod,en+de,0,de,0.5\n")
    (root / "timing.json").write_text(json.dumps({"command": "python -m mlsearch grid --profile quick", "seeds": [0],
                                                  "machine": "m", "date": "2025-03-05", "wall_seconds": 60.0}))
    assert "| benchmark | quick | 2 | 0 | `python -m mlsearch grid --profile quick` | m | 2025-03-05 | 1.0 |" in render_provenance(tmp_path)


def test_each_kind_set_has_its_own_timing_record(capsys: pytest.CaptureFixture[str]) -> None:
    """reproduce, baselines and pretrained-kinds write different records, so none overwrites another's."""
    from mlsearch.__main__ import main
    from mlsearch.kinds import KINDS, PRETRAINED_KINDS

    assert experiments.timing_name(["method"]) == "timing.json"
    assert experiments.timing_name(["method", "tfidf"]) == "timing.json"
    assert experiments.timing_name(list(KINDS)) == "timing-baselines.json"
    assert experiments.timing_name(list(PRETRAINED_KINDS)) == "timing-pretrained.json"
    assert set(PRETRAINED_KINDS) <= set(KINDS)
    assert main(["kinds", "--list", "--pretrained"]) == 0
    assert capsys.readouterr().out.strip() == "[" + ",".join(PRETRAINED_KINDS) + "]"


def test_provenance_counts_kept_rows_beside_the_run_folders_of_a_later_grid(tmp_path: Path) -> None:
    """A grid of two kinds in a fresh clone: its run folders plus the rows its tables kept from earlier grids."""
    root = tmp_path / "benchmark" / "quick"
    (root / "tables").mkdir(parents=True)
    (root / "tables" / "f1.csv").write_text(
        "kind,model,seed,eval_language,f1\nmethod,en,0,en,0.4\nmethod,en+de,0,en,0.5\nmethod,en+de,0,de,0.5\ne5_full,en,0,en,0.6\n")
    run = root / "runs" / "e5_full" / "en" / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (root / "timing-pretrained.json").write_text(json.dumps({"command": "grid e5_full", "seeds": [0], "machine": "m",
                                                             "date": "2025-03-05", "wall_seconds": 60.0}))
    assert "| benchmark | quick | 3 | 0 | `grid e5_full` | m | 2025-03-05 | 1.0 |" in render_provenance(tmp_path)
