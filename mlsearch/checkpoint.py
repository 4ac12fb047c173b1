"""Checkpoints without pickle: tensors in safetensors, everything else in a JSON sidecar.

``checkpoints/last.safetensors`` holds the model (``model.*``), the best epoch's model (``best.*``),
the optimizer state flattened to ``optim.<param index>.<key>`` and the RNG states (``rng.*``).
``checkpoints/last.json`` holds the config hash, the epoch, the best-so-far record, the optimizer's
param groups, training curves so far, and the SHA-256 of the tensor file.

A save is two-phase so that a kill at any instant leaves a checkpoint that resumes: the new
tensors go to ``next.safetensors`` (atomic rename), then the sidecar naming their hash (atomic
rename), then ``next`` is renamed over ``last``. Killed before the sidecar, the old sidecar still
matches ``last`` and the stray ``next`` is overwritten by the next save; killed after it, the
sidecar matches ``next`` and loading reads that. A tensor file matching neither is refused as corrupt instead of
silently mixing two epochs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mlsearch.config import RunConfig
from mlsearch.errors import CheckpointError
from mlsearch.io import atomic_write, write_json

#: Keys that do not change what is trained (where it runs, how it is reported): not part of the hash.
_NOT_HASHED = {
    ("train", "device"),
    ("train", "num_threads"),
    ("train", "compile"),
    ("eval", "bootstrap"),
    ("eval", "save_predictions"),
    ("results_dir",),
    ("point",),
    ("grid",),
}
#: Keys added after results were published: left out of the hash at their default, so the hash of
#: every config that does not use them is what it was.
_OMITTED_AT_DEFAULT = {
    ("data", "train_share"): 1.0,
    ("data", "id_mappings"): True,
    ("data", "train_share_by_language"): {},
    ("data", "product_alignment_share"): 1.0,
    ("data", "query_alignment_share"): 1.0,
    ("model", "keep_layers"): 0,
    ("model", "freeze_embeddings"): False,
    ("model", "freeze_layers"): 0,
    ("model", "prefix_cache"): True,
    ("model", "centre"): False,
    ("model", "architecture"): "two_tower",
    ("train", "pretrained_lr"): 0.0,
}


def config_hash(cfg: RunConfig) -> str:
    """Hash of the config keys that determine training (so a moved or re-reported run still resumes)."""
    d = cfg.to_dict()
    for key in _NOT_HASHED:
        node = d
        for part in key[:-1]:
            node = node[part]
        node.pop(key[-1], None)
    for (section, key), default in _OMITTED_AT_DEFAULT.items():
        if d[section].get(key) == default:
            d[section].pop(key)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """``optimizer.state_dict()`` → tensors ``optim.<i>.<key>`` + JSON-able param groups."""
    tensors = {}
    for idx, st in state["state"].items():
        for k, v in st.items():
            tensors[f"optim.{idx}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors, state["param_groups"]


def unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, v in tensors.items():
        if name.startswith("optim."):
            _, idx, k = name.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    return {"state": state, "param_groups": groups}


def save(
    ckpt_dir: Path,
    cfg: RunConfig,
    model: dict[str, torch.Tensor],
    best: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    rng: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    """Write ``last.safetensors`` then ``last.json`` atomically (see the module docstring)."""
    opt_tensors, groups = flatten_optimizer(optimizer)
    tensors = {f"model.{k}": v for k, v in model.items()}
    tensors |= {f"best.{k}": v for k, v in best.items()}
    tensors |= opt_tensors
    tensors |= {f"rng.{k}": v for k, v in rng.items()}
    # Cloned: tied weights (model.tie_embeddings) share storage, which safetensors refuses to save.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    staged = ckpt_dir / "next.safetensors"
    atomic_write(staged, lambda p: save_file(tensors, str(p)))
    sidecar = dict(meta, config_hash=config_hash(cfg), param_groups=groups, sha256=_sha256(staged))
    write_json(ckpt_dir / "last.json", sidecar)
    staged.replace(ckpt_dir / "last.safetensors")


def exists(ckpt_dir: Path) -> bool:
    """Whether there is a checkpoint to resume (a lone ``next.safetensors`` is a first save cut short)."""
    return (ckpt_dir / "last.json").is_file() or (ckpt_dir / "last.safetensors").is_file()


def load(ckpt_dir: Path, cfg: RunConfig | None) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """``({"model": …, "best": …, "optim": …, "rng": …}, sidecar)``; CheckpointError if unusable.

    ``cfg=None`` skips the config check (loading a finished run for inference).
    """
    meta_path, path = ckpt_dir / "last.json", ckpt_dir / "last.safetensors"
    fix = f"delete {ckpt_dir} to start over"
    if not meta_path.is_file() or not (path.is_file() or (ckpt_dir / "next.safetensors").is_file()):
        raise CheckpointError("incomplete checkpoint (one of last.json / last.safetensors missing)", str(ckpt_dir), fix)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError("corrupt checkpoint sidecar", str(meta_path), fix) from None
    if cfg is not None and meta.get("config_hash") != config_hash(cfg):
        raise CheckpointError(
            "checkpoint was written by another config",
            str(ckpt_dir),
            f"delete {ckpt_dir.parent} or use another run folder",
        )
    # A save cut short leaves the sidecar's tensors in ``next`` (module docstring). Read-only here
    # (every DDP rank loads); the next save replaces both files.
    found = [p for p in (path, ckpt_dir / "next.safetensors") if p.is_file() and meta.get("sha256") == _sha256(p)]
    if not found:
        raise CheckpointError("corrupt or truncated checkpoint (hash mismatch)", str(path), fix)
    path = found[0]
    try:
        flat = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable checkpoint: {str(exc).splitlines()[0]}", str(path), fix) from None
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "best": {}, "optim": {}, "rng": {}}
    for name, v in flat.items():
        head, rest = name.split(".", 1)
        if head == "optim":
            parts["optim"][name] = v
        else:
            parts[head][rest] = v
    return parts, meta
