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

import torch
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


ALIGNMENT = {"l2": l2_alignment, "cosine": cosine_alignment}
