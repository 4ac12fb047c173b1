"""The one cell executor: a grid or a study declares its cells, :func:`execute` runs them.

A :class:`Cell` is one call of :func:`mlsearch.run.train_set` (a model kind on a language set, every
seed), executed as ``notebooks/02_train.ipynb`` with papermill (one notebook per cell keeps
papermill's per-notebook cost to one per cell) or, with ``--inline``, in a worker process. A
:class:`Plan` is what both ``run_grid`` and ``run_study`` declare: the cells, how to prepare the
data once, and the analysis to run once every cell is complete. :func:`execute` does the rest for
both: device and jobs, shards, skipping complete cells, workers with one progress bar and a time
budget, the timing record, the analysis, the results README and the failures.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.io import read_json, write_json
from mlsearch.report import update_results_readme
from mlsearch.run import train_set

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TRAIN_NOTEBOOK = NOTEBOOKS / "02_train.ipynb"


@dataclasses.dataclass
class Cell:
    """One cell: a :func:`mlsearch.run.train_set` call (``params``, notebook 02's parameters), the run
    folders of its seeds, where its executed notebook goes, and its relative cost (for shards)."""

    name: str
    params: dict[str, Any]
    run_dirs: list[Path]
    notebook: Path
    cost: float = 1.0

    @property
    def languages(self) -> list[str]:
        return self.params["languages"]

    @property
    def seeds(self) -> list[int]:
        return self.params["seeds"]

    @property
    def kind(self) -> str:
        return self.params.get("kind", "method")

    @property
    def eval_languages(self) -> list[str]:
        """Evaluation languages when not the training languages (zero-shot cells)."""
        return list(self.params.get("overrides", {}).get("eval.languages", []))

    def pending_seeds(self) -> list[int]:
        """Seeds whose run folder has no ``metrics.json`` (written last, so its presence = run complete)."""
        return [s for s, d in zip(self.seeds, self.run_dirs, strict=True) if not (d / "metrics.json").is_file()]

    def complete(self) -> bool:
        return not self.pending_seeds()


@dataclasses.dataclass
class Plan:
    """What a grid or study declares to :func:`execute`."""

    what: str  #: "grid" or "study": named in messages and errors
    label: str  #: the progress bar's name, e.g. "grid quick"
    cells: list[Cell]
    root: Path  #: where the report goes
    results_dir: Path  #: whose README lists the result sets
    timing_file: Path
    timing: dict[str, Any]  #: the head of the timing record (profile, source, kinds or sweeps, seeds)
    prepare: Callable[[], None]  #: before the workers start: build (and cache) the dataset once
    analyse: Callable[[], float]  #: tables, figures, report once every cell is complete; returns seconds
    jobs: int = 0  #: 0: one per GPU when there are several, else ``default_jobs``
    default_jobs: int = 1
    is_complete: Callable[[Cell], bool] = Cell.complete  #: may also refuse a run trained with other settings


#: Papermill settings for every grid notebook: no per-cell progress bars or log echo (they would
#: interleave across parallel cells); the grid's own bar reports progress.
#: Each kernel first runs :func:`mlsearch.kernels.die_with_parent` (see there why), and logs only errors: otherwise
#: every kernel warns that its local TCP transport is unencrypted, one line per cell in the grid's log.
PAPERMILL_KWARGS: dict[str, Any] = {
    "kernel_name": "python3",
    "progress_bar": False,
    "log_output": False,
    "extra_arguments": ["--IPKernelApp.exec_lines=import mlsearch.kernels as m; m.die_with_parent()",
                        "--IPKernelApp.log_level=ERROR"],
}


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the cells of a grid or study run (the ``grid``/``study`` command-line flags)."""

    #: Train each cell by calling :func:`train_set` in a worker process instead of executing
    #: notebook 02 with papermill: no executed notebook per cell and no kernel start, same runs.
    inline: bool = False
    #: Stop after training: no tables, figures or report (a later run without it only analyses).
    train_only: bool = False
    #: Seconds after which no further cell is started; the cells left stay for a rerun to continue.
    budget: float | None = None
    #: ``(k, n)``: run only shard k of n (1-based) of the cells, for n independent jobs into one results
    #: folder; implies ``train_only`` (a final run without it builds the tables).
    shard: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget <= 0:
            raise ConfigError(f"budget must be positive, got {self.budget:g}", "--budget", "give seconds, e.g. 480")
        if self.shard is not None:
            k, n = self.shard
            if not 1 <= k <= n:
                raise ConfigError(f"shard {k}/{n} is not one of 1/{n} … {n}/{n}", "--shard", "write K/N with 1 <= K <= N")
            object.__setattr__(self, "train_only", True)  # frozen dataclass


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``; anything else is a ConfigError."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"shard {text!r} is not K/N", "--shard", "write e.g. 1/4 for the first of four jobs") from None
    RunOptions(shard=(k, n))  # range check
    return k, n


def shard_of(items: list, shard: tuple[int, int] | None, cost) -> list:
    """The items of shard ``k`` of ``n`` (all items when ``shard`` is None), in their original order.

    Deterministic and independent of progress: every item (complete or not) is assigned, the most
    costly first, to the shard with the least cost so far (ties: the lower shard), so the n jobs of one
    grid agree on the partition without talking to each other and get similar amounts of work.
    """
    if shard is None:
        return list(items)
    k, n = shard
    loads, owner = [0.0] * n, {}
    for i in sorted(range(len(items)), key=lambda i: (-cost(items[i]), i)):
        j = min(range(n), key=lambda s: (loads[s], s))
        loads[j] += cost(items[i])
        owner[i] = j
    return [item for i, item in enumerate(items) if owner[i] == k - 1]


def shard_suffix(options: RunOptions) -> str:
    """``.shard2of4`` for a sharded run's timing record (each job writes its own), else ``""``."""
    return f".shard{options.shard[0]}of{options.shard[1]}" if options.shard else ""




def _device_summary() -> tuple[str, int]:
    """``("CUDA", n_gpus)`` or ``("CPU", 0)``."""
    if torch.cuda.is_available():
        return "CUDA", torch.cuda.device_count()
    return "CPU", 0




# ----------------------------------------------------------------------------- workers
def _init_worker(counter: Any, gpus: int) -> None:
    """Pin each worker process to one GPU (round robin): its notebook kernels inherit the variable."""
    if gpus > 1:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)


