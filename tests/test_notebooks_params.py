"""Notebook parameters: what papermill (the grid, the notebook tests) injects is declared and honoured."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from test_tables import write_run

from mlsearch.cells import NOTEBOOKS, PAPERMILL_KWARGS, ROOT, TRAIN_NOTEBOOK
from mlsearch.config import load_config, profile_files
from mlsearch.experiments import COMPARE_NOTEBOOK, notebook_params

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def parameters_cell(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cell.source


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_literals_with_the_harness_defaults(name: str) -> None:
    """Literals only (papermill replaces the cell); nbtest injects profile and results_dir."""
    tree = ast.parse(parameters_cell(NOTEBOOKS / name))
    values = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{name}: only `name = literal` lines"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values["profile"] == "quick" and values["results_dir"] == "results"
    declared = pm.inspect_notebook(str(NOTEBOOKS / name))
    assert set(declared) == set(values)


def test_grid_parameters_are_declared_by_its_notebooks(tmp_path: Path) -> None:
    files = profile_files("tiny")
    cfg = load_config(files, {"results_dir": str(tmp_path)})
    params = notebook_params(cfg, files, {})
    train = set(pm.inspect_notebook(str(TRAIN_NOTEBOOK)))
    assert set(params) | {"languages", "seeds", "kind"} <= train
    assert set(params) <= set(pm.inspect_notebook(str(COMPARE_NOTEBOOK)))


@pytest.mark.slow
def test_compare_notebook_honours_injected_parameters(tmp_path: Path) -> None:
    """Executed with profile=tiny and a temp results_dir, 03 writes its tables there and nowhere else."""
    root = tmp_path / "benchmark" / "tiny"
    for seed, (de, fr, both_de, both_fr) in enumerate([(0.5, 0.4, 0.55, 0.5), (0.6, 0.4, 0.66, 0.46)]):
        write_run(root, "de", seed, {"de": de})
        write_run(root, "fr", seed, {"fr": fr})
        write_run(root, "de+fr", seed, {"de": both_de, "fr": both_fr})
    out = tmp_path / "03.ipynb"
    pm.execute_notebook(str(COMPARE_NOTEBOOK), str(out), cwd=str(ROOT), **PAPERMILL_KWARGS,
                        parameters={"profile": "tiny", "results_dir": str(tmp_path)})
    summary = (root / "tables" / "f1_summary.csv").read_text()
    assert "de+fr" in summary
    assert (root / "figures" / "bilingual_gain.png").is_file()
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/markdown", ""))
                   for c in nbformat.read(str(out), as_version=4).cells if c.cell_type == "code" for o in c.outputs)
    assert "profile `tiny`" in text and "6 runs (3 language sets), seeds 0, 1;" in text
    assert "np.int64" not in text
