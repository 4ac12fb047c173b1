"""A grid killed with SIGKILL mid-training resumes: finished cells are skipped, the running cell
continues from its last checkpoint, and the runs and their tables equal those of an uninterrupted grid
(CPU, same seeds).

Three cells (en+de, en, de; one seed) of the tiny profile, run with ``python -m mlsearch grid`` in
its own process group, as ``kill -9 -<pgid>`` would hit it from a shell. The resumed and the
uninterrupted grid train only (``--train-only``); both tables come from ``write_tables``, what the
grid's notebook 03 writes (an analysis after a grid that skipped complete cells: test_shard.py and
test_experiments.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mlsearch.cells import ROOT
from mlsearch.tables import write_tables

pytestmark = pytest.mark.slow
#: More epochs than tiny's 2, so a cell trains long enough (seconds) to be caught mid-training.
GRID_SETS = ["grid.languages=[en,de]", "grid.max_languages=2", "grid.seeds=[0]", "train.epochs=6", "eval.bootstrap=10"]
#: Wall time is the only column of the table that differs between equal runs.
TIMING_COLUMNS = ["train_seconds"]


def start_grid(tmp_path: Path, results: Path, log: str, *flags: str) -> subprocess.Popen:
    """The grid in its own session (process group); stderr to the file ``log``, so a full pipe never blocks it."""
    sets = [a for s in [*GRID_SETS, f"results_dir={results}", f"data.cache_dir={tmp_path / 'cache'}"] for a in ("--set", s)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlsearch", "grid", "--profile", "tiny", "-j", "1", *sets, *flags],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / log).open("w"),
        start_new_session=True,
    )
    proc.log = tmp_path / log
    return proc


def finish(proc: subprocess.Popen, timeout: float = 900) -> None:
    proc.wait(timeout=timeout)
    assert proc.returncode == 0, proc.log.read_text()[-3000:]


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL to the grid's process group, if it still runs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def kernels_of(pid: int) -> list[int]:
    """Live notebook kernels started by process ``pid`` (jupyter_client marks them with JPY_PARENT_PID)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"JPY_PARENT_PID={pid}".encode() in env and state != "Z":
            found.append(int(entry.name))
    return found


def test_killed_grid_resumes_to_the_same_tables(tmp_path, request):
    runs = tmp_path / "killed" / "benchmark" / "tiny" / "runs"
    first = runs / "en+de" / "seed0"  # largest language set first
    # the uninterrupted grid to compare with, in a process of its own while the other is killed and
    # resumed: the same cells trained inline (no notebook kernels; test_run_options: the same runs)
    whole = start_grid(tmp_path, tmp_path / "whole", "whole.txt", "--inline", "--train-only")
    request.addfinalizer(lambda: stop(whole))  # when the test fails before it ends
    proc = start_grid(tmp_path, tmp_path / "killed", "killed.txt")
    try:
        # kill while the second cell trains: the first complete, a checkpoint of the second on disk
        deadline, running = time.monotonic() + 600, None
        while running is None and time.monotonic() < deadline and proc.poll() is None:
            if (first / "metrics.json").is_file():
                running = next((d for d in (runs / "en" / "seed0", runs / "de" / "seed0")
                                if (d / "checkpoints" / "last.json").is_file() and not (d / "metrics.json").exists()), None)
            time.sleep(0.05)
        assert running is not None, f"grid ended or stalled before the moment to kill it: {proc.log.read_text()[-3000:]}"
        kernels = kernels_of(proc.pid)
        assert kernels, "no notebook kernel found for the running cell"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc)
    # the kernel dies with the grid: nothing in the run folder moves after the kill (an orphan
    # kernel would go on training until its parent poll noticed, writing checkpoints or metrics)
    sidecar = (running / "checkpoints" / "last.json").read_bytes()
    time.sleep(3)
    assert kernels_of(proc.pid) == [], "notebook kernels survived the killed grid"
    assert (running / "checkpoints" / "last.json").read_bytes() == sidecar, "a kernel kept training after the kill"
    assert not (running / "metrics.json").exists()
    done_at = (first / "metrics.json").stat().st_mtime_ns
    epoch_at_kill = json.loads(sidecar)["epoch"]

    finish(start_grid(tmp_path, tmp_path / "killed", "resumed.txt", "--train-only"))
    timing = json.loads((tmp_path / "killed" / "benchmark" / "tiny" / "timing.json").read_text())
    assert (timing["cells_skipped"], timing["cells_run"], timing["cells_failed"]) == (1, 2, [])
    assert (first / "metrics.json").stat().st_mtime_ns == done_at  # not rerun
    info = json.loads((running / "run_info.json").read_text())
    assert info["resumed_from_epoch"] is not None and info["resumed_from_epoch"] >= epoch_at_kill

    finish(whole)
    for results in ("killed", "whole"):
        write_tables(tmp_path / results / "benchmark" / "tiny")
    for model in ("en+de", "en", "de"):
        got = (runs / model / "seed0" / "metrics.json").read_bytes()
        assert got == (tmp_path / "whole" / "benchmark" / "tiny" / "runs" / model / "seed0" / "metrics.json").read_bytes(), model
    tables = [pd.read_csv(tmp_path / r / "benchmark" / "tiny" / "tables" / "f1.csv", dtype=str).drop(columns=TIMING_COLUMNS)
              for r in ("killed", "whole")]
    assert len(tables[0]) == 4
    pd.testing.assert_frame_equal(*tables)
