"""Text → tensors for training: tokenizers, padded id tensors per split, shuffled batches.

Every split and alignment table is tokenized once into device tensors (:func:`tensorize`); a batch is
a set of row indices, cut to its longest row by :func:`take`. Every shuffle draws from a generator
seeded by (seed, epoch, phase) (:func:`generator`), so a resumed run replays the batches of an
uninterrupted one. :class:`Prepared` keeps the tokenizers and tensors of one language set for the
next seed of the same cell.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer

from mlsearch.config import RunConfig
from mlsearch.data.dataset import Dataset
from mlsearch.model import tokenizer_key
from mlsearch.pretrained import PrunedVocab
from mlsearch.pretrained import load_tokenizer as load_pretrained_tokenizer
from mlsearch.specials import PAD_ID
from mlsearch.text import encode, load_tokenizer, train_tokenizer

PHASE_SALT = {"warm": 1, "classify": 2, "align": 3}
#: Alignment kinds each ``train.alignment`` setting uses.
ALIGNMENT_KINDS = {"both": ["product", "query"], "product": ["product"], "query": ["query"], "none": []}


@dataclass
class Split:
    """One language's split as device tensors (+ the ids that predictions are reported by)."""

    query: torch.Tensor
    title: torch.Tensor
    label: torch.Tensor
    frame: pd.DataFrame  # query_id, product_id, label
    query_len: np.ndarray  # tokens per row, on the host: batches are cut to their longest row
    title_len: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


#: ``(kind, lang_a, lang_b)`` → (ids of a, ids of b, lengths of a, lengths of b) of mapped texts.
Alignment = dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]]


def _language_texts(ds: Dataset, labelled: list[str], splits: tuple[str, ...], members: list[str]) -> list[str]:
    """Queries and titles of ``labelled`` languages in ``splits``, and the alignment texts of ``members``
    (alignment tables are built from training data only)."""
    texts: list[str] = []
    for lang in labelled:
        for split in splits:
            df = ds.split(lang, split)
            texts += df["query"].astype(str).tolist() + df["title"].astype(str).tolist()
    for table in (ds.product_alignment, ds.query_alignment):
        for side in ("a", "b"):
            texts += table.loc[table[f"lang_{side}"].isin(members), f"text_{side}"].astype(str).tolist()
    return texts


def build_tokenizers(
    cfg: RunConfig, ds: Dataset, langs: list[str], folder: Path | None, align_only: tuple[str, ...] = ()
) -> dict[str, Tokenizer]:
    """One tokenizer per language (or one shared), trained on TRAINING texts only; reloaded if saved.

    Languages in ``align_only`` (zero-shot) contribute their alignment texts only, never labelled pairs.
    """
    groups: dict[str, list[str]] = {}
    for lang in langs:
        groups.setdefault(tokenizer_key(cfg, lang), []).append(lang)
    toks = {}
    for key, members in groups.items():
        saved = folder / f"{key}.json" if folder else None
        if saved is not None and saved.is_file():
            toks[key] = load_tokenizer(saved, cfg.model.pretrained or None)
        elif cfg.model.pretrained:
            # the checkpoint's tokenizer; the copy keeps the rows of the tokens these languages' texts use
            # (unlabelled text of every split: see mlsearch/pretrained.py)
            texts = _language_texts(ds, members, ("train", "valid", "test"), members)
            toks[key] = PrunedVocab.build(cfg.model.pretrained, load_pretrained_tokenizer(cfg.model.pretrained), texts)
        else:
            texts = _language_texts(ds, [m for m in members if m not in align_only], ("train",), members)
            toks[key] = train_tokenizer(texts, cfg.model.vocab_size, strip_accents="ja" not in members)
    return toks


