"""The language grid: every language set trained for every seed, one papermill notebook per set.

``run_grid`` is what ``python -m mlsearch grid`` (and ``make reproduce``) runs:

1. build the dataset once (``load_dataset`` caches it) and write its card to ``<root>/data``;
2. execute ``notebooks/02_train.ipynb`` for every language set (largest first, ``jobs`` at a time),
   skipping sets whose every seed already has ``metrics.json`` — so an interrupted grid resumes;
3. execute ``notebooks/03_compare.ipynb`` (tables and figures) and ``04_embeddings.ipynb`` (embedding
   maps from the grid's runs) and render ``report.html`` from both;
4. write ``timing.json`` (``timing-baselines.json`` for other kinds) and refresh the provenance section of ``results/README.md``.

``<root>`` is ``<results_dir>/<source>/<profile>``: profiles and sources never share a folder.
One notebook per language set (not per run) keeps papermill's per-notebook cost (a kernel start,
imports, loading the cached dataset) to one per set. ``RunOptions`` (command-line flags) can run the
cells without notebooks (``--inline``: the same :func:`train_set` notebook 02 calls, in worker
processes; for machines without Jupyter), stop after training (``--train-only``) or stop starting
cells after a time budget (``--budget``), so a long grid or study can run in parts.
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
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.io import read_json, write_json
from mlsearch.paths import model_name, results_root, run_dir

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TRAIN_NOTEBOOK = NOTEBOOKS / "02_train.ipynb"
COMPARE_NOTEBOOK = NOTEBOOKS / "03_compare.ipynb"
EMBEDDINGS_NOTEBOOK = NOTEBOOKS / "04_embeddings.ipynb"
#: Papermill settings for every grid notebook: no per-cell progress bars or log echo (they would
#: interleave across parallel cells); the grid's own bar reports progress.
#: Each kernel first runs :func:`die_with_parent` (see there why), and logs only errors: otherwise
#: every kernel warns that its local TCP transport is unencrypted, one line per cell in the grid's log.
PAPERMILL_KWARGS: dict[str, Any] = {
    "kernel_name": "python3",
    "progress_bar": False,
    "log_output": False,
    "extra_arguments": ["--IPKernelApp.exec_lines=import mlsearch.experiments as m; m.die_with_parent()",
                        "--IPKernelApp.log_level=ERROR"],
}


def language_sets(languages: list[str], max_languages: int) -> list[list[str]]:
    """All non-empty subsets of ``languages`` with at most ``max_languages`` members.

    Smallest first, each subset in the order of ``languages``: 31 sets for five languages, 63 for six.
    """
    if max_languages < 1:
        raise ConfigError(f"max_languages must be at least 1, got {max_languages}", "grid.max_languages", "set 1 or more")
    top = min(max_languages, len(languages))
    return [list(c) for k in range(1, top + 1) for c in combinations(languages, k)]


@dataclasses.dataclass
class Cell:
    """One grid cell: a model kind and language set, all its seeds, and where its executed notebook goes."""

    languages: list[str]
    seeds: list[int]
    run_dirs: list[Path]
    notebook: Path
    kind: str = "method"
    #: Evaluation languages when not the training languages (zero-shot cells).
    eval_languages: list[str] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        name = model_name(self.languages) if self.kind == "method" else f"{self.kind}/{model_name(self.languages)}"
        return name + (f"→{model_name(self.eval_languages)}" if self.eval_languages else "")

    def pending_seeds(self) -> list[int]:
        """Seeds whose run folder has no ``metrics.json`` (written last, so its presence = run complete)."""
        return [s for s, d in zip(self.seeds, self.run_dirs, strict=True) if not (d / "metrics.json").is_file()]

    def complete(self) -> bool:
        return not self.pending_seeds()


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


def set_config(profile: str, results_dir: str, extra_params: list[str], languages: list[str], kind: str,
               overrides: dict[str, Any], seed: int) -> RunConfig:
    """The run config of one seed of a cell, from notebook 02's parameters."""
    fixed = {"results_dir": results_dir, "languages": list(languages), "kind": kind, "seed": seed}
    return load_config(profile_files(profile) + [Path(f) for f in extra_params], {**overrides, **fixed})


def train_set(profile: str, results_dir: str = "results", extra_params: list[str] | None = None,
              languages: list[str] | None = None, seeds: list[int] | None = None, kind: str = "method",
              overrides: dict[str, Any] | None = None, rerun: bool = False, progress: bool = True) -> dict[int, dict]:
    """Train one language set for every seed (a grid or study cell); returns each seed's metrics.

    What notebook 02 runs and what ``--inline`` cells run. A seed whose run folder already holds
    ``metrics.json`` is read back instead of retrained, unless ``rerun``.
    """
    extra_params, overrides = list(extra_params or []), dict(overrides or {})
    languages, seeds = list(languages or ["en"]), list(seeds or [0])
    ds = None
    metrics: dict[int, dict] = {}
    for seed in seeds:
        cfg = set_config(profile, results_dir, extra_params, languages, kind, overrides, seed)
        done = run_dir(cfg) / "metrics.json"
        if done.is_file() and not rerun:
            print(f"seed {seed}: complete, read from {done}")
            metrics[seed] = read_json(done)
            continue
        from mlsearch.data.load import load_dataset
        from mlsearch.train import train_and_evaluate

        ds = ds or load_dataset(cfg, progress=progress)  # the data does not depend on the training seed
        metrics[seed] = train_and_evaluate(cfg, dataset=ds, progress=progress)
    return metrics


