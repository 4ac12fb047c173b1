"""Screen candidate params files on VALIDATION F1 over several draws and sizes of the benchmark.

``python -m mlsearch.tools.screen run --out DIR params/pairs_candidates/*.yaml`` trains, for every
candidate file, generator seed (``--data-seeds``, default 1,2: draws none of the method's levers were
chosen on) and size (``--sizes``: multiples of quick's training queries), the monolingual models of
quick's grid languages (training seed 0) with ``grid --inline --train-only`` into
``DIR/<candidate>-s<seed>-x<size>``; complete cells are skipped, so it resumes. ``table`` prints the
mean validation F1 (of each model's selected epoch) per candidate and dataset; no test number is read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mlsearch.config import load_config, profile_files
from mlsearch.io import read_json
from mlsearch.tables import to_markdown


def folder(out: Path, candidate: str, seed: int, size: float) -> Path:
    return out / f"{candidate}-s{seed}-x{size:g}"


def run(candidates: list[Path], out: Path, seeds: list[int], sizes: list[float]) -> None:
    """Train every (size, candidate, seed) combination's monolingual models, smaller sizes first."""
    quick = load_config(profile_files("quick")).data.train_queries
    for size in sizes:
        for cand in candidates:
            for seed in seeds:
                queries = "{" + ", ".join(f"{lang}: {round(n * size)}" for lang, n in quick.items()) + "}"
                cmd = [sys.executable, "-m", "mlsearch", "grid", "--profile", "quick", "--params", str(cand),
                       "--set", f"data.seed={seed}", "--set", f"data.train_queries={queries}",
                       "--set", "grid.max_languages=1", "--set", "grid.seeds=[0]",
                       "--set", f"results_dir={folder(out, cand.stem, seed, size)}", "--inline", "--train-only", "-j", "1"]
                print(f"{cand.stem} seed {seed} ×{size:g}", flush=True)
                subprocess.run(cmd, check=True)


def table(out: Path) -> pd.DataFrame:
    """Validation F1 per candidate × dataset (mean over languages) and overall, from the runs' metrics.json."""
    rows = []
    for path in sorted(out.glob("*-s*-x*/benchmark/quick/runs/*/seed0/metrics.json")):
        name = path.relative_to(out).parts[0]
        cand, seed, size = name.rsplit("-", 2)
        m = read_json(path)
        for lang, v in m["valid"].items():
            rows.append({"candidate": cand, "dataset": f"{seed} {size}", "language": lang, "valid_f1": v["f1"],
                         "best_epoch": m["best_epoch"]})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    wide = df.pivot_table(index="candidate", columns="dataset", values="valid_f1", aggfunc="mean")
    wide["models"] = df.groupby("candidate").size()
    wide["mean"] = wide.drop(columns="models").mean(axis=1)
    wide["best_epoch_mean"] = df.groupby("candidate")["best_epoch"].mean()
    return wide.sort_values("mean", ascending=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlsearch.tools.screen", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "table"])
    p.add_argument("candidates", nargs="*", type=Path, help="params files to layer on quick (run)")
    p.add_argument("--out", type=Path, required=True, help="folder of the screen's runs")
    p.add_argument("--data-seeds", default="1,2", help="benchmark generator seeds (default 1,2)")
    p.add_argument("--sizes", default="1,4", help="multiples of quick's training queries (default 1,4)")
    args = p.parse_args(argv)
    if args.action == "run":
        run(args.candidates, args.out, [int(s) for s in args.data_seeds.split(",")], [float(s) for s in args.sizes.split(",")])
    else:
        print(to_markdown(table(args.out).reset_index(), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
