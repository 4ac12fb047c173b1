"""Prepare the notebooks for ``pytest --nbval-lax`` with the tiny profile.

``python -m mlsearch.tools.nbtest build/nbtest`` copies every ``notebooks/*.ipynb`` into the folder with
papermill's parameters injected but nothing executed (``prepare_only``): ``profile="tiny"``, a
results folder inside the build folder and ``train_missing=True`` (notebook 05 trains the tiny study
itself), for each notebook that declares those parameters. nbval then
executes the copies, so the notebook tests run the real notebooks with tiny data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[2]
TINY = {"profile": "tiny"}


def prepare(out: Path, notebooks: Path = ROOT / "notebooks") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    results = (out / "results").resolve()
    written = []
    for nb in sorted(notebooks.glob("*.ipynb")):
        declared = pm.inspect_notebook(str(nb))
        wanted = dict(TINY, results_dir=str(results), train_missing=True)
        params = {k: v for k, v in wanted.items() if k in declared}
        target = out / nb.name
        pm.execute_notebook(str(nb), str(target), parameters=params, prepare_only=True, progress_bar=False, cwd=str(ROOT))
        written.append(target)
    return written


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/nbtest")
    for path in prepare(folder):
        print(f"prepared {path}")