def grid_kinds(cfg: RunConfig) -> list[str]:
    """The kinds a grid runs: ``grid.kinds``, or just ``kind`` when that is set to a non-method kind
    (so ``--set kind=tfidf`` runs the tfidf baseline's cells)."""
    from mlsearch.kinds import check_kinds

    return check_kinds([cfg.kind] if cfg.kind != "method" else list(cfg.grid.kinds))


def kind_language_sets(cfg: RunConfig, kind: str) -> list[list[str]]:
    """The language sets ``kind`` runs on: every set for the method; for a baseline or ablation the
    monolingual sets and/or the set of all grid languages, as its registry entry says."""
    from mlsearch.kinds import get_kind

    where = get_kind(kind).cells
    if where == "held_out":
        return [[lang for lang in cfg.grid.languages if lang != held] for held in cfg.grid.languages]
    if where == "all":
        return language_sets(cfg.grid.languages, cfg.grid.max_languages)
    sets = [[lang] for lang in cfg.grid.languages] if where in ("mono", "mono+full") else []
    if where in ("full", "mono+full") and list(cfg.grid.languages) not in sets:
        sets.append(list(cfg.grid.languages))
    return sets


def grid_cells(cfg: RunConfig) -> list[Cell]:
    """The grid's cells for ``cfg`` (its kinds, seeds and language pool), largest language set first.

    Largest first: the longest jobs start early, so parallel workers finish close together.
    """
    cells = []
    for kind in grid_kinds(cfg):
        for langs in kind_language_sets(cfg, kind):
            dirs = [run_dir(dataclasses.replace(cfg, languages=langs, seed=s, kind=kind)) for s in cfg.grid.seeds]
            held = [lang for lang in cfg.grid.languages if lang not in langs] if kind == "zeroshot" else []
            cells.append(Cell(langs, list(cfg.grid.seeds), dirs, dirs[0].parent / "02_train.ipynb", kind, held))
    return sorted(cells, key=lambda c: -len(c.languages))


def notebook_params(cfg: RunConfig, files: list[Path], overrides: dict[str, Any]) -> dict[str, Any]:
    """The parameters that make a notebook rebuild exactly ``cfg``.

    Notebooks load ``profile_files(profile) + extra_params`` with ``overrides``; the grid's files are
    split into a profile and extra files accordingly, and the result is checked to give ``cfg`` back.
    """
    files = [Path(f) for f in files]
    profile, extra = cfg.profile, files
    if len(files) >= 2 and files[0].name == "base.yaml":
        try:
            if [p.resolve() for p in profile_files(files[1].stem)] == [p.resolve() for p in files[:2]]:
                profile, extra = files[1].stem, files[2:]
        except ConfigError:
            pass
    overrides = {k: v for k, v in overrides.items() if k != "results_dir"}
    params = {
        "profile": profile,
        "results_dir": cfg.results_dir,
        "extra_params": [str(f) for f in extra],
        "overrides": overrides,
    }
    rebuilt = load_config(profile_files(profile) + extra, {**overrides, "results_dir": cfg.results_dir})
    if rebuilt.to_dict() != cfg.to_dict():
        raise ConfigError(
            "the grid's params files cannot be passed to its notebooks",
            " ".join(str(f) for f in files),
            "name the profile with --profile and add other files with --params",
        )
    return params


def _device_summary() -> tuple[str, int]:
    """``("CUDA", n_gpus)`` or ``("CPU", 0)``; imports torch only here."""
    import torch

    if torch.cuda.is_available():
        return "CUDA", torch.cuda.device_count()
    return "CPU", 0


# ----------------------------------------------------------------------------- workers
_GPU: dict[str, Any] = {}


def _init_worker(counter: Any, gpus: int) -> None:
    """Pin each worker process to one GPU (round robin): its notebook kernels inherit the variable."""
    if gpus > 1:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)


def die_with_parent() -> None:
    """In a notebook kernel: ask Linux to SIGKILL this kernel when the process that started it dies.

    jupyter_client starts kernels in a session of their own, so ``kill -9`` of a grid's process
    group misses them; left alone, a kernel notices its parent is gone only at its next poll (up to a
    second later) and meanwhile keeps training and writing into the run folder that a rerun of the
    grid is about to resume. A no-op outside Linux or when not started by a kernel manager.
    """
    parent = int(os.environ.get("JPY_PARENT_PID") or 0)
    if not sys.platform.startswith("linux") or parent <= 1:
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


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
            import traceback

            out["traceback"] = traceback.format_exc()
        return out


