"""Grid and study in shards (N independent jobs, one results folder) and the run-folder lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlsearch.cells import RunOptions, parse_shard, shard_of
from mlsearch.config import load_config, profile_files
from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.experiments import run_grid
from mlsearch.runlock import LOCK_NAME, run_lock
from mlsearch.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]


def test_shards_partition_every_cell_once_deterministically_and_balanced():
    items = [f"c{i}" for i in range(23)]
    cost = lambda c: 1 + int(c[1:]) % 5  # noqa: E731
    parts = [shard_of(items, (k, 4), cost) for k in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(items) and all(parts)
    assert parts == [shard_of(items, (k, 4), cost) for k in range(1, 5)]  # the same in every job
    loads = [sum(cost(c) for c in p) for p in parts]
    assert max(loads) - min(loads) <= max(cost(c) for c in items)
    assert all(p == [c for c in items if c in p] for p in parts)  # original order kept
    assert shard_of(items, None, cost) == items


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2", "1/0"])
def test_bad_shards_are_config_errors(text):
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_lock_of_a_live_process_is_an_error_and_of_a_dead_one_is_taken_over(tmp_path, capsys):
    run = tmp_path / "runs" / "de" / "seed0"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.mkdir(parents=True)
        (run / LOCK_NAME).write_text(json.dumps({"host": os.uname().nodename, "pid": other.pid, "started": "x"}))
        with pytest.raises(MlsearchError, match=f"being trained by process {other.pid}"), run_lock(run):
            pass
        assert (run / LOCK_NAME).is_file()  # the owner's lock stays
    finally:
        other.kill()
        other.wait()
    with run_lock(run) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert "taking over the lock" in capsys.readouterr().err and not (run / LOCK_NAME).exists()
    # another host's lock cannot be checked from here: an error, never taken over
    (run / LOCK_NAME).write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    with pytest.raises(MlsearchError, match="on elsewhere"), run_lock(run):
        pass


def test_lock_leaves_no_empty_folders_behind(tmp_path):
    run = tmp_path / "a" / "b" / "seed0"
    with pytest.raises(RuntimeError), run_lock(run):
        raise RuntimeError("bad input found inside")
    assert not (tmp_path / "a").exists()


#: Three cells (en+de, en, de; one seed): shards of 2 and 1 cells by cost.
GRID = {"grid.languages": ["en", "de"], "grid.max_languages": 2}


def _grid(results: Path, cache: Path, *extra: str) -> subprocess.Popen:
    sets = [a for s in (f"results_dir={results}", f"data.cache_dir={cache}", "grid.languages=[en,de]", "grid.max_languages=2")
            for a in ("--set", s)]
    return subprocess.Popen([sys.executable, "-m", "mlsearch", "grid", "--profile", "tiny", "--inline", "-j", "1", *sets, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _in_this_process(results: Path, cache: Path, options: RunOptions) -> Path:
    """The same grid run by this process (``python -m mlsearch grid`` without the process start)."""
    overrides = {"results_dir": str(results), "data.cache_dir": str(cache), **GRID}
    return run_grid(load_config(profile_files("tiny"), overrides), profile_files("tiny"), overrides, jobs=1, options=options)


@pytest.mark.slow
def test_two_shards_in_two_processes_give_the_tables_of_one_process(tmp_path, capsys):
    one, two, cache = tmp_path / "one", tmp_path / "two", tmp_path / "cache"
    jobs = [_grid(two, cache, "--shard", "1/2"), _grid(two, cache, "--shard", "2/2")]
    # while the shards start: the whole grid in one process, trained the same way (inline); its tables
    # are what the grid's analysis (notebook 03) writes, write_tables
    write_tables(_in_this_process(one, cache, RunOptions(inline=True, train_only=True)))
    outs = [j.communicate(timeout=600)[0] for j in jobs]
    assert [j.returncode for j in jobs] == [0, 0], outs
    assert "shard 1/2 done" in outs[0] and not (two / "benchmark" / "tiny" / "tables").exists()
    capsys.readouterr()
    _in_this_process(two, cache, RunOptions(inline=True))  # the final run, without --shard
    out = capsys.readouterr().out
    assert "0 cells run" in out  # the final run trains nothing
    drop = ["train_seconds", "origin"]
    a = pd.read_csv(one / "benchmark" / "tiny" / "tables" / "f1.csv").drop(columns=drop)
    b = pd.read_csv(two / "benchmark" / "tiny" / "tables" / "f1.csv").drop(columns=drop)
    assert len(a) == 4  # en+de on en and de, en, de
    pd.testing.assert_frame_equal(a, b)
    shards = sorted(p.name for p in (two / "benchmark" / "tiny").glob("timing*.json"))
    assert shards == ["timing.json", "timing.shard1of2.json", "timing.shard2of2.json"]  # the final run: analysis only
    records = [json.loads((two / "benchmark" / "tiny" / n).read_text()) for n in shards]
    assert records[0]["cells_run"] == 0 and records[1]["cells_run"] + records[2]["cells_run"] == 3
    assert min(records[1]["cells_run"], records[2]["cells_run"]) == 1  # each shard trained its share
    assert not list((two / "benchmark" / "tiny" / "runs").rglob(LOCK_NAME))
