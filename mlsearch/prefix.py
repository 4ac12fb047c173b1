"""The frozen bottom of a pretrained encoder, run once per text.

With ``model.freeze_embeddings`` and ``model.freeze_layers: k`` the token table and the first k
layers never change, so neither does their output for a given text. :class:`FrozenPrefix` computes
that output once per distinct token sequence and keeps it; an encoder then trains only its top
layers on it (``model.prefix_cache``, on by default). A whole 12-layer checkpoint with its top 2
layers trained costs per step about what a 2-layer copy costs (``python -m mlsearch bench``, row
``e5 full-depth``); each distinct text pays the frozen layers once.

- Keys are the checkpoint's own token ids, so every language's copy, both sides (query, title, or a
  cross-encoder's joined pair) and every run in the process share one store per (checkpoint, k).
- The frozen layers run in eval mode (no dropout): a fixed feature extractor, which caching needs.
  Without the cache (``model.prefix_cache: false``) they run every step, with dropout in training;
  in eval mode both give the same logits (tests/test_prefix.py).
- Stored vectors stay on the device in float32; a batch is padded to its longest row.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers.masking_utils import create_bidirectional_mask

from mlsearch.errors import ConfigError
from mlsearch.pretrained import _base, _layers

#: Rows computed per forward when the store fills (sorted by length, so little padding).
FILL_BATCH = 256


def uses_cache(cfg) -> bool:
    """Whether a ModelConfig's encoders read the frozen prefix from the cache."""
    return bool(cfg.pretrained and cfg.prefix_cache and cfg.freeze_embeddings and cfg.freeze_layers)


class FrozenPrefix:
    """Token table + first ``layers`` layers of checkpoint ``name``, and the outputs computed so far.

    Not a module: it holds no trainable weights and is not saved with a model (the checkpoint is).
    """

    def __init__(self, name: str, layers: int) -> None:
        base = _base(name)
        owner, attr = _layers(base)
        if owner is not getattr(base, "encoder", None):
            raise ConfigError(f"model.prefix_cache supports BERT-like encoders, not {type(base).__name__}",
                              "model.prefix_cache", "set model.prefix_cache=false")
        self.name, self.n_layers, self.config = name, layers, base.config
        self.embeddings = copy.deepcopy(base.embeddings).eval().requires_grad_(False)
        self.layers = nn.ModuleList(copy.deepcopy(list(getattr(owner, attr))[:layers])).eval().requires_grad_(False)
        self.store: dict[bytes, torch.Tensor] = {}
        self.pad_id = base.config.pad_token_id if base.config.pad_token_id is not None else 0

    def __deepcopy__(self, memo) -> FrozenPrefix:  # a copied model shares the store, never copies it
        return self

    def __len__(self) -> int:
        return len(self.store)

    @torch.no_grad()
    def _compute(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.embeddings.word_embeddings.weight.device != ids.device:
            self.embeddings.to(ids.device)
            self.layers.to(ids.device)
        hidden = self.embeddings(input_ids=ids)
        return run_layers(self.layers, self.config, hidden, mask)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Outputs ``[B, L, H]`` of the frozen layers for checkpoint ids ``[B, L]`` (right-padded, ``mask``
        marks tokens); padding positions are zeros (the layers above mask them)."""
        lengths = mask.sum(1).tolist()
        rows = ids.cpu().numpy()
        keys = [rows[i, :n].astype(np.int64).tobytes() for i, n in enumerate(lengths)]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.store}.values(), key=lambda i: lengths[i])
        for start in range(0, len(missing), FILL_BATCH):
            part = missing[start : start + FILL_BATCH]
            width = max(lengths[i] for i in part)
            idx = torch.tensor(part, device=ids.device)
            out = self._compute(ids[idx, :width], mask[idx, :width])
            for j, i in enumerate(part):
                self.store[keys[i]] = out[j, : lengths[i]].clone()
        hidden = pad_sequence([self.store[k] for k in keys], batch_first=True)
        if hidden.shape[1] < ids.shape[1]:
            hidden = nn.functional.pad(hidden, (0, 0, 0, ids.shape[1] - hidden.shape[1]))
        return hidden


@functools.lru_cache(maxsize=4)
def frozen_prefix(name: str, layers: int) -> FrozenPrefix:
    """The process's one store for (checkpoint, frozen layers): shared by every encoder and run."""
    return FrozenPrefix(name, layers)


def run_layers(layers: nn.ModuleList, config, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BERT layers over ``hidden [B, L, H]`` with padding ``mask [B, L]`` (the mask the checkpoint's
    attention implementation expects, as ``BertModel`` builds it)."""
    attn = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask.long())
    for layer in layers:
        hidden = layer(hidden, attn)
        if isinstance(hidden, tuple):  # older layer signatures return (hidden, ...)
            hidden = hidden[0]
    return hidden


def top_only(body: nn.Module, frozen: int) -> nn.Module:
    """``body`` without its token table and first ``frozen`` layers (the prefix holds them): the copy an
    encoder trains and a checkpoint saves."""
    owner, attr = _layers(body)
    setattr(owner, attr, nn.ModuleList(list(getattr(owner, attr))[frozen:]))
    width = body.get_input_embeddings().embedding_dim
    body.set_input_embeddings(nn.Embedding.from_pretrained(torch.zeros(1, width)))  # placeholder (no RNG draw): the prefix embeds
    if getattr(body, "embeddings", None) is not None:
        body.embeddings.requires_grad_(False)  # positions and their norm: part of the frozen prefix, unused here
    return body
