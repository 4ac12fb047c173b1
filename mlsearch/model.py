"""The model: per language a query encoder and a title encoder, and ONE classifier shared by all.

    query ids ─▶ query encoder[lang] ─▶ q ┐
                                          ├─▶ q ⊙ t (Hadamard) ─▶ MLP ─▶ logit
    title ids ─▶ title encoder[lang] ─▶ t ┘

An encoder is a BERT-style transformer (``transformers.BertModel``, SDPA attention, trained from
scratch; or a copy of the ``AutoModel`` checkpoint ``model.pretrained`` names, mlsearch/pretrained.py), pooled over non-padding tokens (mean, or
the [CLS] position) and linearly projected to ``proj_dim``: the shared space that alignment pulls
languages together in. ``model.encoders: shared`` keys every language to one pair of encoders.
``model.tie_embeddings`` lets the query and title encoders of a language share their token table
(their transformer layers stay separate), ``model.tie_projection`` their projection.

Options that make the model learn from a few thousand pairs (see ModelConfig for the evidence):
``model.subword_buckets`` adds hashed character n-grams to every token's vector (word hashing),
``model.similarity`` lets the sum of the Hadamard product (the dot product or cosine of q and t)
reach the logit directly, next to the MLP over q ⊙ t, and ``model.interaction`` (late interaction)
adds, from the two encoders' token vectors, each query token's best cosine among the title's tokens:

    query tokens ─▶ token_proj ┐
                               ├─▶ max over title tokens ─▶ mean, min, learned-weight mean over query tokens ─▶ + logit
    title tokens ─▶ token_proj ┘

(``model.term_weights``: the weights are a softmax over the query's tokens of a learned score of each
query token vector, so the words that decide a match can count more.)
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel

from mlsearch.config import ModelConfig, RunConfig
from mlsearch.errors import ConfigError
from mlsearch.prefix import frozen_prefix, run_layers, top_only, uses_cache
from mlsearch.pretrained import hidden_size, load_body
from mlsearch.specials import PAD_ID

SHARED = "shared"
#: Character n-grams kept per token (the longest tokens lose their longest n-grams beyond this).
MAX_NGRAMS = 32


def token_ngrams(token: str, n_min: int, n_max: int, buckets: int) -> list[int]:
    """Hash buckets ``1..buckets`` of the character n-grams of one vocabulary token (0 is padding).

    A word-initial piece is marked ``<`` (``scarpe`` → ``<sc``, ``sca`` … ``<scarpe``); a WordPiece
    continuation (``##pe``) is not, so ``##pe`` and the ``pe`` inside ``scarpe`` share n-grams. The
    whole marked piece is one more n-gram (fastText's word itself). Special tokens ([PAD], [CLS],
    [UNK]) get none. crc32 is the hash: stable across processes, unlike Python's ``hash``.
    """
    if token.startswith("[") and token.endswith("]"):
        return []
    text = token[2:] if token.startswith("##") else "<" + token
    grams = {text} | {text[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(text) - n + 1)}
    # at most MAX_NGRAMS, the shortest first: they are the ones other words share
    kept = sorted(grams, key=lambda g: (len(g), g))[:MAX_NGRAMS]
    return sorted({1 + zlib.crc32(g.encode("utf-8")) % buckets for g in kept})


class HashedTokenEmbedding(nn.Module):
    """Token table + hashed character n-grams (DSSM's word hashing, fastText's subword buckets).

    A token's vector is its own row plus the sum of its n-gram rows scaled by 1/√(number of
    n-grams), so typos, plurals, compounds and accents that share n-grams share parameters. The
    n-gram ids of each vocabulary entry are a buffer (saved with the weights); ``tokens`` (the
    vocabulary in id order) fills it, and a model built without them gets it from its checkpoint.
    """

    def __init__(self, vocab_size: int, dim: int, buckets: int, n_min: int, n_max: int, tokens: list[str] | None) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.grams = nn.Embedding(buckets + 1, dim, padding_idx=0)
        for table in (self.word, self.grams):
            nn.init.normal_(table.weight, std=0.02)
            table.weight.data[0].zero_()
        ids = torch.zeros(vocab_size, MAX_NGRAMS, dtype=torch.long)
        if tokens is not None:
            for i, token in enumerate(tokens[:vocab_size]):
                g = token_ngrams(token, n_min, n_max, buckets)
                ids[i, : len(g)] = torch.tensor(g, dtype=torch.long)
        self.register_buffer("ngram_ids", ids)
        counts = (ids > 0).sum(1, keepdim=True).clamp_min(1)
        self.register_buffer("ngram_weights", (ids > 0).float() / counts.float().sqrt())

    @property
    def weight(self) -> torch.Tensor:  # what code reading ``word_embeddings.weight`` expects
        return self.word.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1)
        grams = F.embedding_bag(
            self.ngram_ids[flat], self.grams.weight, per_sample_weights=self.ngram_weights[flat], mode="sum", padding_idx=0
        )
        return self.word(ids) + grams.view(*ids.shape, -1)


class Centre(nn.Module):
    """Subtracts a running mean of an encoder's token vectors (``model.centre``).

    The upper layers of a pretrained sentence encoder are anisotropic: every text's vectors share one
    large component (e5-small's last layer: cosine ~0.8 between any two titles), so the cosine and
    late-interaction paths start saturated (every pair's logit ~+8) and Adam, moving each weight by
    about the learning rate per step, cannot bring them back within a few hundred steps. The mean is
    set from the first training batch, then follows later batches (momentum 0.01); eval mode reads
    it. A buffer: saved with the weights, so a resumed run continues from it.
    """

    def __init__(self, width: int, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("batches", torch.zeros((), dtype=torch.long))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                batch = hidden[mask].float().mean(0)
                rate = 1.0 if int(self.batches) == 0 else self.momentum
                self.mean.mul_(1.0 - rate).add_(batch, alpha=rate)
                self.batches += 1
        return hidden - self.mean.to(hidden.dtype)


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` (0 = padding) → projected vectors ``[B, proj_dim]``."""

    def __init__(
        self, cfg: ModelConfig, vocab_size: int, max_len: int, tokens: list[str] | None = None, kept: list[int] | None = None
    ) -> None:
        super().__init__()
        self.prefix = None
        if cfg.pretrained:
            # a copy of the checkpoint whose token table holds the rows ``kept`` (mlsearch/pretrained.py)
            kept = kept if kept is not None else list(range(vocab_size))
            self.bert = load_body(cfg, kept)
            if uses_cache(cfg):  # the frozen bottom runs once per text (mlsearch/prefix.py); the copy keeps the top
                self.prefix = frozen_prefix(cfg.pretrained, cfg.freeze_layers)
                self.bert = top_only(self.bert, cfg.freeze_layers)
                self.register_buffer("kept", torch.tensor(kept, dtype=torch.long), persistent=False)
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
            if cfg.subword_buckets:
                n_min, n_max = cfg.subword_ngrams
                self.bert.embeddings.word_embeddings = HashedTokenEmbedding(
                    vocab_size, cfg.d_model, cfg.subword_buckets, n_min, n_max, tokens
                )
        self.pooling = cfg.pooling
        width = hidden_size(self.bert)
        self.centre = Centre(width) if cfg.centre else None
        self.proj = nn.Linear(width, cfg.proj_dim)
        # the token vectors of late interaction get their own projection: the pooled space stays the
        # one alignment shapes (sharing it weakened alignment: see ModelConfig.interaction)
        self.token_proj = nn.Linear(width, cfg.proj_dim) if cfg.interaction != "none" else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(ids, tokens=False)[0]

    def forward_tokens(self, ids: torch.Tensor, tokens: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``(pooled [B, P], projected token vectors [B, L, P] or None, mask [B, L])``.

        The token vectors (every position through ``token_proj``) serve the late-interaction path of
        ``model.interaction``; the pooled vector is what the classifier and alignment see.
        """
        mask = ids != PAD_ID
        if self.prefix is not None:
            bottom = self.prefix(self.kept[ids], mask)
            hidden = run_layers(self.bert.encoder.layer, self.bert.config, bottom, mask)
        else:
            offset = getattr(self.bert, "position_offset", None)  # a RoBERTa-like checkpoint's (pretrained.load_body)
            extra = {} if offset is None else {"position_ids": mask.long().cumsum(1) * mask + offset}
            hidden = self.bert(input_ids=ids, attention_mask=mask.long(), **extra).last_hidden_state
        if self.centre is not None:
            hidden = self.centre(hidden, mask)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.proj(pooled), (self.token_proj(hidden) if tokens else None), mask


class Classifier(nn.Module):
    """Shared by all languages: combine(q, t) → MLP → one logit. ``hadamard`` is the paper's q ⊙ t."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.combine = cfg.combine
        self.mlp = mlp(cfg.proj_dim * (2 if cfg.combine == "concat" else 1), cfg)
        self.similarity = cfg.similarity
        if cfg.similarity != "none":
            # the weight of Σ(q ⊙ t) in the logit, learned; cosine starts at 5 (cos ∈ [−1, 1])
            self.sim_weight = nn.Parameter(torch.tensor(5.0 if cfg.similarity == "cosine" else 1.0))
        self.term_weight: nn.Linear | None = None
        if cfg.interaction == "maxsim":
            # weights of the mean, the minimum and (term_weights) the weighted mean over query tokens of
            # their best cosine in the title
            self.interaction_weight = nn.Parameter(torch.tensor([5.0, 1.0, 5.0][: 2 + cfg.term_weights]))
            if cfg.term_weights:
                self.term_weight = nn.Linear(cfg.proj_dim, 1)  # query token vector → its score

    def features(self, q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return q * t if self.combine == "hadamard" else torch.cat([q, t], dim=-1)

    def forward(self, q: torch.Tensor, t: torch.Tensor, interaction: TokenMatch | None = None) -> torch.Tensor:
        logit = self.mlp(self.features(q, t)).squeeze(-1)
        if interaction is not None:  # late interaction (see token_match): pooled, learned weights
            scores = None if self.term_weight is None else self.term_weight(interaction.q_tokens).squeeze(-1)
            feats = pool_similarity(interaction.best, interaction.valid, scores)
            logit = logit + (feats.to(logit.dtype) * self.interaction_weight).sum(-1)
        if self.similarity == "dot":
            logit = logit + self.sim_weight * (q * t).sum(-1)
        elif self.similarity == "cosine":
            logit = logit + self.sim_weight * F.cosine_similarity(q.float(), t.float(), dim=-1).to(logit.dtype)
        return logit


def mlp(width: int, cfg: ModelConfig) -> nn.Sequential:
    """``classifier_hidden`` layers (ReLU, dropout) from ``width`` to one logit."""
    layers: list[nn.Module] = []
    for hidden in cfg.classifier_hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class TokenMatch(NamedTuple):
    """Late interaction of a batch of pairs, before pooling over the query's tokens."""

    best: torch.Tensor  #: [B, Lq] each query token's best cosine among the title's tokens
    valid: torch.Tensor  #: [B, Lq] the query tokens that count (not [CLS], not padding)
    q_tokens: torch.Tensor  #: [B, Lq, P] the query's projected token vectors (term weights read them)


def token_match(q: torch.Tensor, q_mask: torch.Tensor, t: torch.Tensor, t_mask: torch.Tensor) -> TokenMatch:
    """Late interaction (ColBERT's MaxSim): for each query token its best cosine among the title's tokens.

    ``q [B, Lq, P]``, ``t [B, Lt, P]`` are the encoders' projected token vectors, masks mark
    non-padding tokens; position 0 ([CLS]) is left out on both sides. The vectors are contextual
    outputs of the encoders, learned end to end; nothing is counted by hand.
    """
    q_tokens = q
    q = F.normalize(q.float(), dim=-1)
    t = F.normalize(t.float(), dim=-1)
    sim = torch.einsum("bip,bjp->bij", q, t)
    t_valid = t_mask.clone()
    t_valid[:, 0] = False
    sim = sim.masked_fill(~t_valid.unsqueeze(1), -1.0)
    best = sim.max(-1).values  # [B, Lq]
    q_valid = q_mask.clone()
    q_valid[:, 0] = False
    return TokenMatch(best, q_valid, q_tokens)


def pool_similarity(best: torch.Tensor, valid: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, 2]`` (or ``[B, 3]`` with ``scores``): over the valid query tokens, the mean and the minimum of
    their best cosines — a query word that no title word answers (the colour or the target group a title
    does not have) lowers the score — and their mean weighted by ``softmax(scores)`` (term weights)."""
    n = valid.sum(1).clamp_min(1)
    feats = [(best * valid).sum(1) / n, best.masked_fill(~valid, 1.0).min(1).values]
    if scores is not None:
        w = scores.float().masked_fill(~valid, -1e4).softmax(-1) * valid  # a query of [CLS] only: 0
        feats.append((w * best).sum(1))
    return torch.stack(feats, dim=-1)


class MatchModel(nn.Module):
    """Encoders keyed by language (or :data:`SHARED`) and one classifier.

    ``vocab_sizes`` maps an encoder key to its tokenizer's vocabulary size, so adding a language
    later (zero-shot) means adding its two encoders under a new key. ``vocabs`` (the same keys, the
    vocabulary in id order) fills the n-gram tables of ``model.subword_buckets``; without it they
    come from the checkpoint. ``kept`` (the same keys) are the checkpoint token ids each copy of a
    pretrained encoder keeps (:class:`mlsearch.pretrained.PrunedVocab`).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_sizes: dict[str, int],
        vocabs: dict[str, list[str]] | None = None,
        kept: dict[str, list[int]] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        vocabs, kept = vocabs or {}, kept or {}
        sizes = sorted(vocab_sizes.items())
        self.query = nn.ModuleDict({k: TextEncoder(cfg, v, cfg.query_len, vocabs.get(k), kept.get(k)) for k, v in sizes})
        self.title = nn.ModuleDict({k: TextEncoder(cfg, v, cfg.title_len, vocabs.get(k), kept.get(k)) for k, v in sizes})
        self.classifier = Classifier(cfg)
        for k in self.query:
            # Same tokenizer on both sides of a language: one token table lets a word in the query
            # and the same word in a title start from the same vector (see ModelConfig); one
            # projection keeps them the same after it.
            if cfg.tie_embeddings and self.query[k].prefix is None:
                self.title[k].bert.embeddings.word_embeddings = self.query[k].bert.embeddings.word_embeddings
            if cfg.tie_projection:
                self.title[k].proj = self.query[k].proj
                self.title[k].token_proj = self.query[k].token_proj

    def key(self, lang: str) -> str:
        return SHARED if self.cfg.encoders == "shared" else lang

    def encode(self, lang: str, side: str, ids: torch.Tensor) -> torch.Tensor:
        """Projected vectors of queries (``side="query"``) or titles (``"title"``) of one language."""
        encoders = self.query if side == "query" else self.title
        return encoders[self.key(lang)](ids)

    def language_encoders(self) -> dict[str, LanguageEncoders]:
        """Per encoder key, its query and title encoders as one module (see :class:`LanguageEncoders`)."""
        return {k: LanguageEncoders(self.query[k], self.title[k]) for k in self.query}

    def forward(self, lang: str, query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
        """Match logits ``[B]`` for query–title pairs of one language."""
        k = self.key(lang)
        return self.pair_logits(LanguageEncoders(self.query[k], self.title[k]), self.classifier, query_ids, title_ids)

    def pair_logits(self, encoders: nn.Module, classifier: nn.Module, query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
        """Logits through ``encoders`` (one language's, or their DDP wrapper) and ``classifier``: what the
        training step calls, so the loop never asks which architecture it trains."""
        return match_logits(encoders, classifier, query_ids, title_ids, self.cfg.interaction != "none")


class LanguageEncoders(nn.Module):
    """One encoder key's query and title encoders as a module of their own: the unit that one
    DistributedDataParallel wrapper covers (a training step uses one or two of them and the classifier).

    A view: :class:`MatchModel` does not register it, so the parameters keep their names there.
    """

    def __init__(self, query: TextEncoder, title: TextEncoder) -> None:
        super().__init__()
        self.query, self.title = query, title

    def forward(
        self, *texts: tuple[str, torch.Tensor], tokens: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
        """``(pooled, token vectors, mask)`` of each ``(side, ids)``, the last two only with ``tokens``.

        Several texts in one call, since a DDP wrapper takes one forward per backward (an alignment
        step of shared encoders reads two texts). Without ``tokens`` the encoder is called as a module,
        so an encoder compiled in place (``train.compile``) runs compiled.
        """
        out = []
        for side, ids in texts:
            encoder = self.query if side == "query" else self.title
            out.append(encoder.forward_tokens(ids) if tokens else (encoder(ids), None, None))
        return out


def match_logits(
    encoders: nn.Module, classifier: nn.Module, query_ids: torch.Tensor, title_ids: torch.Tensor, interaction: bool
) -> torch.Tensor:
    """Match logits from one language's :class:`LanguageEncoders` and the classifier, or their DDP
    wrappers: ``MatchModel.forward`` and the training step compute the same function through it."""
    (q, q_tok, q_mask), (t, t_tok, t_mask) = encoders(("query", query_ids), ("title", title_ids), tokens=interaction)
    if not interaction:
        return classifier(q, t)
    return classifier(q, t, token_match(q_tok, q_mask, t_tok, t_mask))


class CrossModel(nn.Module):
    """``model.architecture: cross`` (kind ``cross``), a cross-encoder: query and title read as one sequence.

        <s> query </s> title </s> ─▶ encoder[lang] ─▶ pooled ─▶ MLP ─▶ logit

    What a practitioner picks instead of two towers: every layer sees both texts, but every pair costs
    a forward pass (two towers encode each title once). The pair is joined from the query's and the
    title's ids (:func:`join_pair`), so data, batches and selection are the two-tower model's. No
    alignment: there are no separate query and title vectors to pull together.
    """

    def __init__(self, cfg: ModelConfig, vocab_sizes: dict[str, int], vocabs: dict[str, list[str]] | None = None,
                 kept: dict[str, list[int]] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        vocabs, kept = vocabs or {}, kept or {}
        length = cfg.query_len + cfg.title_len
        self.pair = nn.ModuleDict({k: TextEncoder(cfg, v, length, vocabs.get(k), kept.get(k)) for k, v in sorted(vocab_sizes.items())})
        self.classifier = mlp(cfg.proj_dim, cfg)

    def key(self, lang: str) -> str:
        return SHARED if self.cfg.encoders == "shared" else lang

    def language_encoders(self) -> dict[str, nn.Module]:
        return dict(self.pair)

    def encode(self, lang: str, side: str, ids: torch.Tensor) -> torch.Tensor:
        raise ConfigError("a cross-encoder has no query or title vectors of its own", "model.architecture",
                          "score pairs with Scorer.score, or use a two-tower model for vectors")

    def pair_logits(self, encoder: nn.Module, classifier: nn.Module, query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
        return classifier(encoder(join_pair(query_ids, title_ids))).squeeze(-1)

    def forward(self, lang: str, query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
        return self.pair_logits(self.pair[self.key(lang)], self.classifier, query_ids, title_ids)


def join_pair(query_ids: torch.Tensor, title_ids: torch.Tensor) -> torch.Tensor:
    """``[B, Lq]`` + ``[B, Lt]`` right-padded ids → one right-padded row per pair: the query's tokens,
    then the title's without its first (start) token: ``<s> q </s> t </s>`` with a checkpoint's
    tokenizer, ``[CLS] q t`` with one trained here."""
    lq = (query_ids != PAD_ID).sum(1)
    lt = (title_ids != PAD_ID).sum(1).clamp_min(1) - 1
    width = max(int((lq + lt).max()), 1) if len(lq) else 1
    out = torch.zeros(len(lq), width, dtype=query_ids.dtype, device=query_ids.device)
    cols = torch.arange(query_ids.shape[1], device=query_ids.device)
    rows, at = torch.nonzero(cols[None] < lq[:, None], as_tuple=True)
    out[rows, at] = query_ids[rows, at]
    cols = torch.arange(max(title_ids.shape[1] - 1, 0), device=title_ids.device)
    rows, at = torch.nonzero(cols[None] < lt[:, None], as_tuple=True)
    out[rows, lq[rows] + at] = title_ids[rows, at + 1]
    return out


def tokenizer_key(cfg: RunConfig, lang: str) -> str:
    """One tokenizer per language, or one for all (shared vocabulary; a pretrained checkpoint's
    tokenizer pruned once for a shared encoder)."""
    shared = cfg.model.shared_vocab or (cfg.model.pretrained and cfg.model.encoders == "shared")
    return SHARED if shared else lang


def build_model(cfg: RunConfig, toks: dict, langs: list[str], ngrams: bool = True) -> MatchModel | CrossModel:
    """A fresh MatchModel with an encoder pair per encoder key of ``langs``, sized by their tokenizers ``toks``.

    ``ngrams=False`` leaves the n-gram tables empty (a checkpoint about to be loaded fills them); a
    pretrained copy keeps the token rows its tokenizer's file lists.
    """
    by_key = {SHARED if cfg.model.encoders == "shared" else lang: toks[tokenizer_key(cfg, lang)] for lang in langs}
    vocab = {k: t.get_vocab_size() for k, t in by_key.items()}
    tokens = {k: vocab_tokens(t) for k, t in by_key.items()} if ngrams and cfg.model.subword_buckets else None
    kept = {k: t.kept for k, t in by_key.items()} if cfg.model.pretrained else None
    return (CrossModel if cfg.model.architecture == "cross" else MatchModel)(cfg.model, vocab, tokens, kept)


def vocab_tokens(tok) -> list[str]:
    """A ``tokenizers.Tokenizer``'s vocabulary in id order (what the n-gram tables are built from)."""
    vocab = tok.get_vocab()
    out = [""] * len(vocab)
    for token, i in vocab.items():
        out[i] = token
    return out


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