def _cell_params(params: dict[str, Any], cell: Cell) -> dict[str, Any]:
    """The 02_train parameters of one cell: its languages, seeds, kind (and zero-shot evaluation languages)."""
    out = {**params, "languages": cell.languages, "seeds": cell.seeds, "kind": cell.kind}
    if cell.eval_languages:
        out["overrides"] = {**params["overrides"], "eval.languages": cell.eval_languages}
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
    from tqdm.auto import tqdm

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


# ----------------------------------------------------------------------------- the grid
def run_grid(cfg: RunConfig, files: list[Path], overrides: dict[str, Any], jobs: int | None,
             options: RunOptions | None = None) -> Path:
    """Run the whole grid for ``cfg``'s profile and source; returns the results root.

    Raises MlsearchError naming the failed cells (and their executed notebooks) if any failed.
    Tables, figures and the report follow only when every cell is complete and not ``train_only``.
    """
    options = options or RunOptions()

    from mlsearch.data.card import write_card
    from mlsearch.data.load import load_dataset

    wall_start = time.perf_counter()
    root = results_root(cfg)
    params = notebook_params(cfg, files, overrides)
    device, gpus = _device_summary()
    jobs = jobs or (gpus if gpus > 1 else cfg.grid.jobs)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", "-j/--jobs or grid.jobs", "use 1 or more")
    cells = shard_of(grid_cells(cfg), options.shard, lambda c: len(c.languages) * len(c.seeds))
    if options.shard:
        print(f"shard {options.shard[0]}/{options.shard[1]}: {len(cells)} of the grid's cells")
    print(f"profile {cfg.profile} ({device}) — {len(cells)} cells ({', '.join(grid_kinds(cfg))}) × {len(cfg.grid.seeds)} seeds → {root}")

    ds = load_dataset(cfg, progress=True)
    write_card(ds, root / "data")
    del ds

    todo = []
    for cell in cells:
        if cell.complete():
            print(f"skip {cell.name}: all {len(cell.seeds)} seeds complete")
        else:
            todo.append(cell)
    cwd = os.getcwd()
    specs = [
        (c.name, str(TRAIN_NOTEBOOK), str(c.notebook), _cell_params(params, c), cwd)
        for c in todo
    ]
    results, not_started = run_cells(specs, jobs, gpus, f"grid {cfg.profile}", options)

    failed = [r for r in results if not r["ok"]]
    by_name = {c.name: c for c in todo}
    per_cell = [
        {"model": r["name"], "ok": r["ok"], "seconds": round(r["seconds"], 2), "train_seconds": round(train_seconds(by_name[r["name"]].run_dirs), 2)}
        for r in results
    ]
    compare_seconds = None
    if analysis_due(failed, not_started, options):
        compare_nb, embed_nb = root / "03_compare.ipynb", root / "04_embeddings.ipynb"
        compare_seconds = execute_notebook(COMPARE_NOTEBOOK, compare_nb, params, cwd)
        report = [compare_nb]
        full_set = run_dir(dataclasses.replace(cfg, languages=list(cfg.grid.languages), seed=cfg.grid.seeds[0], kind="method"))
        if "method" in grid_kinds(cfg) and not (full_set / "checkpoints").is_dir():
            print(f"no checkpoints in {full_set} (run folders copied without them?): embedding maps (notebook 04) skipped")
        elif "method" in grid_kinds(cfg):
            # the embedding maps reuse the grid's runs of the first seed (monolingual, en+it, all five)
            embed = {**{k: params[k] for k in ("profile", "results_dir", "extra_params", "overrides")}, "seed": cfg.grid.seeds[0]}
            compare_seconds += execute_notebook(EMBEDDINGS_NOTEBOOK, embed_nb, embed, cwd)
            report.append(embed_nb)
        from mlsearch.report import render_report_html

        render_report_html(report, root / "report.html")
    timing = {
        "profile": cfg.profile,
        "source": cfg.data.source,
        "kind": cfg.kind,
        "kinds": grid_kinds(cfg),
        "seeds": list(cfg.grid.seeds),
        **run_record(len(cells), results, per_cell, jobs, device, gpus, wall_start, not_started, options),
        "compare_seconds": None if compare_seconds is None else round(compare_seconds, 2),
        "per_cell": per_cell,
    }
    name = timing_name(grid_kinds(cfg)).replace(".json", shard_suffix(options) + ".json")
    write_timing(root / name, timing, [c.name for c in cells if c not in todo])
    from mlsearch.report import update_results_readme

    update_results_readme(Path(cfg.results_dir))
    print(f"grid {cfg.profile}: {len(results)} cells run, {len(cells) - len(todo)} skipped, {timing['wall_seconds']:.0f} s")
    raise_failures(results, "grid")
    if compare_seconds is not None:
        print(f"report: {root / 'report.html'}")
    return root


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


def timing_name(kinds: list[str]) -> str:
    """``timing.json`` for the method's grid (``make reproduce``), ``timing-baselines.json`` for a grid
    with other kinds (``make baselines``), so neither run's record overwrites the other's."""
    return "timing.json" if kinds == ["method"] else "timing-baselines.json"


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
