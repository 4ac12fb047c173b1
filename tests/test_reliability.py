"""Failures mid-run (disk full, unwritable folders, NaN, bad checkpoints) leave nothing half-written
and resume cleanly; every run folder says what produced it; nothing unpickles files.

Covered elsewhere, not repeated here: same seed → byte-identical metrics.json and a run killed between
epochs resuming to the same bytes (test_train.py), NaN in the classification phase (test_train.py),
another config's or a damaged checkpoint at the Python level (test_checkpoint.py), ESCI downloads
size-checked and atomic (test_esci.py), a grid killed with SIGKILL (test_grid_resume.py).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config

import mlsearch
from mlsearch import checkpoint, io, losses
from mlsearch.__main__ import main
from mlsearch.errors import MlsearchError, TrainingError
from mlsearch.run import train_and_evaluate

torch.set_num_threads(1)
PACKAGE = Path(mlsearch.__file__).resolve().parent
EPOCHS = 3


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: the bytes every interrupted-then-resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    ds = make_dataset(("en", "de"), queries=8)
    cfg = tiny_config(["en", "de"], **{"train.epochs": EPOCHS, "model.dropout": 0.1})
    train_and_evaluate(cfg, out, ds, progress=False)
    return cfg, ds, out


# --------------------------------------------------------------------------- disk full, unwritable


def test_disk_full_while_checkpointing_keeps_the_last_good_one(reference, tmp_path, monkeypatch):
    cfg, ds, ref = reference
    real, calls = checkpoint.save_file, {"n": 0}

    def fills_disk(tensors, path):  # the third checkpoint (after epoch 2) hits a full disk halfway
        calls["n"] += 1
        if calls["n"] == 3:
            Path(path).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", fills_disk)
    with pytest.raises(MlsearchError, match="cannot write next.safetensors: No space left on device .* free disk space"):
        train_and_evaluate(cfg, tmp_path, ds, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / "metrics.json").exists()
    _, meta = checkpoint.load(tmp_path / "checkpoints", cfg)  # still whole and consistent
    assert meta["epoch"] == 1

    monkeypatch.setattr(checkpoint, "save_file", real)  # space freed: the rerun resumes after epoch 1
    train_and_evaluate(cfg, tmp_path, ds, progress=False)
    assert json.loads((tmp_path / "run_info.json").read_text())["resumed_from_epoch"] == 1
    assert (tmp_path / "metrics.json").read_bytes() == (ref / "metrics.json").read_bytes()


def test_disk_full_while_writing_metrics(reference, tmp_path, monkeypatch):
    cfg, ds, ref = reference
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(MlsearchError, match="cannot write metrics.json: No space left on device"):
        train_and_evaluate(cfg, tmp_path, ds, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / "metrics.json").exists()

    monkeypatch.setattr(io.os, "replace", real)
    train_and_evaluate(cfg, tmp_path, ds, progress=False)  # resumes from the final checkpoint: no retraining
    assert json.loads((tmp_path / "run_info.json").read_text())["resumed_from_epoch"] == EPOCHS
    assert (tmp_path / "metrics.json").read_bytes() == (ref / "metrics.json").read_bytes()


def test_permission_denied_creates_nothing(reference, tmp_path, monkeypatch):
    cfg, ds, _ = reference

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(MlsearchError, match=r"cannot write results: Permission denied \(.*tokenizers\)"):
        train_and_evaluate(cfg, tmp_path / "run", ds, progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_run_folder_under_a_file(reference, tmp_path):
    cfg, ds, _ = reference
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MlsearchError, match="cannot write results: Not a directory"):
        train_and_evaluate(cfg, blocker / "run", ds, progress=False)
    assert blocker.read_text() == "x" and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- NaN in the alignment phase


def test_nan_in_alignment_names_phase_epoch_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    ds = make_dataset(("en", "de"), queries=8)
    cfg = tiny_config(["en", "de"], **{"train.epochs": EPOCHS, "train.alignment": "product", "train.align_batch_size": 4,
                                              "train.align_loss": "cosine"})
    real = losses.ALIGNMENT["cosine"]
    calls = {"n": 0}

    def inf_on_call_2(a, b, rows, temperature):
        calls["n"] += 1
        out = real.loss(a, b, rows, temperature)
        return out * float("inf") if calls["n"] == 2 else out

    monkeypatch.setitem(losses.ALIGNMENT, "cosine", dataclasses.replace(real, loss=inf_on_call_2))
    with pytest.raises(TrainingError, match=r"loss became NaN/inf in phase align_product, epoch 1, step 1 .* last good checkpoint"):
        train_and_evaluate(cfg, tmp_path, ds, progress=False)
    _, meta = checkpoint.load(tmp_path / "checkpoints", cfg)
    assert meta["epoch"] == 0 and not (tmp_path / "metrics.json").exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- checkpoints through the CLI


def test_cli_refuses_another_configs_or_a_damaged_checkpoint(tmp_path, capsys):
    """``python -m mlsearch train --out RUN`` on a killed run: resume only with the same config, intact files."""
    run = tmp_path / "run"
    base = ["train", "--profile", "tiny", "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "train.epochs=1",
            "--set", "eval.bootstrap=5", "--out", str(run)]
    assert main(base) == 0
    (run / "metrics.json").unlink()  # as a run killed after its last checkpoint leaves it
    ckpt = run / "checkpoints" / "last.safetensors"
    before = ckpt.read_bytes()
    capsys.readouterr()

    assert main(base + ["--set", "train.lr=0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: checkpoint was written by another config") and "use another run folder" in err
    assert ckpt.read_bytes() == before and not (run / "metrics.json").exists()

    ckpt.write_bytes(before[: len(before) // 2])
    assert main(base) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: corrupt or truncated checkpoint") and f"delete {run / 'checkpoints'}" in err
    assert not (run / "metrics.json").exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- provenance


def test_run_info_records_what_produced_the_run(reference):
    cfg, _, ref = reference
    info = json.loads((ref / "run_info.json").read_text())
    assert info["mlsearch"] == mlsearch.__version__  # known without pip install (was null)
    assert info["torch"] == torch.__version__ and info["transformers"] and info["python"] and info["numpy"]
    assert info["device"] == "cpu" and info["train_seconds"] > 0 and info["date"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACKAGE, capture_output=True, text=True)
    if head.returncode == 0:
        assert info["git_commit"] == head.stdout.strip()
    assert json.loads((ref / "config.json").read_text()) == json.loads(json.dumps(cfg.to_dict()))


# --------------------------------------------------------------------------- no pickle


#: Calls that can unpickle a file; allowed only with ``weights_only=True`` or ``allow_pickle=False`` on the same line.
UNSAFE_LOAD = re.compile(r"\b(torch\.load|pickle\.loads?|np\.load|numpy\.load|pd\.read_pickle|joblib\.load|dill\.loads?)\s*\(|"
                         r"allow_pickle\s*=\s*True|import\s+(c?pickle|dill|joblib)\b|from\s+(c?pickle|dill|joblib)\s+import")


def unsafe_loads(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines()
            if UNSAFE_LOAD.search(line) and "weights_only=True" not in line and "allow_pickle=False" not in line]


def test_the_scanner_finds_unsafe_loads():
    assert unsafe_loads("x = torch.load(path)\nimport pickle\ny = np.load(f, allow_pickle=True)\n") == [
        "x = torch.load(path)", "import pickle", "y = np.load(f, allow_pickle=True)"]
    assert unsafe_loads("w = torch.load(path, weights_only=True)\nfrom safetensors.torch import load_file\n") == []
    assert unsafe_loads("a = np.load(path, allow_pickle=False)\nb = np.load(path)\n") == ["b = np.load(path)"]


def test_package_never_unpickles():
    found = {str(p.relative_to(PACKAGE)): hits for p in sorted(PACKAGE.rglob("*.py"))
             if (hits := unsafe_loads(p.read_text(encoding="utf-8")))}
    assert found == {}, f"unpickling loads (use safetensors/JSON, or weights_only=True): {found}"


# --------------------------------------------------------------------------- reproducible across processes

TRAIN_TOKENIZER = """
import json, sys
from mlsearch.text import train_tokenizer
texts = json.load(open(sys.argv[1], encoding="utf-8"))
print(train_tokenizer(texts, 500).to_str())
"""


@pytest.mark.slow
def test_tokenizer_vocabulary_is_the_same_in_every_process(tmp_path):
    """Two processes (other hash seeds) learn the same vocabulary, so a resumed or rerun grid cell
    trains the same model; the trainer alone breaks ties between merges in hash-map order."""
    from mlsearch.config import load_config, profile_files
    from mlsearch.data.benchmark import generate

    cfg = load_config(profile_files("tiny"), {"data.languages": ["en"]})
    pairs = generate(cfg.data, progress=False).pairs
    texts = pairs.loc[pairs["split"] == "train", "query"].tolist() + pairs.loc[pairs["split"] == "train", "title"].tolist()
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    outs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent), PYTHONHASHSEED=hash_seed)
        proc = subprocess.run([sys.executable, "-c", TRAIN_TOKENIZER, str(tmp_path / "texts.json")], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(json.loads(proc.stdout))
    assert len(outs[0]["model"]["vocab"]) == 500  # the vocabulary budget binds: ties at the cut decide
    assert outs[0] == outs[1]
    assert [t["content"] for t in outs[0]["added_tokens"]] == ["[PAD]", "[UNK]", "[CLS]"]


def test_full_disk_when_creating_the_temp_file_says_free_space(tmp_path, monkeypatch):
    def mkstemp(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(MlsearchError, match="cannot write results: No space left on device .* — free disk space$"):
        io.write_json(tmp_path / "metrics.json", {"f1": 1.0})
    assert list(tmp_path.iterdir()) == []
