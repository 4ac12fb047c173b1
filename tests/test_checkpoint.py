"""Checkpoints: round trip without pickle, another config or a damaged file is a CheckpointError."""

import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config

from mlsearch import checkpoint
from mlsearch.errors import CheckpointError
from mlsearch.run import train_and_evaluate

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run folder with a checkpoint and no metrics.json (as a killed run leaves it)."""
    out = tmp_path_factory.mktemp("run")
    ds = make_dataset(("en",), queries=8)
    train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1}), out, ds, progress=False)
    (out / "metrics.json").unlink()
    return out, ds


def test_optimizer_state_round_trips():
    p = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.AdamW([p])
    p.sum().backward()
    opt.step()
    tensors, groups = checkpoint.flatten_optimizer(opt.state_dict())
    assert all(torch.is_tensor(v) for v in tensors.values())
    back = checkpoint.unflatten_optimizer(tensors, groups)
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())])
    opt2.load_state_dict(back)
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_checkpoint_from_another_config_is_refused(killed_run):
    out, ds = killed_run
    cfg = tiny_config(["en"], **{"train.epochs": 1, "train.lr": 0.5})
    with pytest.raises(CheckpointError, match="checkpoint was written by another config .* delete"):
        train_and_evaluate(cfg, out, ds, progress=False)
    # keys that do not change training keep the hash
    assert checkpoint.config_hash(tiny_config(["en"], **{"eval.bootstrap": 3})) == checkpoint.config_hash(tiny_config(["en"]))


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_sidecar"])
def test_corrupt_checkpoint_is_refused(killed_run, tmp_path, damage):
    import shutil

    src, ds = killed_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    tensors = out / "checkpoints" / "last.safetensors"
    data = tensors.read_bytes()
    if damage == "truncate":
        tensors.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        tensors.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:
        (out / "checkpoints" / "last.json").unlink()
    with pytest.raises(CheckpointError):
        train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1}), out, ds, progress=False)


def test_checkpoint_code_uses_no_pickle():
    import inspect

    from mlsearch import inference, run, train

    for mod in (checkpoint, train, run, inference):
        src = inspect.getsource(mod)
        assert "pickle" not in src.replace("no pickle", "").replace("without pickle", "")
        assert "torch.load(" not in src


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


@pytest.mark.parametrize("moment", ["before_sidecar", "before_rename"])
def test_save_killed_at_any_moment_still_resumes(tmp_path, monkeypatch, moment):
    """A kill between the two files of a save leaves a checkpoint that loads (epoch 0 or epoch 1)."""
    cfg = tiny_config(["en"])
    ckpt = tmp_path / "checkpoints"
    old = {"w": torch.zeros(2)}
    new = {"w": torch.ones(2)}
    checkpoint.save(ckpt, cfg, old, old, {"state": {}, "param_groups": []}, {"cpu": torch.get_rng_state()}, {"epoch": 0})

    def kill(*_a, **_k):
        raise _Killed

    if moment == "before_sidecar":
        monkeypatch.setattr(checkpoint, "write_json", kill)
    else:
        monkeypatch.setattr(type(ckpt), "replace", kill)
    with pytest.raises(_Killed):
        checkpoint.save(ckpt, cfg, new, new, {"state": {}, "param_groups": []}, {"cpu": torch.get_rng_state()}, {"epoch": 1})
    monkeypatch.undo()
    assert (ckpt / "next.safetensors").is_file() and checkpoint.exists(ckpt)
    parts, meta = checkpoint.load(ckpt, cfg)
    want, epoch = (old, 0) if moment == "before_sidecar" else (new, 1)
    assert meta["epoch"] == epoch and torch.equal(parts["model"]["w"], want["w"])
    # the next save leaves one consistent pair again
    checkpoint.save(ckpt, cfg, new, new, {"state": {}, "param_groups": []}, {"cpu": torch.get_rng_state()}, {"epoch": 2})
    assert not (ckpt / "next.safetensors").exists() and checkpoint.load(ckpt, cfg)[1]["epoch"] == 2


def test_first_save_killed_before_its_sidecar_starts_over(tmp_path, monkeypatch):
    cfg = tiny_config(["en"])
    ckpt = tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoint, "write_json", lambda *_a, **_k: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        checkpoint.save(ckpt, cfg, {"w": torch.ones(1)}, {}, {"state": {}, "param_groups": []}, {}, {"epoch": 0})
    assert (ckpt / "next.safetensors").is_file() and not checkpoint.exists(ckpt)
