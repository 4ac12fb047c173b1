"""How grid and study cells run: --inline (no papermill), --budget (run in parts), timing records of parts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mlsearch import cells
from mlsearch.cells import RunOptions, run_cells, write_timing
from mlsearch.errors import ConfigError
from mlsearch.run import train_set

ROOT = Path(__file__).resolve().parent.parent


def test_budget_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="budget must be positive"):
        RunOptions(budget=0)


def test_a_negative_budget_is_a_one_line_error_of_the_grid_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line's main() in this process (a process would import torch to print one line)."""
    from mlsearch.__main__ import main

    assert main(["grid", "--profile", "tiny", "--budget", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "budget must be positive" in err and len(err.strip().splitlines()) == 1


def test_budget_stops_starting_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell already started finishes; no cell starts once the budget has passed."""
    started = []

    def fake_cell(name, source, notebook, params, cwd, inline=False):
        started.append((name, inline))
        time.sleep(0.3)
        return {"name": name, "ok": True, "seconds": 0.3, "notebook": notebook}

    monkeypatch.setattr(cells, "_run_cell", fake_cell)
    specs = [(f"c{i}", "src", f"nb{i}", {}, ".") for i in range(4)]
    results, not_started = run_cells(specs, 1, 0, "test", RunOptions(inline=True, budget=0.2))
    assert started == [("c0", True)] and [r["name"] for r in results] == ["c0"]
    assert not_started == ["c1", "c2", "c3"]
    started.clear()
    results, not_started = run_cells(specs, 1, 0, "test")
    assert [s[0] for s in started] == ["c0", "c1", "c2", "c3"] and not not_started


def record(done: list[str], skipped: int, failed=(), not_started=(), date="2026-01-01") -> dict:
    return {"cells_run": len(done) + len(failed), "cells_skipped": skipped, "cells_failed": list(failed),
            "cells_not_started": list(not_started), "cells_done": list(done), "date": date, "wall_seconds": 10.0,
            "command": "python -m mlsearch study", "per_cell": []}


def test_timing_records_keep_the_real_run_and_chain_parts(tmp_path: Path) -> None:
    path = tmp_path / "timing.json"
    first = write_timing(path, record(["c", "d"], 0, not_started=["a", "b"], date="d1"))
    assert json.loads(path.read_text()) == first and "earlier_parts" not in first
    assert write_timing(path, record([], 4, date="d2"), ["a", "b", "c", "d"]) == first  # analysis only: the record stays
    second = write_timing(path, record([], 2, failed=["a"], date="d3"), ["c", "d"])  # built on the first part
    assert [p["date"] for p in second["earlier_parts"]] == ["d1"]
    assert second["earlier_parts"][0]["cells_not_started"] == ["a", "b"]
    third = write_timing(path, record(["a"], 3, date="d4"), ["b", "c", "d"])  # skips cells the first part trained
    assert [p["date"] for p in third["earlier_parts"]] == ["d1", "d3"]
    # a run that skipped nothing (every run folder gone) is a new run, not a part of the old one
    assert "earlier_parts" not in write_timing(path, record(["a", "b", "c", "d"], 0, date="d5"))
    # nor one that skipped only cells another command trained (make baselines after make reproduce),
    # or a record from before cell names were kept
    write_timing(path, record(["tfidf/en"], 0, date="d6"))
    assert "earlier_parts" not in write_timing(path, record(["tfidf/en"], 1, date="d7"), ["en"])
    path.write_text(json.dumps({"cells_run": 3, "date": "d0"}))
    assert "earlier_parts" not in write_timing(path, record(["tfidf/en"], 1, date="d8"), ["en"])


def test_inline_failure_keeps_the_traceback(tmp_path: Path) -> None:
    params = {"profile": "no-such-profile", "results_dir": str(tmp_path), "extra_params": [], "overrides": {},
              "languages": ["en"], "seeds": [0], "kind": "method"}
    r = cells._run_cell("en", "unused", str(tmp_path / "runs" / "en" / "02_train.ipynb"), params, ".", inline=True)
    assert not r["ok"] and r["notebook"] == str(tmp_path / "runs" / "en")
    assert "no-such-profile" in r["error"] and "Traceback" in r["traceback"]


@pytest.mark.slow
def test_inline_cell_trains_the_same_run_as_notebook_02(tmp_path: Path) -> None:
    """--inline changes how a cell is executed, not what it trains: metrics.json is byte-identical."""
    params = {"profile": "tiny", "extra_params": [], "overrides": {"train.epochs": 2},
              "languages": ["en"], "seeds": [0], "kind": "method"}
    train_set(**params, results_dir=str(tmp_path / "inline"), progress=False)
    nb = tmp_path / "nb" / "02_train.ipynb"
    cells.execute_notebook(cells.TRAIN_NOTEBOOK, nb, {**params, "results_dir": str(tmp_path / "nb")}, str(ROOT))
    run = Path("benchmark") / "tiny" / "runs" / "en" / "seed0" / "metrics.json"
    inline, notebook = (tmp_path / "inline" / run).read_bytes(), (tmp_path / "nb" / run).read_bytes()
    assert inline == notebook
    # a rerun reads the run back instead of training it again
    again = train_set(**params, results_dir=str(tmp_path / "inline"), progress=False)
    assert json.dumps(again[0], sort_keys=True) == json.dumps(json.loads(inline), sort_keys=True)


def test_a_kernel_that_dies_at_start_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel kernels can collide on a TCP port and die before any cell runs: retried, up to a bound;
    any other failure of a notebook is not retried."""
    import papermill as pm

    calls = []

    def flaky(source, target, **kw):
        calls.append(target)
        if len(calls) == 1:
            raise RuntimeError(cells.KERNEL_START_FAILURE)

    monkeypatch.setattr(pm, "execute_notebook", flaky)
    params = {"profile": "tiny", "results_dir": str(tmp_path), "extra_params": [], "overrides": {},
              "languages": ["en"], "seeds": [0], "kind": "method", "rerun": False}
    cells.execute_notebook(cells.TRAIN_NOTEBOOK, tmp_path / "nb.ipynb", params)
    assert len(calls) == 2

    def always(source, target, **kw):
        calls.append(target)
        raise RuntimeError(cells.KERNEL_START_FAILURE)

    calls.clear()
    monkeypatch.setattr(pm, "execute_notebook", always)
    with pytest.raises(RuntimeError, match="kernel_info"):
        cells.execute_notebook(cells.TRAIN_NOTEBOOK, tmp_path / "nb.ipynb", params)
    assert len(calls) == cells.KERNEL_START_ATTEMPTS

    def broken(source, target, **kw):
        calls.append(target)
        raise RuntimeError("planned failure")

    calls.clear()
    monkeypatch.setattr(pm, "execute_notebook", broken)
    with pytest.raises(RuntimeError, match="planned failure"):
        cells.execute_notebook(cells.TRAIN_NOTEBOOK, tmp_path / "nb.ipynb", params)
    assert len(calls) == 1
