"""Classification and alignment losses.

Alignment losses take two batches of projected vectors ``a, b: [B, D]`` where row i of ``a`` and row i
of ``b`` encode mapped texts (the same product's titles, or queries that led to the same product) in
two languages, and return a scalar to minimise:

>>> import torch
>>> a = torch.tensor([[1.0, 0.0]]); b = torch.tensor([[0.0, 1.0]])
>>> float(cosine_alignment(a, b))  # orthogonal → 1 − cos = 1
1.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy of the match logit against 0/1 labels."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction=reduction)


def l2_alignment(a: torch.Tensor, b: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared Euclidean distance between mapped rows (can be met by shrinking all vectors)."""
    d = (a.float() - b.float()).pow(2).sum(-1)
    return d.mean() if reduction == "mean" else d.sum()


def cosine_alignment(a: torch.Tensor, b: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """1 − cosine similarity of mapped rows: scale-free, so it cannot be met by shrinking."""
    d = 1.0 - F.cosine_similarity(a.float(), b.float(), dim=-1)
    return d.mean() if reduction == "mean" else d.sum()


def contrastive_alignment(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives: row i of ``a`` must pick row i of ``b`` and back."""
    a = F.normalize(a.float(), dim=-1)
    b = F.normalize(b.float(), dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The rows of every rank in rank order (``sizes[r]`` rows from rank ``r``; ``x`` is this rank's).

    The other ranks' rows arrive without gradient and this rank's own rows are the live ``x``, so a
    loss of the result sends gradient to the local rows only: summed over ranks, that is the gradient
    of the loss of the whole batch. No collective runs in the backward pass (DDP's gradient
    all-reduces run there), and shards of unequal size (a batch that does not divide by the number
    of ranks) are padded for the all-gather and cut back after it.
    """
    if len(x) != sizes[dist.get_rank()]:
        raise ValueError(f"this rank has {len(x)} rows but sizes say {sizes[dist.get_rank()]}")
    width = max(sizes)
    buf = F.pad(x.detach(), (0, 0, 0, width - len(x))).contiguous()
    parts = [torch.empty_like(buf) for _ in sizes]
    dist.all_gather(parts, buf)
    parts[dist.get_rank()] = x
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


def gathered_contrastive_alignment(a: torch.Tensor, b: torch.Tensor, sizes: list[int], temperature: float = 0.1) -> torch.Tensor:
    """:func:`contrastive_alignment` of the whole batch when each rank holds a shard of it.

    Every rank scores its rows against the rows of ALL ranks (the negatives of the one-process
    loss), so each returns the one-process loss of the batch (ranks' rows concatenated in rank
    order), with gradient reaching its own rows (see :func:`gather_rows`).
    """
    d = a.shape[-1]
    both = gather_rows(torch.cat([a, b], dim=-1), sizes)  # one all-gather for the two sides
    return contrastive_alignment(both[:, :d], both[:, d:], temperature)


@dataclass(frozen=True)
class Objective:
    """One alignment objective, as the training step calls it.

    ``loss(a, b, rows, temperature)``: this rank's share of the loss of a batch of ``rows`` mapped
    pairs (``a``, ``b`` are this rank's rows; in one process, the whole batch). ``sharded``: for an
    objective whose rows interact (in-batch negatives), the whole batch's loss when its rows are
    sharded over ranks (``(a, b, sizes, temperature)``, see :func:`gathered_contrastive_alignment`);
    None when a sum over rows needs no other rank's rows.
    """

    loss: Callable[[torch.Tensor, torch.Tensor, int, float], torch.Tensor]
    sharded: Callable[[torch.Tensor, torch.Tensor, list[int], float], torch.Tensor] | None = None
    description: str = ""


#: Alignment objectives by ``train.align_loss`` name: the list the loop, the kinds, the study and the
#: plots read (the config's ``align_loss`` type names the same; tests/test_model.py keeps them equal).
ALIGNMENT: dict[str, Objective] = {
    "contrastive": Objective(lambda a, b, rows, temp: contrastive_alignment(a, b, temp), gathered_contrastive_alignment,
                             "symmetric InfoNCE with in-batch negatives (cannot collapse)"),
    "cosine": Objective(lambda a, b, rows, temp: cosine_alignment(a, b, reduction="sum") / rows, None,
                        "1 - cosine of mapped pairs"),
    "l2": Objective(lambda a, b, rows, temp: l2_alignment(a, b, reduction="sum") / rows, None,
                    "squared distance of mapped pairs"),
}
