"""Bad input through the command line: one line ``error: <what> (<where>) — <fix>``, exit 2, nothing written.

Each case runs ``python -m mlsearch ...`` in a subprocess, as a user would. The loaders' own tests hold
the detailed checks (line numbers, suggestions); here the point is the user-facing path:
test_config.py (keys, types, languages, profiles), test_pairs.py (columns, labels, text, encoding,
files, splits, mappings), test_esci.py (ESCI letters, columns, downloads), test_checkpoint.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest
from fixtures.esci_data import esci_frames, write_esci

from mlsearch.cells import PAPERMILL_KWARGS, ROOT, TRAIN_NOTEBOOK, execute_notebook
from mlsearch.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
PAIRS = FIXTURES / "pairs_small.csv"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "mlsearch", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit status 2, stderr one line starting ``error: `` holding every needle, no traceback.

    Warnings printed before the failure (one ``warning: `` line each) are allowed.
    """
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted atomic write would leave behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "sets, needles",
    [
        (["train.epoch=3"], ["unknown parameter 'train.epoch'", "(override)", "did you mean 'train.epochs'"]),
        (["train.epochs=ten"], ["train.epochs must be an integer, got 'ten'"]),
        (["languages=[en,xx]"], ["unknown language code(s) ['xx']", "(languages)"]),
        (["languages=[en,en]"], ["duplicated language code(s) ['en']"]),
        (["languages=[]"], ["empty language list"]),
        (["data.languages=[en,de]", "languages=[fr]"], ["training languages ['fr'] are not in data.languages"]),
    ],
)
def test_bad_parameter(tmp_path, sets, needles):
    args = [a for s in sets for a in ("--set", s)]
    proc = run_cli("train", "--profile", "tiny", "--set", f"results_dir={tmp_path / 'results'}", *args, cwd=tmp_path)
    assert_user_error(proc, *needles)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the results folder


def test_bad_value_in_a_params_file_names_the_file(tmp_path):
    params = tmp_path / "mine.yaml"
    params.write_text("train:\n  epochs: ten\n")
    assert_user_error(run_cli("train", "--profile", "tiny", "--params", str(params), cwd=tmp_path),
                      "train.epochs must be an integer", str(params))


def test_unknown_profile_and_bad_params_paths(tmp_path):
    assert_user_error(run_cli("grid", "--profile", "huge", cwd=tmp_path), "no profile named 'huge'", "use one of [")
    assert_user_error(run_cli("train", "--params", str(tmp_path / "no.yaml"), cwd=tmp_path), "params file does not exist")
    assert_user_error(run_cli("train", "--params", str(tmp_path), cwd=tmp_path), "is a directory")
    assert_user_error(run_cli("train", "--set", "epochs", cwd=tmp_path), "--set expects key=value")


# --------------------------------------------------------------------------- data files


