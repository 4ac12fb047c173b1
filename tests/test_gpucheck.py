"""gpu-check: the dry run, the refusal without CUDA, one step failing or overrunning while the rest go
on, the deadline, the tarball's filter, and the whole command on CPU with the tiny profile."""

from __future__ import annotations

import json
import os
import sys
import tarfile
import time
from pathlib import Path

import pytest

from mlsearch.__main__ import main as cli_main
from mlsearch.config import load_config, profile_files
from mlsearch.tools import gpucheck


@pytest.fixture
def no_cuda(monkeypatch):
    """CPU everywhere, also on a GPU machine: in this process and in the steps' subprocesses."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(gpucheck, "cuda_available", lambda: False)
    monkeypatch.setattr(gpucheck, "card_slug", lambda: "cpu")


def _stderr_line(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_dry_run_lists_the_steps_and_runs_nothing(tmp_path, monkeypatch, capsys, no_cuda):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["gpu-check", "--dry-run", "--deadline", "300"]) == 0
    out = capsys.readouterr().out
    assert "nothing runs" in out and "Deadline 300 s" in out and "no CUDA GPU" in out
    assert "python -m pytest -m gpu -q -p no:cacheprovider tests/test_bench.py" in out
    assert "python -m mlsearch bench --configs small,base --out results/perf --budget 90" in out
    assert "python -m mlsearch train --profile full --set results_dir=results --set 'languages=[en,de,fr,it,es]' --set seed=0" in out
    assert "python -m mlsearch grid --profile full --set results_dir=results --inline --train-only --budget LEFT-RESERVE" in out
    assert "results/perf/cpu-gpu-check.json" in out and "results/perf/cpu-runs.tar.gz" in out
    assert list(tmp_path.iterdir()) == []


def test_without_cuda_it_refuses_in_one_line(tmp_path, monkeypatch, capsys, no_cuda):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["gpu-check"]) == 2
    line = _stderr_line(capsys)
    assert "no CUDA GPU" in line and "--dry-run" in line and "--allow-cpu" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, needle", [
    (["--deadline", "0"], "--deadline"),
    (["--bench-sizes", "tiny,huge"], "--bench-sizes"),
    (["--profile", "nope"], "no profile named 'nope'"),
    (["-j", "0"], "-j/--jobs"),
    (["--skip", "bench,nope"], "--skip"),
])
def test_bad_options_are_one_line_errors(tmp_path, monkeypatch, capsys, args, needle):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["gpu-check", "--dry-run", *args]) == 2
    assert needle in _stderr_line(capsys)


def test_grid_budget_keeps_a_reserve_for_the_last_cell():
    assert gpucheck._grid_budget(300, None, 3) == 225  # no cell timing: a quarter
    assert gpucheck._grid_budget(300, 40, 3) == 180  # three seeds of about the timed cell
    assert gpucheck._grid_budget(300, 200, 3) == 150  # never more than half
    assert gpucheck._grid_budget(0.5, 10, 3) == 1.0


def _ends_soon(pid: int, wait: float = 5.0) -> bool:
    """Whether ``pid`` is gone or a zombie (ended, its orphaned entry not yet reaped) within ``wait`` seconds."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if "State:\tZ" in status.read_text():
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_a_step_that_fails_or_overruns_is_recorded_and_the_rest_run(tmp_path, capsys):
    py = sys.executable
    cfg = load_config(profile_files("tiny"), {"results_dir": str(tmp_path / "res")})
    child = tmp_path / "child.pid"
    overrun = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
               f"open({str(child)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)")
    steps = [
        gpucheck.Step("gpu-tests", "fails", lambda s: [py, "-c", "import sys; print('boom'); sys.exit(3)"], 30, ""),
        gpucheck.Step("bench", "overruns", lambda s: [py, "-c", overrun], 2, ""),
        gpucheck.Step("cell", "runs", lambda s: [py, "-c", "print('fine')"], None, ""),
        gpucheck.Step("grid", "no time left", lambda s: [py, "-c", "pass"], None, ""),
    ]
    plan = gpucheck.Plan(cfg, "cpu", False, 60.0, tmp_path / "perf", str(tmp_path / "res"), steps)
    record: dict = {"steps": []}
    start = time.perf_counter()
    recs = gpucheck.run_plan(plan, record)
    assert time.perf_counter() - start < 20
    assert [(r["step"], r["status"]) for r in recs] == [("gpu-tests", "failed"), ("bench", "timeout"), ("cell", "ok"), ("grid", "ok")]
    assert recs[0]["returncode"] == 3 and recs[0]["output_tail"] == ["boom"]
    assert "started" in recs[1]["output_tail"] and "2 s limit" in recs[1]["note"]
    assert _ends_soon(int(child.read_text()))  # the step's own children were stopped with it
    assert json.loads(plan.record_path.read_text())["steps"] == json.loads(json.dumps(recs))


