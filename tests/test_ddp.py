"""Data parallel training (DistributedDataParallel over gloo, 2 CPU processes) against one process.

Tolerance: two processes compute the one-process gradient, but as a sum of two shards' gradients
(each shard's batch is also cut to its own longest row), so float additions happen in another order:
the losses differ by ~1e-7 per step, the weights after two tiny epochs by < 2e-5 (asserted: 1e-4),
the test scores by < 1e-6 (asserted: 1e-5), and every metric in metrics.json agrees within 1e-4
(a metric moves more only if a score lies within 1e-5 of the decision threshold).

One pair of processes (the module fixture ``two_processes``) runs every test's two-process side.
"""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from synthetic_pairs import make_dataset, tiny_config

from mlsearch import losses
from mlsearch.run import train_and_evaluate

# 40 training pairs per language and 12 mappings per language pair, in batches of 13 and 11: unequal
# shards (7 + 6 rows), and last batches of one row, so that one rank runs a stand-in row (distributed.shard)
OVER = {"train.epochs": 2, "train.batch_size": 13, "train.align_batch_size": 11, "model.dropout": 0.0}
WEIGHT_ATOL, SCORE_ATOL, METRIC_ATOL = 1e-4, 1e-5, 1e-4
# the method (per-language encoders, late interaction, contrastive alignment: gathered negatives), and
# shared encoders (an alignment step reads both texts through one wrapper) with a row-wise alignment loss
VARIANTS = {
    "contrastive": {"train.align_loss": "contrastive"},
    "shared-cosine": {"train.align_loss": "cosine", "model.encoders": "shared", "model.shared_vocab": True, "model.interaction": "none"},
}


def _init(rank: int, world: int, port: int) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    """One rank of the one pair of processes every test here reads: the gathered loss's cases, then
    each variant trained into ``out/<variant>``, one after another in the same process group."""
    import torch.distributed as dist

    _init(rank, world, port)
    try:
        _gather_cases(rank, out)
        ds = make_dataset(("en", "de"), queries=10)
        for variant, over in VARIANTS.items():
            train_and_evaluate(tiny_config(["en", "de"], **OVER, **over), f"{out}/{variant}", ds, progress=False)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """The folder the two ranks wrote (process start-up is most of the cost, so they start once)."""
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    """Every number in a nested record, by dotted key."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _numbers(v, f"{prefix}{k}.")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_two_processes_match_one(tmp_path, two_processes, variant):
    torch.set_num_threads(1)
    ds = make_dataset(("en", "de"), queries=10)
    one = train_and_evaluate(tiny_config(["en", "de"], **OVER, **VARIANTS[variant]), tmp_path / "one", ds, progress=False)
    two_dir = two_processes / variant
    two = json.loads((two_dir / "metrics.json").read_text())
    w1 = load_file(str(tmp_path / "one" / "checkpoints" / "last.safetensors"))
    w2 = load_file(str(two_dir / "checkpoints" / "last.safetensors"))
    assert set(w1) == set(w2)  # the unwrapped model's keys (no "module."): checkpoints are interchangeable
    for k, v in w1.items():
        if k.startswith("model."):
            assert torch.allclose(v, w2[k], atol=WEIGHT_ATOL), k
        if k.endswith(".step"):
            # AdamW counts a step only for a parameter with a gradient: a parameter that no rank used in
            # a step (another language's encoder, the token projection in alignment) must have none
            assert torch.equal(v, w2[k]), k
    assert json.loads((two_dir / "run_info.json").read_text())["world_size"] == 2
    s1 = pd.read_parquet(tmp_path / "one" / "predictions.parquet")
    s2 = pd.read_parquet(two_dir / "predictions.parquet")
    assert s1[["query_id", "product_id"]].equals(s2[["query_id", "product_id"]])
    assert np.abs(s1["score"].to_numpy() - s2["score"].to_numpy()).max() < SCORE_ATOL
    assert one["best_epoch"] == two["best_epoch"]
    n1, n2 = _numbers({"eval": one["eval"], "valid": one["valid"]}), _numbers({"eval": two["eval"], "valid": two["valid"]})
    assert n1.keys() == n2.keys() and any(k.endswith(".roc_auc") for k in n1)
    for k, v in n1.items():
        assert abs(v - n2[k]) <= METRIC_ATOL, (k, v, n2[k])


SIZES = [(4, 3), (1, 0)]  # rows per rank: unequal shards; a rank with no rows


def _gather_cases(rank: int, out: str) -> None:
    """Each case's gathered loss and this rank's gradients, saved as ``out/<case>-<rank>.pt``."""
    for case, sizes in enumerate(SIZES):
        a, b = torch.randn(2, sum(sizes), 8, generator=torch.Generator().manual_seed(case)).unbind(0)
        lo = sum(sizes[:rank])
        la = a[lo : lo + sizes[rank]].clone().requires_grad_()
        lb = b[lo : lo + sizes[rank]].clone().requires_grad_()
        loss = losses.gathered_contrastive_alignment(la, lb, list(sizes), temperature=0.1)
        loss.backward()
        torch.save({"loss": loss.detach(), "a": la.grad, "b": lb.grad}, f"{out}/{case}-{rank}.pt")


@pytest.mark.slow
def test_gathered_contrastive_loss_is_the_one_process_loss(two_processes):
    """Each rank's loss is the one-process loss of the concatenated batch, and the gradient each rank
    gets for its own rows is the one-process gradient of those rows (so their sum over ranks is the
    one-process gradient of the encoders)."""
    for case, sizes in enumerate(SIZES):
        a, b = torch.randn(2, sum(sizes), 8, generator=torch.Generator().manual_seed(case)).unbind(0)
        a.requires_grad_(), b.requires_grad_()
        loss = losses.contrastive_alignment(a, b, temperature=0.1)
        loss.backward()
        ranks = [torch.load(two_processes / f"{case}-{r}.pt") for r in range(2)]
        for r in ranks:
            assert abs(float(r["loss"]) - loss.item()) < 1e-6, (sizes, float(r["loss"]), loss.item())
        assert torch.allclose(torch.cat([r["a"] for r in ranks]), a.grad, atol=1e-6), sizes
        assert torch.allclose(torch.cat([r["b"] for r in ranks]), b.grad, atol=1e-6), sizes
