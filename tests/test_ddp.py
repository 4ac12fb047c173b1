"""Data parallel training: two gloo CPU processes give the weights and metrics of one process."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from synthetic_pairs import make_dataset, tiny_config

from mlsearch import losses
from mlsearch.train import train_and_evaluate

OVER = {"train.epochs": 2, "train.batch_size": 15, "model.dropout": 0.0}  # odd batch: unequal shards


def _init(rank: int, world: int, port: int) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)


def _worker(rank: int, world: int, port: int, out: str, align_loss: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        ds = make_dataset(("en", "de"), queries=10)
        train_and_evaluate(tiny_config(["en", "de"], **OVER, **{"train.align_loss": align_loss}), out, ds, progress=False)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("align_loss", ["cosine", "contrastive"])
def test_two_processes_match_one(tmp_path, align_loss):
    torch.set_num_threads(1)
    ds = make_dataset(("en", "de"), queries=10)
    one = train_and_evaluate(tiny_config(["en", "de"], **OVER, **{"train.align_loss": align_loss}), tmp_path / "one", ds, progress=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two"), align_loss), nprocs=2, join=True)
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    w1 = load_file(str(tmp_path / "one" / "checkpoints" / "last.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "checkpoints" / "last.safetensors"))
    for k, v in w1.items():
        if k.startswith("model."):
            assert torch.allclose(v, w2[k], atol=1e-4), k
    assert json.loads((tmp_path / "two" / "run_info.json").read_text())["world_size"] == 2
    for lang in ("en", "de"):
        assert abs(one["eval"][lang]["f1"] - two["eval"][lang]["f1"]) < 0.02
        assert abs(one["eval"][lang]["roc_auc"] - two["eval"][lang]["roc_auc"]) < 0.02


SIZES = [(4, 3), (1, 0)]  # rows per rank: unequal shards; a rank with no rows


def _gather_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    _init(rank, world, port)
    try:
        for case, sizes in enumerate(SIZES):
            a, b = torch.randn(2, sum(sizes), 8, generator=torch.Generator().manual_seed(case)).unbind(0)
            lo = sum(sizes[:rank])
            la = a[lo : lo + sizes[rank]].clone().requires_grad_()
            lb = b[lo : lo + sizes[rank]].clone().requires_grad_()
            loss = losses.gathered_contrastive_alignment(la, lb, list(sizes), temperature=0.1)
            loss.backward()
            torch.save({"loss": loss.detach(), "a": la.grad, "b": lb.grad}, f"{out}/{case}-{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_contrastive_loss_is_the_one_process_loss(tmp_path):
    """Each rank's loss is the one-process loss of the concatenated batch, and the gradient each rank
    gets for its own rows is the one-process gradient of those rows (so their sum over ranks is the
    one-process gradient of the encoders)."""
    mp.spawn(_gather_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for case, sizes in enumerate(SIZES):
        a, b = torch.randn(2, sum(sizes), 8, generator=torch.Generator().manual_seed(case)).unbind(0)
        a.requires_grad_(), b.requires_grad_()
        loss = losses.contrastive_alignment(a, b, temperature=0.1)
        loss.backward()
        ranks = [torch.load(tmp_path / f"{case}-{r}.pt") for r in range(2)]
        for r in ranks:
            assert abs(float(r["loss"]) - loss.item()) < 1e-6, (sizes, float(r["loss"]), loss.item())
        assert torch.allclose(torch.cat([r["a"] for r in ranks]), a.grad, atol=1e-6), sizes
        assert torch.allclose(torch.cat([r["b"] for r in ranks]), b.grad, atol=1e-6), sizes
