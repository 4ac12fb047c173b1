"""The pins of ``constraints.txt`` rendered as a conda ``environment.yml``.

conda users get the same exact versions as pip users: ``environment.yml`` is generated from
``constraints.txt`` (``make lock`` or ``python -m mlsearch.tools.pins --write environment.yml``) and a test
checks the committed file is what this function renders.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Direct dependencies listed in environment.yml (pyproject's runtime + dev deps).
DIRECT = [
    "torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyarrow", "scikit-learn",
    "matplotlib", "seaborn", "papermill", "nbconvert", "ipykernel", "pyyaml", "tqdm",
    "pytest", "nbval", "jupyterlab", "ruff",
]  # fmt: skip


def read_pins(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """``{normalised name: version}`` from a constraints file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, version = line.split("==")
        pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def render_environment_yml(pins: dict[str, str]) -> str:
    lines = [
        "# conda environment with the same exact pins as constraints.txt (generated: make lock).",
        "# conda env create -f environment.yml && conda activate mlsearch && pip install -e . --no-deps",
        "name: mlsearch",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {name}=={pins[normalise(name)]}" for name in DIRECT]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="FILE", help="write the rendered file here (default: print it)")
    args = ap.parse_args()
    text = render_environment_yml(read_pins())
    if args.write:
        Path(args.write).write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