def test_steps_are_skipped_when_too_little_time_is_left(tmp_path):
    cfg = load_config(profile_files("tiny"), {"results_dir": str(tmp_path / "res")})
    steps = [gpucheck.Step(n, n, lambda s: [sys.executable, "-c", "raise SystemExit(9)"], None, "") for n in ("bench", "grid")]
    plan = gpucheck.Plan(cfg, "cpu", False, 10.0, tmp_path / "perf", str(tmp_path / "res"), steps)
    recs = gpucheck.run_plan(plan, {"steps": []})
    assert [r["status"] for r in recs] == ["skipped", "skipped"]
    assert "only 10 s of the 10 s deadline left (needs 30)" in recs[0]["note"]


def test_the_tarball_holds_only_small_result_files(tmp_path):
    root = tmp_path / "res" / "benchmark" / "tiny"
    run = root / "runs" / "en" / "seed0"
    for rel in ("metrics.json", "run_info.json", "config.json", "curves.csv", "predictions.parquet", ".lock",
                ".metrics.json.x.tmp", "checkpoints/last.json", "checkpoints/last.safetensors", "tokenizers/en.json"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("{}")
    (root / "timing.json").write_text("{}")
    (root / "big.json").write_text("x" * (gpucheck.MAX_FILE_BYTES + 1))
    names = gpucheck.write_tarball(tmp_path / "out" / "t.tar.gz", root, str(tmp_path / "res"))
    expected = ["res/benchmark/tiny/runs/en/seed0/config.json", "res/benchmark/tiny/runs/en/seed0/curves.csv",
                "res/benchmark/tiny/runs/en/seed0/metrics.json", "res/benchmark/tiny/runs/en/seed0/run_info.json",
                "res/benchmark/tiny/timing.json"]
    assert names == expected
    with tarfile.open(tmp_path / "out" / "t.tar.gz") as tar:
        assert tar.getnames() == expected


@pytest.mark.slow
def test_gpu_check_on_cpu_with_the_tiny_profile(tmp_path, monkeypatch, capsys, no_cuda):
    """The whole command: bench (tiny), the largest tiny cell, the tiny grid; record, tarball, table."""
    monkeypatch.chdir(tmp_path)
    args = ["gpu-check", "--allow-cpu", "--profile", "tiny", "--bench-sizes", "tiny", "--out", "perf",
            "--results-dir", "res", "--deadline", "300", "--commit", "abc123"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out

    rec = json.loads((tmp_path / "perf" / "cpu-gpu-check.json").read_text())
    assert rec["card"] == "cpu" and rec["profile"] == "tiny" and rec["deadline_s"] == 300
    assert rec["torch"] and rec["date"] and rec["git_commit"]  # the checkout's commit, else --commit
    steps = {r["step"]: r for r in rec["steps"]}
    assert list(steps) == ["gpu-tests", "bench", "cell", "grid"]
    assert steps["gpu-tests"]["status"] == "skipped" and steps["gpu-tests"]["note"] == "no CUDA GPU"
    assert all(steps[s]["status"] == "ok" and steps[s]["seconds"] > 0 for s in ("bench", "cell", "grid"))
    assert steps["bench"]["details"]["config"] == "tiny" and steps["bench"]["details"]["pairs_per_s"] > 0
    assert steps["cell"]["details"]["train_seconds"] > 0 and "en+de+fr/seed0" in steps["cell"]["details"]["run_dir"]
    assert "--inline --train-only --budget" in steps["grid"]["command"]
    assert steps["grid"]["key"] == "7/7 runs, 7/7 cells complete" and steps["grid"]["details"]["runs_done_before"] == 1
    assert {p.name for p in (tmp_path / "perf").iterdir()} == {"cpu-gpu-check.json", "cpu-runs.tar.gz", "cpu.json", "cpu.md"}

    with tarfile.open(tmp_path / "perf" / "cpu-runs.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert rec["tarball_files"] == len(names)
    assert all(n.startswith("res/benchmark/tiny/") and m.size <= gpucheck.MAX_FILE_BYTES for n, m in zip(names, members, strict=True))
    assert not [n for n in names if "checkpoints" in n or "tokenizers" in n or n.endswith((".parquet", ".safetensors"))]
    assert sum(n.endswith("/metrics.json") for n in names) == 7 and sum(n.endswith("/run_info.json") for n in names) == 7
    assert "res/benchmark/tiny/timing.json" in names and "res/benchmark/tiny/data/card.md" in names

    lines = out.rstrip("\n").splitlines()
    assert lines[-8].startswith("gpu-check on cpu (profile tiny, deadline 300 s)")
    assert lines[-6:-4] == ["| step | status | seconds | key figure |", "|---|---|---:|---|"]
    table = lines[-4:]
    assert [row.split(" | ")[0:2] for row in table] == [["| gpu-tests", "skipped"], ["| bench", "ok"], ["| cell", "ok"], ["| grid", "ok"]]
    assert "7/7 runs" in table[-1] and "pairs/s" in table[1]
    assert Path(rec["tarball"]) == Path("perf/cpu-runs.tar.gz")

    # a second session: the cell is complete, so it is not retrained; --skip leaves out steps
    assert cli_main(["gpu-check", "--dry-run", "--profile", "tiny", "--results-dir", "res", "--skip", "bench,gpu-tests"]) == 0
    out = capsys.readouterr().out
    assert "cell: one run of the largest cell: en+de+fr, seed 0, profile tiny (skipped: complete from an earlier run" in out
    assert "bench: training-step throughput, sizes small,base (skipped: --skip)" in out


def test_sigterm_stops_the_step_and_keeps_the_record_and_tarball(tmp_path, monkeypatch, no_cuda):
    """A session's time limit (SIGTERM) mid-step: the step's processes stop, what was done is written."""
    import argparse
    import signal
    import threading

    cfg = load_config(profile_files("tiny"), {"results_dir": str(tmp_path / "res")})
    child = tmp_path / "child.pid"
    sleeper = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
               f"open({str(child)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)")
    steps = [gpucheck.Step("bench", "sleeps", lambda s: [sys.executable, "-c", sleeper], None, "")]
    plan = gpucheck.Plan(cfg, "cpu", False, 60.0, tmp_path / "perf", str(tmp_path / "res"), steps)
    monkeypatch.setattr(gpucheck, "make_plan", lambda args: plan)
    args = argparse.Namespace(dry_run=False, allow_cpu=True, commit=None)
    def terminate_once_started() -> None:
        deadline = time.monotonic() + 30
        while not child.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_started, daemon=True).start()
    with pytest.raises(SystemExit) as exc:
        gpucheck.main(args)
    assert exc.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is not gpucheck._terminated
    assert _ends_soon(int(child.read_text()))
    rec = json.loads(plan.record_path.read_text())
    assert [(r["step"], r["status"]) for r in rec["steps"]] == [("bench", "interrupted")]
    assert plan.tarball_path.is_file() and rec["tarball_files"] == 0
