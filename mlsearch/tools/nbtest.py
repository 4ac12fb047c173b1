"""Prepare the notebooks for ``pytest --nbval-lax`` with the tiny profile.

``python -m mlsearch.tools.nbtest build/nbtest`` copies every ``notebooks/*.ipynb`` into the folder with
papermill's parameters injected but nothing executed (``prepare_only``): ``profile="tiny"``, a
results folder inside the build folder, ``train_missing=True`` (notebook 05 trains the tiny study
itself) and ``study``: the tiny study (``params/study/tiny.yaml``, every sweep) on one seed, written
into the folder (half the runs; the study's tests use the file itself), for each notebook that
declares those parameters. nbval then executes the copies, so the notebook tests run the real
notebooks with tiny data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = {"profile": "tiny"}
#: What notebook 05's study under test changes in ``params/study/tiny.yaml``.
STUDY_CHANGES = {"seeds": [0]}


def write_study(out: Path) -> Path:
    """The tiny study file with :data:`STUDY_CHANGES`, as ``out/study-tiny.yaml``."""
    study = yaml.safe_load((ROOT / "params" / "study" / "tiny.yaml").read_text(encoding="utf-8")) | STUDY_CHANGES
    path = out / "study-tiny.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path.resolve()


def prepare(out: Path, notebooks: Path = ROOT / "notebooks") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    results = (out / "results").resolve()
    study = write_study(out)
    written = []
    for nb in sorted(notebooks.glob("*.ipynb")):
        declared = pm.inspect_notebook(str(nb))
        wanted = dict(TINY, results_dir=str(results), train_missing=True, study=str(study))
        params = {k: v for k, v in wanted.items() if k in declared}
        target = out / nb.name
        pm.execute_notebook(str(nb), str(target), parameters=params, prepare_only=True, progress_bar=False, cwd=str(ROOT))
        written.append(target)
    return written


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/nbtest")
    for path in prepare(folder):
        print(f"prepared {path}")
