"""Pretrained encoders: any ``transformers`` encoder by hub id or folder, pruned to one language's tokens.

``model.pretrained`` names a checkpoint (``xlm-roberta-base``, ``intfloat/multilingual-e5-base``, a
folder written by ``save_pretrained`` or by ``python -m mlsearch pretrained e5-small``). The paper's
layout then holds a query and a title encoder per language, each a copy of that checkpoint. A
multilingual token table is large (XLM-R: 250k × 768, 192M parameters; ten copies would be 2B), so
each copy keeps only the rows of the tokens its language's texts use:

- :class:`PrunedVocab` renumbers the checkpoint tokenizer's ids for one encoder key: compact id 0 is
  padding (what the rest of mlsearch masks), then the kept ids in their original order. The kept
  set is every token the tokenizer produces on that language's texts (all splits and alignment
  texts: unlabelled text, as a deployed system prunes to its catalogue and query log) plus the
  special tokens; any other token maps to the unknown token.
- :func:`load_body` loads the checkpoint with ``AutoModel`` and cuts its token table to those rows,
  optionally keeping only the first ``model.keep_layers`` layers and freezing the token table
  (``model.freeze_embeddings``) and the first ``model.freeze_layers`` layers.

Tokenization stays the checkpoint's own (its ``tokenizer.json`` through ``AutoTokenizer``), so a
pruned encoder sees exactly the pieces the full one would.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from mlsearch.errors import ConfigError
from mlsearch.specials import PAD_ID


def _fix(name: str) -> str:
    return (
        f"download it where the hub is reachable (hf download {name}) and copy the cache, "
        "or give a local folder (python -m mlsearch pretrained e5-small --out models/e5-small makes one offline)"
    )


@functools.lru_cache(maxsize=8)
def resolve(name: str) -> str:
    """A local folder for ``name`` (a folder, or a hub id already in the local cache, else downloaded).

    Offline and not cached, one line says so and what to do.
    """
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError("pretrained folder has no config.json", str(path), "give a folder written by save_pretrained")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or (path.parent != Path(".") and path.parent.is_dir()):
        raise ConfigError("pretrained folder does not exist", name, "check the path, or make one with python -m mlsearch pretrained e5-small")
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
    try:
        return snapshot_download(name, local_files_only=True, allow_patterns=patterns)
    except Exception:  # noqa: BLE001 - not cached: try the hub unless told to stay offline
        if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
            raise ConfigError(f"pretrained model {name!r} is not in the local cache and HF_HUB_OFFLINE is set", "model.pretrained", _fix(name)) from None
    try:
        return snapshot_download(name, allow_patterns=patterns)
    except Exception as exc:  # noqa: BLE001 - network, unknown repo, gated repo: one line each
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ConfigError(f"pretrained model {name!r} is not cached and cannot be downloaded ({first})", "model.pretrained", _fix(name)) from None


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Tokenizer:
    """The checkpoint's fast tokenizer (``tokenizers.Tokenizer``), via ``AutoTokenizer``.

    Read once per process: every language's pruned vocabulary shares it (nothing mutates it; see
    :meth:`PrunedVocab.truncating`)."""
    folder = resolve(name)
    file = Path(folder) / "tokenizer.json"
    if file.is_file():
        return Tokenizer.from_file(str(file))
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder, use_fast=True)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot load the tokenizer of {name!r}: {str(exc).splitlines()[0][:160]}", folder, "save a fast tokenizer (tokenizer.json) with the model") from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"{name!r} has no fast tokenizer", folder, "save a fast tokenizer (tokenizer.json) with the model")
    return tok.backend_tokenizer


def special_ids(tok: Tokenizer) -> dict[str, int | None]:
    """Ids of the pad and unknown tokens (``<pad>``/``[PAD]``, ``<unk>``/``[UNK]``) of a checkpoint tokenizer."""
    vocab = tok.get_vocab(with_added_tokens=True)
    pick = lambda *names: next((vocab[n] for n in names if n in vocab), None)  # noqa: E731
    return {"pad": pick("<pad>", "[PAD]"), "unk": pick("<unk>", "[UNK]")}


@dataclass
class PrunedVocab:
    """A checkpoint tokenizer with ids renumbered to the tokens one encoder's texts use.

    ``kept[i]`` is the checkpoint id of compact id ``i``; ``kept[0]`` is the pad token (or, if the
    tokenizer has none, a placeholder row that padding masks anyway).
    """

    name: str
    tokenizer: Tokenizer
    kept: list[int]
    #: copies of ``tokenizer`` that truncate, by length (see :meth:`truncating`)
    _truncating: dict[int, Tokenizer] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, name: str, tokenizer: Tokenizer, texts: list[str]) -> PrunedVocab:
        ids = special_ids(tokenizer)
        used: set[int] = set()
        for enc in tokenizer.encode_batch(sorted(set(texts))):
            used.update(enc.ids)
        specials = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
        pad = ids["pad"] if ids["pad"] is not None else 0
        rest = sorted((used | specials) - {pad})
        return cls(name, tokenizer, [pad, *rest])

    def __len__(self) -> int:
        return len(self.kept)

    def get_vocab_size(self) -> int:  # what code written for tokenizers.Tokenizer asks
        return len(self.kept)

    @functools.cached_property
    def lookup(self) -> torch.Tensor:
        """Checkpoint id → compact id (tokens outside the kept set → the unknown token)."""
        size = max(self.tokenizer.get_vocab_size(with_added_tokens=True), max(self.kept) + 1)
        unk = special_ids(self.tokenizer)["unk"]
        compact = {old: new for new, old in enumerate(self.kept)}
        lut = torch.full((size,), compact.get(unk, 0) if unk is not None else 0, dtype=torch.long)
        lut[torch.tensor(self.kept)] = torch.arange(len(self.kept))
        return lut

    def truncating(self, max_len: int) -> Tokenizer:
        """A copy of the checkpoint tokenizer that truncates at ``max_len`` and never pads."""
        if max_len not in self._truncating:
            tok = Tokenizer.from_str(self.tokenizer.to_str())
            tok.no_padding()
            tok.enable_truncation(max_len)
            self._truncating[max_len] = tok
        return self._truncating[max_len]

    def to_json(self) -> str:
        """What a run folder keeps (the kept ids and the checkpoint's name; the tokenizer is the checkpoint's)."""
        return json.dumps({"pretrained": self.name, "kept": self.kept})

    @classmethod
    def from_json(cls, text: str, name: str | None = None) -> PrunedVocab:
        d = json.loads(text)
        src = name or d["pretrained"]
        return cls(src, load_tokenizer(src), list(d["kept"]))


def is_pruned_file(text: str) -> bool:
    return text.lstrip().startswith('{"pretrained"')


# --------------------------------------------------------------------------- the encoder body


def _layers(model: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the transformer layers and the name of its ModuleList (BERT-likes, DistilBERT)."""
    for owner_name, attr in (("encoder", "layer"), ("transformer", "layer")):
        owner = getattr(model, owner_name, None)
        if owner is not None and isinstance(getattr(owner, attr, None), nn.ModuleList):
            return owner, attr
    raise ConfigError(
        f"cannot find the transformer layers of {type(model).__name__}",
        "model.pretrained", "use a BERT, XLM-RoBERTa, DistilBERT or DeBERTa-v2 checkpoint, or keep_layers/freeze_layers 0",
    )


