"""The model: per language a query encoder and a title encoder, and ONE classifier shared by all.

    query ids ─▶ query encoder[lang] ─▶ q ┐
                                          ├─▶ q ⊙ t (Hadamard) ─▶ MLP ─▶ logit
    title ids ─▶ title encoder[lang] ─▶ t ┘

An encoder is a BERT-style transformer (``transformers.BertModel``, SDPA attention, trained from
scratch unless ``model.pretrained`` names a local folder), pooled over non-padding tokens (mean, or
the [CLS] position) and linearly projected to ``proj_dim``: the shared space that alignment pulls
languages together in. ``model.encoders: shared`` keys every language to one pair of encoders.
``model.tie_embeddings`` lets the query and title encoders of a language share their token table
(their transformer layers stay separate).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel

from mlsearch.config import ModelConfig
from mlsearch.text import PAD_ID

SHARED = "shared"


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` (0 = padding) → projected vectors ``[B, proj_dim]``."""

    def __init__(self, cfg: ModelConfig, vocab_size: int, max_len: int) -> None:
        super().__init__()
        if cfg.pretrained:
            # A local folder saved with ``save_pretrained``; its vocabulary must be the one the
            # tokenizer produces (train.py then uses the folder's tokenizer.json for every language).
            self.bert = BertModel.from_pretrained(cfg.pretrained, add_pooling_layer=False, attn_implementation="sdpa")
        else:
            config = BertConfig(
                vocab_size=vocab_size,
                hidden_size=cfg.d_model,
                num_hidden_layers=cfg.layers,
                num_attention_heads=cfg.heads,
                intermediate_size=cfg.ff_dim,
                hidden_dropout_prob=cfg.dropout,
                attention_probs_dropout_prob=cfg.dropout,
                max_position_embeddings=max_len + 2,
                pad_token_id=PAD_ID,
                attn_implementation="sdpa",
            )
            self.bert = BertModel(config, add_pooling_layer=False)
        self.pooling = cfg.pooling
        self.proj = nn.Linear(self.bert.config.hidden_size, cfg.proj_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != PAD_ID
        hidden = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.proj(pooled)


class Classifier(nn.Module):
    """Shared by all languages: combine(q, t) → MLP → one logit. ``hadamard`` is the paper's q ⊙ t."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.combine = cfg.combine
        width = cfg.proj_dim * (2 if cfg.combine == "concat" else 1)
        layers: list[nn.Module] = []
        for hidden in cfg.classifier_hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def features(self, q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return q * t if self.combine == "hadamard" else torch.cat([q, t], dim=-1)

    def forward(self, q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(q, t)).squeeze(-1)


class MatchModel(nn.Module):
    """Encoders keyed by language (or :data:`SHARED`) and one classifier.

    ``vocab_sizes`` maps an encoder key to its tokenizer's vocabulary size, so adding a language
    later (zero-shot) means adding its two encoders under a new key.
    """

    def __init__(self, cfg: ModelConfig, vocab_sizes: dict[str, int]) -> None:
        super().__init__()
        self.cfg = cfg
        self.query = nn.ModuleDict({k: TextEncoder(cfg, v, cfg.query_len) for k, v in sorted(vocab_sizes.items())})
        self.title = nn.ModuleDict({k: TextEncoder(cfg, v, cfg.title_len) for k, v in sorted(vocab_sizes.items())})
        self.classifier = Classifier(cfg)
        if cfg.tie_embeddings:
            # Same tokenizer on both sides of a language: one token table lets a word in the query
            # and the same word in a title start from the same vector (see ModelConfig).
            for k in self.query:
                self.title[k].bert.embeddings.word_embeddings = self.query[k].bert.embeddings.word_embeddings

    def key(self, lang: str) -> str:
        return SHARED if self.cfg.encoders == "shared" else lang

    def encode(self, lang: str, side: str, ids: torch.Tensor) -> torch.Tensor:
        """Projected vectors of queries (``side="query"``) or titles (``"title"``) of one language."""
        encoders = self.query if side == "query" else self.title
        return encoders[self.key(lang)](ids)

    def forward(self, lang: str, query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
        """Match logits ``[B]`` for query–title pairs of one language."""
        return self.classifier(self.encode(lang, "query", query_ids), self.encode(lang, "title", title_ids))


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
