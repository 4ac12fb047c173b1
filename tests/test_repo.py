"""Repository hygiene: pins agree everywhere, notebooks are committed without outputs."""

import json
from pathlib import Path

from mlsearch.tools.pins import ROOT, read_pins, render_environment_yml


def test_environment_yml_matches_constraints():
    expected = render_environment_yml(read_pins())
    assert (ROOT / "environment.yml").read_text() == expected, "run: make lock (or python -m mlsearch.tools.pins --write environment.yml)"


def test_torch_is_pinned_everywhere():
    assert read_pins()["torch"] == "2.13.0"
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()


def test_every_runtime_dependency_is_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = read_pins()
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps]
    assert [n for n in names if n not in pins] == []


def test_notebooks_have_no_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, f"{path.name} has outputs"
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert sum("parameters" in t for t in tags) == 1, f"{path.name} needs one cell tagged 'parameters'"


def test_makefile_and_ci_use_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make reproduce" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert Path(ROOT / "LICENSE").is_file()