def tensorize(
    cfg: RunConfig, ds: Dataset, toks: dict[str, Tokenizer], langs: list[str], device: torch.device
) -> tuple[dict[tuple[str, str], Split], Alignment]:
    """All splits and alignment mappings as padded id tensors on ``device`` (tokenized once).

    Alignment covers every pair of ``langs`` (training languages plus zero-shot ones)."""
    m = cfg.model
    splits: dict[tuple[str, str], Split] = {}
    for lang in langs:
        tok = toks[tokenizer_key(cfg, lang)]
        for name in ("train", "valid", "test"):
            df = ds.split(lang, name)
            query = encode(tok, df["query"].astype(str).tolist(), m.query_len)
            title = encode(tok, df["title"].astype(str).tolist(), m.title_len)
            splits[lang, name] = Split(
                query=query.to(device),
                title=title.to(device),
                label=torch.tensor(df["label"].to_numpy(), dtype=torch.float32, device=device),
                frame=df[["query_id", "product_id", "label", *(["relevance"] if "relevance" in df.columns else [])]].reset_index(drop=True),
                query_len=row_lengths(query),
                title_len=row_lengths(title),
            )
    align: Alignment = {}
    for a, b in combinations(sorted(langs), 2):
        for kind in ALIGNMENT_KINDS[cfg.train.alignment]:
            t = ds.alignment(kind, a, b)
            if t.empty:
                warnings.warn(f"no {kind} alignment data for {a}-{b}: that pair is not aligned", stacklevel=2)
                continue
            max_len = m.title_len if kind == "product" else m.query_len
            ids_a = encode(toks[tokenizer_key(cfg, a)], t["text_a"].astype(str).tolist(), max_len)
            ids_b = encode(toks[tokenizer_key(cfg, b)], t["text_b"].astype(str).tolist(), max_len)
            align[kind, a, b] = (ids_a.to(device), ids_b.to(device), row_lengths(ids_a), row_lengths(ids_b))
    return splits, align


@dataclass
class Prepared:
    """Tokenizers and tensors of the last language set asked for, kept for the next seed of the cell.

    Tokenizers are trained on the data alone (deterministically), never on the seed, so reusing them
    changes no number and saves re-tokenizing every split per seed. The caller owns the object
    (:func:`mlsearch.run.train_set` keeps one per cell); nothing is cached at module level.
    """

    key: tuple = ()
    dataset: Any = None
    value: tuple | None = field(default=None, repr=False)

    def get(self, cfg: RunConfig, dataset: Dataset, ds: Dataset, langs: list[str], unseen: tuple[str, ...],
            saved: Path | None, device: torch.device) -> tuple[dict[str, Tokenizer], dict[tuple[str, str], Split], Alignment]:
        m, t = cfg.model, cfg.train
        key = (tuple(langs), unseen, m.vocab_size, m.shared_vocab, m.pretrained, m.encoders,
               m.query_len, m.title_len, t.alignment, str(device))
        if self.value is None or self.key != key or self.dataset is not dataset:
            toks = build_tokenizers(cfg, ds, langs, saved, unseen)
            self.key, self.dataset, self.value = key, dataset, (toks, *tensorize(cfg, ds, toks, langs, device))
        return self.value


# --------------------------------------------------------------------------- batches


def row_lengths(ids: torch.Tensor) -> np.ndarray:
    """Non-padding tokens per row (host array), so a batch can be cut without a device sync."""
    return (ids != PAD_ID).sum(1).numpy()


def take(ids: torch.Tensor, lengths: np.ndarray, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of ``ids``, cut to the longest of them: padding beyond it is masked anyway, so
    the model computes the same function on fewer positions (titles are padded to ``title_len``)."""
    width = max(int(lengths[idx.numpy()].max()), 1) if len(idx) else 1
    return ids[idx.to(ids.device, non_blocking=True), :width]


def generator(seed: int, epoch: int, phase: str) -> torch.Generator:
    """The shuffle generator of one phase of one epoch (a resumed run draws the same batches)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 101 + PHASE_SALT[phase])


def batches(n: int, size: int, g: torch.Generator) -> list[torch.Tensor]:
    """Row indices of ``n`` rows, shuffled by ``g``, in batches of ``size`` (the last one shorter)."""
    perm = torch.randperm(n, generator=g)
    return [perm[i : i + size] for i in range(0, n, size)]