def _csv(tmp_path: Path, df: pd.DataFrame, name: str = "pairs.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _pairs() -> pd.DataFrame:
    return pd.read_csv(PAIRS, dtype=str, keep_default_na=False)


def _no_train_de(d: pd.DataFrame) -> pd.DataFrame:
    d["split"] = ["test"] * 2 + ["train"] * 8 + ["test"] * 10
    d.loc[10:11, "split"] = "valid"
    return d


def _nan_title(d: pd.DataFrame) -> pd.DataFrame:
    d["title"] = d["title"].astype(object)
    d.loc[3, "title"] = None
    return d


def _unknown_map_text(tmp_path: Path) -> list[str]:
    m = pd.read_csv(FIXTURES / "product_map.csv")
    m.loc[1, "text_b"] = "Green water bottle"
    return ["--set", f"data.product_map_file={_csv(tmp_path, m, 'map.csv')}"]


DATA_CASES = {
    "missing column": (lambda d: d.drop(columns=["label"]), "pairs.csv", ["missing column 'label'"]),
    "misspelled column": (lambda d: d.rename(columns={"query": "qurey"}), "pairs.csv", ["rename column 'qurey' to 'query'"]),
    "label outside 0/1": (lambda d: d.assign(label=d["label"].where(d.index != 4, "2")), "pairs.csv", ["label '2' is not 0 or 1", "line 6"]),
    "empty text": (lambda d: d.assign(query=d["query"].where(d.index != 2, " ")), "pairs.csv", ["empty 'query'", "line 4"]),
    "NaN text": (_nan_title, "pairs.parquet", ["empty 'title'", "row 3"]),
    "unknown language in file": (lambda d: d.assign(lang=d["lang"].where(d.index != 0, "xx")), "pairs.csv", ["unknown language code 'xx'"]),
    "language without training pairs": (_no_train_de, "pairs.csv", ["language 'de' has no train pairs"]),
}


@pytest.mark.slow  # ~2 s per case: each subprocess imports pandas
@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_pairs_file(tmp_path, case):
    mutate, name, needles = DATA_CASES[case]
    path = _csv(tmp_path, mutate(_pairs()), name)
    proc = run_cli("benchmark", "--profile", "pairs", "--set", f"data.pairs_file={path}",
                   "--set", f"data.cache_dir={tmp_path / 'cache'}", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_user_error(proc, *needles)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["non-UTF-8", "missing file", "folder", "mapping matches nothing"])
def test_unusable_input_file(tmp_path, case):
    path, extra = tmp_path / "pairs.csv", []
    if case == "non-UTF-8":
        path.write_bytes(PAIRS.read_text(encoding="utf-8").encode("latin-1"))
        needles = ["not UTF-8 text", "line 18", "save the file as UTF-8"]
    elif case == "missing file":
        needles = ["file not found", "data.pairs_file"]
    elif case == "folder":
        path = tmp_path
        needles = ["is a folder, not a file"]
    else:
        path, extra = PAIRS, _unknown_map_text(tmp_path)
        needles = ["text_b 'Green water bottle' (en) matches no title", "line 3"]
    proc = run_cli("benchmark", "--profile", "pairs", "--set", f"data.pairs_file={path}", *extra,
                   "--set", f"data.cache_dir={tmp_path / 'cache'}", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_user_error(proc, *needles)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_unknown_esci_letter(tmp_path):
    ex, _ = esci_frames()
    ex.loc[7, "esci_label"] = "X"
    write_esci(tmp_path / "esci", examples=ex)
    proc = run_cli("benchmark", "--profile", "esci", "--set", f"data.esci_dir={tmp_path / 'esci'}",
                   "--set", f"data.cache_dir={tmp_path / 'cache'}", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_user_error(proc, "unknown esci_label 'X' in row 7")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["cache", "out"])
def test_results_folder_under_a_file(tmp_path, where):
    """A folder that cannot be created (its parent is a file) fails for root too, unlike chmod."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cache = blocker / "cache" if where == "cache" else tmp_path / "cache"
    out = blocker / "out" if where == "out" else tmp_path / "out"
    proc = run_cli("benchmark", "--profile", "pairs", "--set", f"data.pairs_file={PAIRS}", "--set", f"data.cache_dir={cache}",
                   "--out", str(out), cwd=tmp_path)
    assert_user_error(proc, "cannot write results", str(blocker))
    assert blocker.read_text() == "not a folder" and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- notebooks


def test_unknown_notebook_parameter_is_refused_before_running(tmp_path):
    target = tmp_path / "out.ipynb"
    with pytest.raises(ConfigError) as err:
        execute_notebook(TRAIN_NOTEBOOK, target, {"profile": "tiny", "epochs": 3, "seed": 1})
    msg = str(err.value)
    assert "['epochs', 'seed'] are not in the parameters cell" in msg and "02_train.ipynb" in msg and "seeds" in msg
    assert not target.exists()


@pytest.mark.slow
def test_notebook_failure_ends_with_the_one_line_message(tmp_path):
    """A bad parameter in 02_train: the error's last line is the same message the CLI prints."""
    out = tmp_path / "02.ipynb"
    params = {"profile": "tiny", "results_dir": str(tmp_path / "results"), "overrides": {"train.epochs": "ten"}}
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(TRAIN_NOTEBOOK), str(out), parameters=params, cwd=str(ROOT), **PAPERMILL_KWARGS)
    message = "train.epochs must be an integer, got 'ten' (override) — write a whole number"
    assert err.value.ename == "ConfigError" and err.value.evalue == message
    assert message in err.value.traceback[-1]
    outputs = [o for c in nbformat.read(str(out), as_version=4).cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(outputs) == 1 and outputs[0]["evalue"] == message
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_output_into_a_closed_pipe_is_not_a_traceback():
    """`python -m mlsearch study --dry-run | head -1`: the reader stops early; no traceback follows.
    The tiny study: quick's lists six times the cells, seconds of configs before the first line."""
    proc = subprocess.Popen([sys.executable, "-m", "mlsearch", "study", "--profile", "tiny", "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


@pytest.mark.parametrize("command", ["train", "grid"])
def test_a_bad_parameter_is_reported_before_torch_is_imported(tmp_path, command):
    """Start-up time: a command reports a bad parameter without importing torch (gpu-check's options do)."""
    code = ("import sys; from mlsearch.__main__ import main; "
            f"code = main([{command!r}, '--profile', 'tiny', '--set', 'train.epoch=3']); "
            "print(code, 'torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2", "False"], proc.stdout + proc.stderr[-2000:]
