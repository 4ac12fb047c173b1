"""Tokenizers: trained on the training split only, one per language (or one shared), text → id tensors.

WordPiece with BERT's normaliser (lowercase; accents stripped except when Japanese is covered, since
stripping would delete the voicing marks of kana, e.g. が → か) and BERT's pre-tokenizer, which splits
on spaces and punctuation and isolates every CJK ideograph. Kana runs without spaces become one
"word" that WordPiece splits into learned sub-words; every character seen in training is in the
alphabet, so nothing falls back to ``[UNK]`` on Japanese text of the training distribution.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from mlsearch.io import write_text
from mlsearch.pretrained import PrunedVocab, is_pruned_file
from mlsearch.specials import CLS, PAD, UNK


def _pipeline(model: models.Model, strip_accents: bool) -> Tokenizer:
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def train_tokenizer(texts: list[str], vocab_size: int, strip_accents: bool = True) -> Tokenizer:
    """A WordPiece tokenizer trained on ``texts``; id 0 is padding; every encoding starts with [CLS].

    The same texts give the same vocabulary in every process. The trainer breaks ties between
    equally frequent merges by symbol id, and it numbers the word-continuation symbols (``##a``) in
    the order of a randomly seeded hash map, so two processes could learn different vocabularies.
    Declaring those symbols up front, sorted, fixes their ids and with them every merge.
    """
    texts = sorted(set(texts))
    tok = _pipeline(models.WordPiece(unk_token=UNK, max_input_chars_per_word=200), strip_accents)
    continuing: set[str] = set()
    for text in texts:
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)):
            continuing.update(word[1:])
    specials = [PAD, UNK, CLS]
    fixed = specials + [f"##{c}" for c in sorted(continuing)]
    trainer = trainers.WordPieceTrainer(vocab_size=max(vocab_size, len(fixed)), special_tokens=fixed, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # A fresh tokenizer: the trainer registered every ``##a`` as a special (added) token; only the
    # three specials are. Ids are renumbered sorted, so they depend on the token set alone.
    rest = sorted(t for t in tok.get_vocab() if t not in specials)
    vocab = {t: i for i, t in enumerate(specials + rest)}
    out = _pipeline(models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=200), strip_accents)
    out.add_special_tokens(specials)
    out.post_processor = processors.TemplateProcessing(single=f"{CLS} $A", special_tokens=[(CLS, vocab[CLS])])
    return out


def encode(tok: Tokenizer, texts: list[str], max_len: int) -> torch.Tensor:
    """Texts → ``LongTensor [N, L]`` padded with 0, where L = min(max_len, longest text).

    Trimming to the longest text of the set (not ``max_len``) saves work on short titles; the
    attention mask is ``ids != 0``.
    """
    lookup = None
    if isinstance(tok, PrunedVocab):  # a checkpoint's tokenizer, ids renumbered to the kept rows
        lookup, tok = tok.lookup, tok.truncating(max_len)
    else:
        tok = Tokenizer.from_str(tok.to_str())  # a copy: padding/truncation settings stay local
        tok.enable_truncation(max_len)
    encs = tok.encode_batch(list(texts))
    length = max((len(e.ids) for e in encs), default=1)
    out = torch.zeros(len(encs), max(length, 1), dtype=torch.long)
    for i, e in enumerate(encs):
        ids = torch.tensor(e.ids, dtype=torch.long)
        out[i, : len(e.ids)] = ids if lookup is None else lookup[ids]
    return out


def save_tokenizer(tok: Tokenizer, path: str | Path) -> Path:
    """A trained tokenizer's JSON, or for a pretrained checkpoint the kept ids and the checkpoint's name."""
    return write_text(path, tok.to_json() if isinstance(tok, PrunedVocab) else tok.to_str())


def load_tokenizer(path: str | Path, pretrained: str | None = None) -> Tokenizer:
    """What :func:`save_tokenizer` wrote; ``pretrained`` overrides the checkpoint a pruned file names."""
    text = Path(path).read_text(encoding="utf-8")
    if is_pruned_file(text):
        return PrunedVocab.from_json(text, pretrained)
    return Tokenizer.from_str(text)
