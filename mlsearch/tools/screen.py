"""Screen candidate params files on VALIDATION F1 over several draws and sizes of the benchmark.

``python -m mlsearch.tools.screen run --out DIR params/pairs_candidates/*.yaml`` trains, for every
candidate file, generator seed (``--data-seeds``, default 1,2: draws none of the method's levers were
chosen on) and size (``--sizes``: multiples of quick's training queries), the monolingual models of
quick's grid languages (training seed 0) with ``grid --inline --train-only`` into
``DIR/<candidate>-s<seed>-x<size>``; complete cells are skipped, so it resumes. ``table`` prints the
mean validation F1 (of each model's selected epoch) per candidate and dataset; no test number is read.

``joint --out DIR --languages en,de,fr,it,es --seeds 0,1 CANDIDATES`` screens recipes of ONE model (the
five-language one, say) on quick's data: every candidate (layered on quick, kind ``method``) and training
seed is trained in this process without its test split (``train_and_evaluate(evaluate=False)``) into
``DIR/<candidate>/seed<k>/valid.json``; complete ones are skipped, and so are ones another process on
the same folder has claimed (``claimed``; delete it to retrain a killed one), so several processes share
a screen. ``joint-table`` prints mean validation F1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from mlsearch.config import load_config, profile_files
from mlsearch.io import read_json, write_json
from mlsearch.run import train_and_evaluate
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


def joint(candidates: list[Path], out: Path, languages: list[str], seeds: list[int]) -> None:
    """Train every (candidate, seed) model of ``languages`` without reading test; validation to valid.json."""
    for cand in candidates:
        for seed in seeds:
            target = out / cand.stem / f"seed{seed}" / "valid.json"
            claim = target.with_name("claimed")  # another screen process on the same folder trains it
            if target.is_file() or claim.is_file():
                continue
            claim.parent.mkdir(parents=True, exist_ok=True)
            try:
                claim.open("x").close()
            except FileExistsError:
                continue
            cfg = load_config([*profile_files("quick"), str(cand)], {"languages": languages, "seed": seed})
            print(f"{cand.stem} seed {seed}: {'+'.join(languages)}", flush=True)
            t0 = time.perf_counter()
            res = train_and_evaluate(cfg, target.parent, progress=True, evaluate=False)
            write_json(target, res | {"seconds": round(time.perf_counter() - t0, 1), "languages": languages})


def joint_table(out: Path) -> pd.DataFrame:
    """Mean validation F1 over languages per candidate and seed, and over seeds."""
    rows = []
    for path in sorted(out.glob("*/seed*/valid.json")):
        res = read_json(path)
        f1 = {lang: v["f1"] for lang, v in res["valid"].items()}
        rows.append({"candidate": path.parts[-3], "seed": path.parts[-2], "valid_f1": sum(f1.values()) / len(f1),
                     "best_epoch": res["best_epoch"], "minutes": res["seconds"] / 60, **f1})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    wide = df.pivot_table(index="candidate", columns="seed", values="valid_f1")
    wide["mean"] = wide.mean(axis=1)
    per_lang = df.groupby("candidate")[[c for c in df.columns if len(c) == 2]].mean()
    wide = wide.join(per_lang).join(df.groupby("candidate")[["best_epoch", "minutes"]].mean())
    return wide.sort_values("mean", ascending=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlsearch.tools.screen", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "table", "joint", "joint-table"])
    p.add_argument("candidates", nargs="*", type=Path, help="params files to layer on quick (run)")
    p.add_argument("--out", type=Path, required=True, help="folder of the screen's runs")
    p.add_argument("--data-seeds", default="1,2", help="benchmark generator seeds (default 1,2)")
    p.add_argument("--sizes", default="1,4", help="multiples of quick's training queries (default 1,4)")
    p.add_argument("--languages", default="en,de,fr,it,es", help="joint: the model's training languages")
    p.add_argument("--seeds", default="0,1", help="joint: training seeds (default 0,1)")
    p.add_argument("--write", type=Path, help="joint-table: also write the table to this Markdown file")
    args = p.parse_intermixed_args(argv)  # candidates may follow --out
    if args.action == "joint":
        joint(args.candidates, args.out, args.languages.split(","), [int(s) for s in args.seeds.split(",")])
    elif args.action == "joint-table":
        table = joint_table(args.out)
        md = to_markdown(table.reset_index(), digits=4)
        print(md)
        if args.write:  # the model's languages as the runs recorded them (its per-language columns), not --languages
            languages = [c for c in table.columns if len(c) == 2]
            head = (f"# Joint-recipe screen: validation F1 of the {len(languages)}-language model\n\n"
                    f"`python -m mlsearch.tools.screen joint --out {args.out} CANDIDATES`, table written "
                    f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d} on {platform.system()} {platform.machine()}; "
                    "no test split was read. Per-language columns: means over seeds; minutes: wall time of a run.\n\n")
            args.write.write_text(head + md)
    elif args.action == "run":
        run(args.candidates, args.out, [int(s) for s in args.data_seeds.split(",")], [float(s) for s in args.sizes.split(",")])
    else:
        print(to_markdown(table(args.out).reset_index(), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
