"""Self-supervised pre-training of each language's encoders on that language's own text (optional).

Before the paper's procedure starts (``train.pretrain_epochs`` > 0), every query encoder reads its
language's training queries and every title encoder its language's training titles with 15% of the
tokens hidden (masked-token prediction, as BERT is pre-trained): the encoder must name each hidden
token from the others. The output layer is the encoder's own token table (with its hashed n-grams),
so the step adds no parameter and changes nothing in the model's shape or checkpoints. No label is
read; the texts are the ones the tokenizers were trained on (training split only).

    ids  [CLS] rote [UNK] damen  ─▶ encoder ─▶ hidden ─▶ hidden · tableᵀ ─▶ "schuhe"

The hidden token is written as ``[UNK]`` (the tokenizers have no ``[MASK]``). Every rank of a
multi-process run does the same pre-training (same seed, same batches), so the copies start equal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlsearch.model import MatchModel, TextEncoder
from mlsearch.specials import FIRST_TOKEN_ID, PAD_ID, UNK_ID


def mask_tokens(ids: torch.Tensor, share: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``: ``share`` of the real tokens hidden as [UNK]; targets -100 elsewhere."""
    real = ids >= FIRST_TOKEN_ID
    chosen = real & (torch.rand(ids.shape, generator=g) < share)
    return ids.masked_fill(chosen, UNK_ID), ids.masked_fill(~chosen, -100)


def mlm_loss(encoder: TextEncoder, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the hidden tokens, scored against the encoder's whole token table."""
    hidden = encoder.bert(input_ids=inputs, attention_mask=(inputs != PAD_ID).long()).last_hidden_state
    table = encoder.bert.embeddings.word_embeddings
    vocab = table(torch.arange(table.weight.shape[0], device=inputs.device))  # [V, d], n-grams included
    picked = targets != -100
    return F.cross_entropy(hidden[picked] @ vocab.T, targets[picked])


def pretrain_encoders(
    model: MatchModel,
    texts: dict[tuple[str, str], torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    share: float = 0.15,
    weight_decay: float = 0.01,
    bar=None,
) -> list[dict]:
    """Masked-token pre-training; ``texts[(key, side)]`` are unique token-id rows of one encoder.

    Returns curve rows (phase ``pretrain``, mean loss per encoder and epoch). A separate AdamW at a
    constant ``lr`` (and the run's ``train.weight_decay``) is used and dropped afterwards: the main
    optimizer and schedule start fresh.
    """
    encoders = {(k, side): (model.query if side == "query" else model.title)[k] for k, side in texts}
    params = list({id(p): p for e in encoders.values() for p in e.parameters()}.values())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
    rows = []
    model.train()
    for epoch in range(epochs):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 101 + 7)
        for key in sorted(texts):
            ids = texts[key]
            total, steps = 0.0, 0
            for idx in torch.randperm(len(ids), generator=g).split(batch_size):
                inputs, targets = mask_tokens(ids[idx].cpu(), share, g)
                if not (targets != -100).any():
                    continue
                loss = mlm_loss(encoders[key], inputs.to(ids.device), targets.to(ids.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, steps = total + float(loss.detach()), steps + 1
                if bar is not None:
                    bar.update(1)
            rows.append({"epoch": 0, "phase": "pretrain", "language": f"{key[0]}/{key[1]}",
                         "loss": total / max(steps, 1), "valid_f1": None})
    return rows


def pretrain_steps(texts: dict[tuple[str, str], torch.Tensor], epochs: int, batch_size: int) -> int:
    """Batches that :func:`pretrain_encoders` runs (for a progress bar)."""
    return epochs * sum(-(-len(t) // batch_size) for t in texts.values())


def pretrain_texts(model: MatchModel, splits: dict, langs: list[str]) -> dict[tuple[str, str], torch.Tensor]:
    """Unique training queries and titles per encoder (``(key, side)``) for masked-token pre-training.

    Languages that share an encoder (``model.encoders: shared``) pool their texts."""
    out: dict[tuple[str, str], list[torch.Tensor]] = {}
    for lang in sorted(langs):
        s = splits[lang, "train"]
        for side, ids in (("query", s.query), ("title", s.title)):
            out.setdefault((model.key(lang), side), []).append(ids)
    texts = {}
    for key, parts in out.items():
        width = max(p.shape[1] for p in parts)
        texts[key] = torch.unique(torch.cat([F.pad(p, (0, width - p.shape[1]), value=PAD_ID) for p in parts]), dim=0)
    return texts