@functools.lru_cache(maxsize=2)
def _base(name: str) -> nn.Module:
    """The checkpoint loaded once per process (copies are cut from it)."""
    from transformers import AutoModel

    folder = resolve(name)
    try:
        model = AutoModel.from_pretrained(folder, attn_implementation="sdpa")
    except (ValueError, TypeError):  # an architecture without SDPA support
        model = AutoModel.from_pretrained(folder)
    except OSError as exc:
        raise ConfigError(f"cannot load pretrained weights: {str(exc).splitlines()[0][:160]}", folder, _fix(name)) from None
    model.eval()
    return model


def load_body(cfg: Any, kept: list[int]) -> nn.Module:
    """A copy of ``cfg.pretrained`` whose token table holds the rows ``kept`` (compact id order).

    ``cfg`` is the ModelConfig: ``keep_layers`` (0: all), ``freeze_embeddings`` and
    ``freeze_layers`` (the first k) apply to the copy.
    """
    base = _base(cfg.pretrained)
    table = base.get_input_embeddings()
    base.set_input_embeddings(nn.Embedding(1, table.embedding_dim))  # the copy leaves the big table behind
    try:
        body = copy.deepcopy(base)
    finally:
        base.set_input_embeddings(table)
    rows = table.weight.detach()[torch.tensor(kept, dtype=torch.long)]  # indexing copies
    pruned = nn.Embedding.from_pretrained(rows, freeze=cfg.freeze_embeddings, padding_idx=PAD_ID)
    body.set_input_embeddings(pruned)
    if getattr(body, "pooler", None) is not None:
        body.pooler = None  # mlsearch pools itself (model.pooling); an unused pooler only costs memory
    body.config.vocab_size = len(kept)
    body.config.pad_token_id = PAD_ID
    embeddings = getattr(body, "embeddings", None)
    if embeddings is not None and hasattr(embeddings, "padding_idx"):
        # RoBERTa-likes number positions from the padding id: the copy is given the checkpoint's numbering
        # (``position_ids``, see TextEncoder) since its padding id is now 0
        body.position_offset = embeddings.padding_idx
        embeddings.padding_idx = PAD_ID
    if cfg.keep_layers or cfg.freeze_layers:
        owner, attr = _layers(body)
        layers = getattr(owner, attr)
        if cfg.keep_layers:
            setattr(owner, attr, nn.ModuleList(list(layers)[: cfg.keep_layers]))
            for key in ("num_hidden_layers", "n_layers"):
                if hasattr(body.config, key):
                    setattr(body.config, key, min(cfg.keep_layers, getattr(body.config, key)))
        for layer in list(getattr(owner, attr))[: cfg.freeze_layers]:
            layer.requires_grad_(False)
    body.train()
    return body


def hidden_size(body: nn.Module) -> int:
    c = body.config
    return int(getattr(c, "hidden_size", None) or c.dim)


def is_pretrained_param(name: str) -> bool:
    """Parameters inside an encoder body (``…bert.…``) learn at ``train.pretrained_lr``."""
    return ".bert." in f".{name}"
