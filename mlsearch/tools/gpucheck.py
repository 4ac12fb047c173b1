"""``python -m mlsearch gpu-check``: the one prepared command for a short, time-limited GPU session.

A lent GPU comes for minutes, so everything worth measuring on it runs from one command, under one
deadline (``--deadline``, 480 s by default), and what it measured survives a step that fails or a
session that ends early. Steps, in order, each in a subprocess with its own clock and time limit:

1. ``gpu-tests``: the ``gpu``-marked tests (pytest), skipped without pytest or without CUDA;
2. ``bench``: ``python -m mlsearch bench`` for the small and base sizes (its ``<card>.json`` and ``.md``);
3. ``cell``: one run of the profile's largest cell (all grid languages, the first seed) with
   ``python -m mlsearch train``, timed; its run folder is the grid's, so the grid does not redo it;
4. ``grid``: ``python -m mlsearch grid --inline --train-only --budget …`` with what is left.

A step that fails or overruns is recorded and the next one still runs; a step with too little time
left is skipped with a note. The record (``<out>/<card>-gpu-check.json``, rewritten after every step)
and a tarball of the run folders' small files (``<out>/<card>-runs.tar.gz``: what building the tables
needs elsewhere, no checkpoints or predictions) are written; the table of steps is printed last.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.experiments import grid_cells
from mlsearch.io import atomic_write, read_json, write_json
from mlsearch.paths import run_dir
from mlsearch.runinfo import git_commit, package_version
from mlsearch.tools.bench import CONFIGS
from mlsearch.tools.bench import card_slug as slug

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEADLINE = 480.0
BENCH_CAP = 150.0  # seconds the bench step may take in all
BENCH_TAIL = 60.0  # of which the last are left for a row started just before bench's own budget
TESTS_CAP = 90.0
#: Below this many seconds left a step is skipped rather than started (it could not finish).
MIN_LEFT = {"gpu-tests": 20.0, "bench": 30.0, "cell": 20.0, "grid": 20.0}
#: What goes into the runs tarball: the small files that tables, figures and the report are built from.
SMALL_SUFFIXES = (".json", ".csv", ".md", ".txt")
SKIPPED_DIRS = ("checkpoints", "tokenizers")
MAX_FILE_BYTES = 1_000_000
TAIL_LINES = 30
KILL_GRACE = 15.0


def card_slug() -> str:
    """The CUDA device's name as a slug (``nvidia-h200``), or ``cpu``; the same names bench uses."""
    import torch

    return slug(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def gpu_test_files() -> list[Path]:
    """Test files that hold ``gpu``-marked tests: only they are collected, so test modules needing
    packages a GPU machine may lack (papermill, nbval) are never imported."""
    return sorted(p for p in (ROOT / "tests").glob("test_*.py") if "mark.gpu" in p.read_text(encoding="utf-8"))


def python_m(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def shown(cmd: list[str]) -> str:
    """A command as it would be typed (``python`` for this interpreter)."""
    return " ".join(["python" if i == 0 else shlex.quote(str(a)) for i, a in enumerate(cmd)])


# --------------------------------------------------------------------------- steps


@dataclass
class Step:
    """One step: how to build its command from the seconds it is allowed, and how to read its result."""

    name: str
    what: str
    #: The command, given the seconds this step may take (its timeout: its cap or what is left).
    command: Callable[[float], list[str]]
    #: The most seconds it may take; None: whatever is left of the deadline.
    cap: float | None
    #: How the command's time allowance is described in a dry run.
    allowance: str
    #: Set when the step cannot run here at all (no CUDA, no pytest, done earlier).
    skip: str | None = None
    cwd: Path | None = None
    #: Reads the key figure (and details) once the command has run.
    read: Callable[[Step, dict[str, Any]], None] | None = None
    #: Filled in before the command runs (e.g. the grid's budget).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything gpu-check will do, resolved before anything runs (what ``--dry-run`` prints)."""

    cfg: RunConfig
    card: str
    cuda: bool
    deadline: float
    out: Path
    results_dir: str
    steps: list[Step]

    @property
    def record_path(self) -> Path:
        return self.out / f"{self.card}-gpu-check.json"

    @property
    def tarball_path(self) -> Path:
        return self.out / f"{self.card}-runs.tar.gz"

    @property
    def results_root(self) -> Path:
        return Path(self.results_dir) / self.cfg.data.source / self.cfg.profile


def _largest_cell(cfg: RunConfig) -> tuple[list[str], int]:
    return list(cfg.grid.languages), int(cfg.grid.seeds[0])


def _cell_run_dir(cfg: RunConfig) -> Path:
    import dataclasses

    langs, seed = _largest_cell(cfg)
    return run_dir(dataclasses.replace(cfg, languages=langs, seed=seed, kind="method"))


def make_plan(args: argparse.Namespace) -> Plan:
    """Resolve options into steps; a bad option is a ConfigError before anything runs."""
    if args.deadline <= 0:
        raise ConfigError(f"deadline must be positive, got {args.deadline:g}", "--deadline", "give seconds, e.g. 480")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {args.jobs}", "-j/--jobs", "use 1 or more")
    sizes = [s.strip() for s in args.bench_sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in CONFIGS]
    if unknown or not sizes:
        raise ConfigError(f"unknown bench size(s) {unknown or args.bench_sizes!r}", "--bench-sizes", f"use some of {list(CONFIGS)}")
    skip = [s.strip() for s in (args.skip or "").split(",") if s.strip()]
    if [s for s in skip if s not in MIN_LEFT]:
        raise ConfigError(f"unknown step(s) in --skip {args.skip!r}", "--skip", f"use some of {', '.join(MIN_LEFT)}")
    results_dir = args.results_dir
    cfg = load_config(profile_files(args.profile), {"results_dir": results_dir})
    cuda = cuda_available()
    card = card_slug()
    out = Path(args.out)
    sets = ["--set", f"results_dir={results_dir}"]
    langs, seed = _largest_cell(cfg)

    tests = gpu_test_files()
    tests_skip = None
    if not cuda:
        tests_skip = "no CUDA GPU"
    elif importlib.util.find_spec("pytest") is None:
        tests_skip = "pytest is not importable (install it to run the gpu tests)"
    elif not tests:
        tests_skip = "no gpu-marked tests under tests/"
    steps = [
        Step("gpu-tests", "the gpu-marked tests",
             lambda _s: python_m("pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *(str(t.relative_to(ROOT)) for t in tests)),
             TESTS_CAP, f"at most {TESTS_CAP:.0f} s", skip=tests_skip, cwd=ROOT, read=_read_pytest),
        Step("bench", f"training-step throughput, sizes {','.join(sizes)}",
             lambda s: python_m("mlsearch", "bench", "--configs", ",".join(sizes), "--out", str(out),
                                "--budget", f"{max(s - BENCH_TAIL, 1.0):.0f}"),
             BENCH_CAP, f"at most {BENCH_CAP:.0f} s; rows start within the first {BENCH_CAP - BENCH_TAIL:.0f}",
             read=_read_bench),
        Step("cell", f"one run of the largest cell: {'+'.join(langs)}, seed {seed}, profile {cfg.profile}",
             lambda _s: python_m("mlsearch", "train", "--profile", args.profile, *sets,
                                 "--set", f"languages=[{','.join(langs)}]", "--set", f"seed={seed}"),
             None, "what is left", read=_read_cell),
        Step("grid", f"the {cfg.profile} grid, trained inline, as far as the deadline allows",
             lambda s: python_m("mlsearch", "grid", "--profile", args.profile, *sets, "--inline", "--train-only",
                                *(["-j", str(args.jobs)] if args.jobs else []), "--budget", "{budget}"),
             None, "what is left; cells start only within it less one cell's time", read=_read_grid),
    ]
    done = _cell_run_dir(cfg) / "metrics.json"
    if done.is_file():
        steps[2].skip = f"complete from an earlier run ({done.parent}): figures are that run's"
    for step in steps:
        if step.name in skip:
            step.skip = "--skip"
    return Plan(cfg, card, cuda, args.deadline, out, results_dir, steps)


# --------------------------------------------------------------------------- reading results


def _read_pytest(step: Step, rec: dict[str, Any]) -> None:
    summary = next((ln.strip("= ").strip() for ln in reversed(rec["output_tail"]) if re.search(r"\b(passed|failed|skipped|error|deselected)\b", ln)), None)
    rec["key"] = summary or "no pytest summary"


def _read_bench(step: Step, rec: dict[str, Any]) -> None:
    path = Path(step.extra["bench_json"])
    if not path.is_file() or path.stat().st_mtime_ns == step.extra.get("bench_mtime"):
        rec["key"] = "no bench result written"
        return
    res = read_json(path)
    rec["details"] = {k: res.get(k) for k in ("config", "mode", "batch", "pairs_per_s", "reference_pairs_per_s", "tflops", "peak_tflops")}
    rec["details"]["rows"] = len(res.get("rows", []))
    rec["details"]["rows_failed"] = sum(1 for r in res.get("rows", []) if r.get("error"))
    if res.get("pairs_per_s"):
        ref = res.get("reference_pairs_per_s")
        ratio = f", {res['pairs_per_s'] / ref:.2f}× fp32" if ref and res["mode"] != "fp32" else ""
        rec["key"] = f"{res['config']} {res['mode']}@{res['batch']}: {res['pairs_per_s']:,.0f} pairs/s{ratio}"
    else:
        rec["key"] = "no row measured"


def _read_cell(step: Step, rec: dict[str, Any]) -> None:
    d = Path(step.extra["run_dir"])
    if not (d / "metrics.json").is_file():
        rec["key"] = "run not complete"
        return
    info, metrics = read_json(d / "run_info.json"), read_json(d / "metrics.json")
    f1s = [m["f1"] for m in metrics["eval"].values() if m.get("f1") is not None]
    f1 = sum(f1s) / len(f1s) if f1s else None
    rec["details"] = {"run_dir": str(d), "train_seconds": info.get("train_seconds"),
                      "pairs_per_second": info.get("pairs_per_second"), "f1_mean": f1, "device": info.get("device")}
    parts = [f"train {info['train_seconds']:.1f} s" if info.get("train_seconds") is not None else None,
             f"{info['pairs_per_second']:,.0f} pairs/s" if info.get("pairs_per_second") else None,
             f"F1 {f1:.3f}" if f1 is not None else None]
    rec["key"] = ", ".join(p for p in parts if p)


def grid_progress(cfg: RunConfig) -> dict[str, int]:
    """Complete runs and cells of ``cfg``'s grid, read from the run folders (so also after a kill)."""
    cells = grid_cells(cfg)
    return {"runs_done": sum(len(c.seeds) - len(c.pending_seeds()) for c in cells), "runs": sum(len(c.seeds) for c in cells),
            "cells_done": sum(c.complete() for c in cells), "cells": len(cells)}


def _read_grid(step: Step, rec: dict[str, Any]) -> None:
    p = grid_progress(step.extra["cfg"])
    rec["details"] = {**p, "budget_s": step.extra.get("budget"), "runs_done_before": step.extra.get("before", {}).get("runs_done")}
    rec["key"] = f"{p['runs_done']}/{p['runs']} runs, {p['cells_done']}/{p['cells']} cells complete"


# --------------------------------------------------------------------------- running


def _env() -> dict[str, str]:
    """The package importable from the checkout (no install needed) and output not held back."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


def run_command(cmd: list[str], timeout: float, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` in its own process group, echoing its output; stop the whole group at ``timeout``.

    Returns ``returncode``, ``timed_out`` and the last lines of output (progress-bar redraws collapsed).
    """
    lines: list[str] = []
    # a process group of its own (to stop it whole) but not a session of its own: whatever stops
    # gpu-check's session (a job's time limit, a closed terminal) stops the step too
    group: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1, **group)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n").split("\r")[-1])
            del lines[:-TAIL_LINES]

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
    except BaseException:
        _stop(proc)
        raise
    reader.join(timeout=5)
    return {"returncode": proc.returncode, "timed_out": timed_out, "output_tail": list(lines)}


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the step's process group (workers too), then SIGKILL whatever of it is left once the
    step's own process has ended or a grace period has passed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _grid_budget(left: float, cell_seconds: float | None, seeds: int) -> float:
    """Seconds within which the grid may start cells: what is left, less the time one more cell may
    take once started (its seeds, each about as long as the timed cell), at most half of what is left."""
    reserve = left / 4 if cell_seconds is None else min(cell_seconds * seeds, left / 2)
    return max(left - reserve, 1.0)


def run_plan(plan: Plan, record: dict[str, Any], t0: float | None = None) -> list[dict[str, Any]]:
    """Run every step under the deadline, counted from ``t0`` (default: now); the record is rewritten after each step."""
    t0 = time.perf_counter() if t0 is None else t0
    cell_seconds: float | None = None
    for step in plan.steps:
        left = plan.deadline - (time.perf_counter() - t0)
        rec: dict[str, Any] = {"step": step.name, "what": step.what, "status": "skipped", "seconds": 0.0, "key": "", "note": None}
        record["steps"].append(rec)
        if step.name == "cell":
            step.extra["run_dir"] = str(_cell_run_dir(plan.cfg))
        if step.skip:
            rec["note"] = step.skip
            if step.name == "cell":
                _read(step, rec)  # the earlier run's figures
                cell_seconds = (rec.get("details") or {}).get("train_seconds")
            _print_status(rec)
            write_json(plan.record_path, record)
            continue
        if left < MIN_LEFT[step.name]:
            rec["note"] = f"only {max(left, 0):.0f} s of the {plan.deadline:.0f} s deadline left (needs {MIN_LEFT[step.name]:.0f})"
            _print_status(rec)
            write_json(plan.record_path, record)
            continue
        timeout = left if step.cap is None else min(step.cap, left)
        cmd = step.command(timeout)
        if step.name == "bench":
            bench_json = plan.out / f"{plan.card}.json"
            step.extra |= {"bench_json": str(bench_json), "bench_mtime": bench_json.stat().st_mtime_ns if bench_json.is_file() else None}
        if step.name == "grid":
            budget = _grid_budget(left, cell_seconds, len(plan.cfg.grid.seeds))
            step.extra |= {"budget": round(budget), "cfg": plan.cfg}
            step.extra["before"] = grid_progress(step.extra["cfg"])
            cmd = [c.replace("{budget}", f"{budget:.0f}") for c in cmd]
        rec |= {"command": shown(cmd), "timeout_s": round(timeout, 1)}
        print(f"\n=== gpu-check {step.name}: {step.what} (at most {timeout:.0f} s)\n$ {shown(cmd)}", flush=True)
        start = time.perf_counter()
        try:
            res = run_command(cmd, timeout, step.cwd)
        except BaseException:  # Ctrl-C or SIGTERM: the step was stopped; keep the record of the others
            rec |= {"status": "interrupted", "seconds": round(time.perf_counter() - start, 2)}
            write_json(plan.record_path, record)
            raise
        rec["seconds"] = round(time.perf_counter() - start, 2)
        rec |= {"returncode": res["returncode"], "output_tail": res["output_tail"]}
        if res["timed_out"]:
            rec |= {"status": "timeout", "note": f"stopped at its {timeout:.0f} s limit"}
        else:
            rec["status"] = "ok" if res["returncode"] == 0 else "failed"
        _read(step, rec)
        if step.name == "cell" and rec["status"] == "ok":
            cell_seconds = rec["seconds"]
        _print_status(rec)
        write_json(plan.record_path, record)
    return record["steps"]


def _read(step: Step, rec: dict[str, Any]) -> None:
    """The step's key figure into ``rec``; a result that cannot be read is recorded, never the end of the check."""
    if step.read is None:
        return
    try:
        step.read(step, rec)
    except Exception as exc:
        rec["key"] = f"result unreadable: {type(exc).__name__}: {exc}"


def _print_status(rec: dict[str, Any]) -> None:
    text = " — ".join(filter(None, [rec["key"], rec.get("note")]))
    print(f"=== gpu-check {rec['step']}: {rec['status']} ({rec['seconds']:.1f} s){' ' + text if text else ''}", flush=True)


# --------------------------------------------------------------------------- results


def small_files(root: Path) -> list[Path]:
    """The files under ``root`` worth bringing back: JSON, CSV, Markdown and text up to 1 MB, nothing
    under checkpoints/ or tokenizers/, no hidden names (locks, temporary files of atomic writes)."""
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (not p.is_file() or p.is_symlink() or p.suffix not in SMALL_SUFFIXES or any(part.startswith(".") for part in rel.parts)
                or any(part in SKIPPED_DIRS for part in rel.parts[:-1]) or p.stat().st_size > MAX_FILE_BYTES):
            continue
        out.append(p)
    return out


def write_tarball(path: Path, results_root: Path, results_dir: str) -> list[str]:
    """Pack the small files of ``results_root``, named from the results folder down (``results/benchmark/full/…``),
    so unpacking in the folder that holds the results folder puts them in place. Returns the names."""
    base = Path(results_dir).resolve()
    files = small_files(results_root)
    names = [str(Path(base.name) / p.resolve().relative_to(base)) for p in files]

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for p, name in zip(files, names, strict=True):
                tar.add(p, arcname=name, recursive=False)

    atomic_write(path, write)
    return names


def table(plan: Plan, steps: list[dict[str, Any]], wall: float) -> str:
    lines = [f"gpu-check on {plan.card} (profile {plan.cfg.profile}, deadline {plan.deadline:.0f} s): {wall:.0f} s",
             "", "| step | status | seconds | key figure |", "|---|---|---:|---|"]
    for r in steps:
        key = r["key"] or (r.get("note") or "")
        lines.append(f"| {r['step']} | {r['status']} | {r['seconds']:.1f} | {key} |")
    return "\n".join(lines) + "\n"


def dry_run(plan: Plan) -> str:
    gpu = "CUDA GPU" if plan.cuda else "no CUDA GPU here: a real run stops unless --allow-cpu"
    lines = [f"gpu-check dry run: nothing runs. Deadline {plan.deadline:.0f} s from the start; profile {plan.cfg.profile}; "
             f"card {plan.card} ({gpu}).", ""]
    for i, s in enumerate(plan.steps, 1):
        budget = "LEFT-RESERVE" if s.name == "grid" else None
        cmd = s.command(s.cap or plan.deadline)
        if budget:
            cmd = [c.replace("{budget}", budget) for c in cmd]
        state = f"skipped: {s.skip}" if s.skip else f"{s.allowance}; skipped if under {MIN_LEFT[s.name]:.0f} s is left"
        lines += [f"{i}. {s.name}: {s.what} ({state})", f"   $ {shown(cmd)}"]
    lines += ["", "   RESERVE: the cell step's seconds × the grid's seeds per cell, at most half of what is left "
              "(a cell started just before the budget runs to its end).",
              "", f"Writes {plan.record_path} (after every step) and {plan.tarball_path} (small files of {plan.results_root});",
              f"bench writes {plan.out / (plan.card + '.json')} and {plan.out / (plan.card + '.md')}."]
    return "\n".join(lines) + "\n"


def base_record(plan: Plan, commit: str | None) -> dict[str, Any]:
    import torch

    return {
        "card": plan.card,
        "device": torch.cuda.get_device_name(0) if plan.cuda else f"cpu ({platform.processor() or platform.machine()})",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "mlsearch": package_version(),
        "git_commit": git_commit() or commit,
        "profile": plan.cfg.profile,
        "deadline_s": plan.deadline,
        "results_root": str(plan.results_root),
        "command": "python -m mlsearch " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if Path(sys.argv[0]).name in ("__main__.py", "mlsearch") else None,
        "steps": [],
    }


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM as an exception, so the running step's process group is stopped too (run_command)."""
    raise SystemExit(128 + signum)


def main(args: argparse.Namespace) -> int:
    """gpu-check from parsed options; 0 when no step failed or ran out of time, else 1."""
    start = time.perf_counter()  # the deadline counts from here
    plan = make_plan(args)
    if args.dry_run:
        print(dry_run(plan), end="")
        return 0
    if not plan.cuda and not args.allow_cpu:
        raise MlsearchError("no CUDA GPU (torch.cuda.is_available() is false)", "gpu-check",
                            "run it on a GPU machine; --dry-run lists what would run, --allow-cpu runs it on CPU")
    record = base_record(plan, args.commit)
    write_json(plan.record_path, record)
    main_thread = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        steps = run_plan(plan, record, start)
    finally:  # also when stopped (Ctrl-C, SIGTERM): the runs done so far are packed
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        names = write_tarball(plan.tarball_path, plan.results_root, plan.results_dir)
        record |= {"wall_s": round(time.perf_counter() - start, 2), "tarball": str(plan.tarball_path), "tarball_files": len(names)}
        write_json(plan.record_path, record)
    print(f"\nwrote {plan.record_path} and {plan.tarball_path} ({len(names)} files)\n")
    print(table(plan, steps, record["wall_s"]), end="")
    return 1 if any(r["status"] in ("failed", "timeout") for r in steps) else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE, metavar="SECONDS",
                   help=f"total seconds for all steps; each step gets at most what is left (default {DEFAULT_DEADLINE:.0f})")
    p.add_argument("--profile", default="full", help="profile of the cell and grid steps (default full)")
    p.add_argument("--bench-sizes", default="small,base", help="bench configs (default small,base; tiny for a CPU check)")
    p.add_argument("--out", default="results/perf", help="folder for the record, the runs tarball and bench's files (default results/perf)")
    p.add_argument("--results-dir", default="results", help="results folder the cell and grid train into (default results)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="cells the grid runs at once (default: the grid's)")
    p.add_argument("--skip", metavar="STEP[,STEP]", help="steps not to run: gpu-tests, bench, cell, grid (e.g. bench on a second session)")
    p.add_argument("--commit", help="git commit to record when the checkout has no .git (a copied working tree)")
    p.add_argument("--allow-cpu", action="store_true", help="run the steps on CPU when there is no CUDA GPU (gpu tests skipped)")
    p.add_argument("--dry-run", action="store_true", help="list the steps, commands and time limits; run nothing")