#: What jupyter_client raises when a kernel dies during start-up, before any cell ran.
KERNEL_START_FAILURE = "Kernel died before replying to kernel_info"
KERNEL_START_ATTEMPTS = 3


def execute_notebook(source: Path, target: Path, params: dict[str, Any], cwd: str | None = None) -> float:
    """Execute ``source`` with papermill into ``target`` (kept on failure); returns wall seconds.

    A parameter the notebook's parameters cell does not declare is a ConfigError: papermill would
    only warn and run the notebook with its defaults, silently ignoring the value.
    """
    try:
        import papermill as pm
    except ImportError:
        raise MlsearchError(
            "papermill is not installed: notebooks cannot be executed", str(source),
            "install the project (pip install -c constraints.txt -e .), or train with --inline --train-only "
            "and build tables and figures where papermill is installed",
        ) from None

    declared = pm.inspect_notebook(str(source))
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ConfigError(
            f"notebook parameter(s) {unknown} are not in the parameters cell",
            str(source),
            f"pass only declared parameters: {sorted(declared)}",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            pm.execute_notebook(str(source), str(target), parameters=params, cwd=cwd or os.getcwd(), **PAPERMILL_KWARGS)
            break
        except RuntimeError as exc:
            # Kernels started at the same moment can pick the same free TCP port; the loser dies
            # before running any cell, so starting it again is safe.
            if KERNEL_START_FAILURE not in str(exc) or attempt == KERNEL_START_ATTEMPTS - 1:
                raise
    return time.perf_counter() - start


def _run_cell(name: str, source: str, notebook: str, params: dict[str, Any], cwd: str, inline: bool = False) -> dict[str, Any]:
    """Worker entry: never raises, so one failing cell cannot stop the others.

    The result's ``notebook`` is where to look when the cell fails: the executed notebook, or with
    ``inline`` the cell's folder (its runs); an inline failure also keeps the traceback.
    """
    start = time.perf_counter()
    where = str(Path(notebook).parent) if inline else notebook
    try:
        if inline:
            train_set(**params, progress=False)
        else:
            execute_notebook(Path(source), Path(notebook), params, cwd)
        return {"name": name, "ok": True, "seconds": time.perf_counter() - start, "notebook": where}
    except Exception as exc:  # reported per cell at the end of the grid
        ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        first = (str(evalue).strip().splitlines() or [""])[0]
        out = {"name": name, "ok": False, "seconds": time.perf_counter() - start, "notebook": where, "error": f"{ename}: {first}"}
        if inline:
            out["traceback"] = traceback.format_exc()
        return out




def train_seconds(run_dirs: list[Path]) -> float:
    """Sum of the training wall time the runs in ``run_dirs`` recorded (0 where unknown)."""
    total = 0.0
    for d in run_dirs:
        info = d / "run_info.json"
        if info.is_file():
            total += float(read_json(info).get("train_seconds", 0.0))
    return total




def _grid_command() -> str:
    argv = sys.argv[1:] if Path(sys.argv[0]).name in ("__main__.py", "mlsearch") else sys.argv
    return "python -m mlsearch " + " ".join(shlex.quote(a) for a in argv)




def run_cells(specs: list[tuple], jobs: int, gpus: int, desc: str,
              options: RunOptions | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Execute cells (``_run_cell`` argument tuples), ``jobs`` at a time, one GPU per worker when
    there are several, with one progress bar. Returns one result dict per cell run (never raises
    for a failed cell: the caller reports them) and the names of the cells not started because
    ``options.budget`` had passed."""
    options = options or RunOptions()
    start = time.perf_counter()
    queue = list(specs)

    def may_start() -> bool:
        return bool(queue) and (options.budget is None or time.perf_counter() - start < options.budget)

    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(specs), desc=desc, unit="cell", disable=not specs)
    if jobs == 1:
        while may_start():
            spec = queue.pop(0)
            bar.set_postfix_str(spec[0])
            results.append(_run_cell(*spec, options.inline))
            bar.update()
    else:
        ctx = mp.get_context("spawn")  # no CUDA state inherited by forking
        counter = ctx.Value("i", 0)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(counter, gpus)) as pool:
            pending: set[Future] = set()
            try:
                while True:
                    while len(pending) < jobs and may_start():  # submitted as workers free up: the budget is checked per cell
                        pending.add(pool.submit(_run_cell, *queue.pop(0), options.inline))
                    if not pending:
                        break
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        results.append(fut.result())
                        bar.update()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    bar.close()
    not_started = [spec[0] for spec in queue]
    if not_started:
        print(f"{desc}: {len(not_started)} cell(s) not started within the budget of {options.budget:g} s; "
              "run the same command again to continue (complete cells are skipped)")
    return results, not_started




def analysis_due(failed: list[dict[str, Any]], not_started: list[str], options: RunOptions) -> bool:
    """Whether a grid or study goes on to tables, figures and report: only once every cell is complete,
    and not with ``--train-only`` (then it says how to get them)."""
    if options.shard and not failed:
        print(f"shard {options.shard[0]}/{options.shard[1]} done: once every shard is, run the same command "
              "without --shard for the tables, figures and report (it trains nothing that is complete)")
    elif options.train_only and not failed:
        print("train only: run the same command without --train-only for the tables, figures and report")
    return not failed and not not_started and not options.train_only


def raise_failures(results: list[dict[str, Any]], what: str) -> None:
    """Print each failed cell (its error and executed notebook) and raise one MlsearchError naming them all."""
    failed = [r for r in results if not r["ok"]]
    if not failed:
        return
    for r in failed:
        if r.get("traceback"):
            print(r["traceback"], file=sys.stderr)
        print(f"FAILED {r['name']}: {r['error']}\n  see {r['notebook']}", file=sys.stderr)
    raise MlsearchError(
        f"{len(failed)} of {len(results)} {what} cells failed: {', '.join(r['name'] for r in failed)}",
        failed[0]["notebook"],
        f"read the executed notebook(s) or traceback(s) above; rerunning the {what} retries only incomplete cells",
    )


def run_record(n_cells: int, results: list[dict[str, Any]], per_cell: list[dict[str, Any]], jobs: int, device: str,
               gpus: int, wall_start: float, not_started: list[str] | None = None,
               options: RunOptions | None = None) -> dict[str, Any]:
    """What every timing record holds: the command, cells run/skipped (complete before)/failed/not
    started (budget), machine, date, wall time and the median per-cell overhead (cell wall time minus
    the training time its runs recorded: kernel start, imports, data loading, plots)."""
    not_started, options = list(not_started or []), options or RunOptions()
    overheads = [c["seconds"] - c["train_seconds"] for c in per_cell if c["ok"] and c["train_seconds"] > 0]
    return {
        "command": _grid_command(),
        "cells": n_cells,
        "cells_run": len(results),
        "cells_skipped": n_cells - len(results) - len(not_started),
        "cells_failed": [r["name"] for r in results if not r["ok"]],
        "cells_not_started": not_started,
        "cells_done": [r["name"] for r in results if r["ok"]],
        "executor": "inline" if options.inline else "papermill",
        "jobs": jobs,
        "device": device,
        "gpus": gpus,
        "gpu_name": _gpu_name() if gpus else None,
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "notebook_overhead_seconds_median": round(statistics.median(overheads), 2) if overheads else None,
    }


PART_KEYS = ("date", "command", "device", "gpu_name", "machine", "jobs", "cells_run", "cells_failed", "cells_not_started",
             "cells_done", "wall_seconds")


def write_timing(path: Path, record: dict[str, Any], skipped: list[str] = ()) -> dict[str, Any]:
    """Write a timing record; returns the record kept.

    A run that trained nothing (it only re-analysed) keeps an earlier record. A run that built on
    the earlier record (it skipped, as complete, cells ``skipped`` that the record or one of its
    parts trained: a resumed, budgeted or extended grid or study) lists that record's summary under
    ``earlier_parts``, so the record covers every part's machine and time. Otherwise (nothing
    skipped, or only cells another command trained, such as the method cells that ``make
    baselines`` finds from ``make reproduce``) it starts a new record.
    """
    old = read_json(path) if path.is_file() else None
    if old is not None and not record["cells_run"]:
        return old
    if old is not None:
        parts = [*old.get("earlier_parts", []), {k: old.get(k) for k in PART_KEYS}]
        if set(skipped) & {c for p in parts for c in p.get("cells_done") or []}:
            record["earlier_parts"] = parts
    write_json(path, record)
    return record




def _gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def execute(plan: Plan, options: RunOptions | None = None, dry_run: bool = False) -> list[dict[str, Any]]:
    """Run the plan's incomplete cells, then (all complete, not ``train_only``) its analysis; write the
    timing record and the results README. Raises MlsearchError naming the failed cells, if any."""
    options = options or RunOptions()
    wall_start = time.perf_counter()
    device, gpus = _device_summary()
    jobs = plan.jobs or (gpus if gpus > 1 else plan.default_jobs)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", "-j/--jobs", "use 1 or more")
    cells = shard_of(plan.cells, options.shard, lambda c: c.cost)
    if options.shard:
        print(f"shard {options.shard[0]}/{options.shard[1]}: {len(cells)} of the {plan.what}'s cells")
    todo = [c for c in cells if not plan.is_complete(c)]
    seeds = len(plan.timing.get("seeds", [])) or "?"
    print(f"{plan.label} ({device}): {len(cells)} cells × {seeds} seeds, {len(cells) - len(todo)} complete → {plan.root}")
    if dry_run:
        for c in cells:
            print(f"  {'todo' if c in todo else 'done'}  {c.name}")
        return []
    if todo:
        plan.prepare()
    specs = [(c.name, str(TRAIN_NOTEBOOK), str(c.notebook), c.params, os.getcwd()) for c in todo]
    results, not_started = run_cells(specs, jobs, gpus, plan.label, options)
    by_name = {c.name: c for c in todo}
    per_cell = [{"cell": r["name"], "ok": r["ok"], "seconds": round(r["seconds"], 2),
                 "train_seconds": round(train_seconds(by_name[r["name"]].run_dirs), 2)} for r in results]
    failed = [r for r in results if not r["ok"]]
    analysis = plan.analyse() if analysis_due(failed, not_started, options) else None
    record = {**plan.timing, **run_record(len(cells), results, per_cell, jobs, device, gpus, wall_start, not_started, options),
              "analysis_seconds": None if analysis is None else round(analysis, 2), "per_cell": per_cell}
    timing_file = plan.timing_file.with_name(plan.timing_file.stem + shard_suffix(options) + plan.timing_file.suffix)
    write_timing(timing_file, record, [c.name for c in cells if c not in todo])  # nothing trained: the earlier record stays
    update_results_readme(plan.results_dir)
    print(f"{plan.label}: {len(results)} cells run, {len(cells) - len(todo)} skipped, {record['wall_seconds']:.0f} s")
    raise_failures(results, plan.what)
    if analysis is not None:
        print(f"report: {plan.root / 'report.html'}")
    return results
