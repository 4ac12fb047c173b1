"""Training on several processes (``torchrun``): ranks, the process group, DDP wrappers, a rank's rows.

Every rank steps through the same phases, languages and batches in the same order and takes a
disjoint shard of each batch's rows (:func:`shard`), so the averaged gradient is the one-process
gradient (see :meth:`mlsearch.train.Trainer.step`). One process: every function here is a no-op
or the identity.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mlsearch.config import RunConfig


def world_rank() -> tuple[int, int]:
    """``(world size, rank)``: ``(1, 0)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def launch_rank() -> int:
    """This process's rank, before the process group exists (``RANK`` that torchrun sets)."""
    return world_rank()[1] if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))


def init(device_kind: str) -> None:
    """Join the process group that ``torchrun`` describes in the environment (no-op otherwise)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if world_rank()[0] > 1:
        dist.barrier()


def all_reduce_sum(vec: torch.Tensor) -> torch.Tensor:
    """``vec`` summed over ranks (a copy; the same tensor in one process)."""
    if world_rank()[0] == 1:
        return vec
    vec = vec.clone()
    dist.all_reduce(vec)
    return vec


def pick_device(cfg: RunConfig) -> torch.device:
    """``train.device``; ``auto``: this rank's CUDA device when there is one, else the CPU."""
    if cfg.train.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(cfg.train.device)


def wrap(module: torch.nn.Module, device: torch.device, find_unused: bool) -> DistributedDataParallel:
    """A DDP wrapper of ``module``; buffers (n-gram ids, position ids) never change, so they are not
    broadcast before each forward."""
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused, forward_sync_buffers=False)


def shard(idx: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, bool]:
    """This rank's rows of a batch (host indices), and whether it has any.

    DDP needs every rank to run each step's forward and backward, and the encoders cannot run on
    zero rows, so a rank whose share is empty (a batch shorter than the world) runs the batch's
    first row with its loss multiplied by 0: zero gradients, nothing counted.
    """
    local = idx[rank::world]
    return (local, True) if len(local) else (idx[:1], False)
