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

PAD, UNK, CLS = "[PAD]", "[UNK]", "[CLS]"
PAD_ID = 0


def train_tokenizer(texts: list[str], vocab_size: int, strip_accents: bool = True) -> Tokenizer:
    """A WordPiece tokenizer trained on ``texts``; id 0 is padding; every encoding starts with [CLS]."""
    tok = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=200))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK, CLS], show_progress=False)
    tok.train_from_iterator(sorted(set(texts)), trainer=trainer)
    # The trainer numbers tied tokens in hash-map order, which changes from run to run; greedy
    # WordPiece matching depends on the token set only, so renumbering it sorted makes ids reproducible.
    specials = [PAD, UNK, CLS]
    rest = sorted(t for t in tok.get_vocab() if t not in specials)
    vocab = {t: i for i, t in enumerate(specials + rest)}
    tok.model = models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=200)
    cls_id = tok.token_to_id(CLS)
    tok.post_processor = processors.TemplateProcessing(single=f"{CLS} $A", special_tokens=[(CLS, cls_id)])
    return tok


def encode(tok: Tokenizer, texts: list[str], max_len: int) -> torch.Tensor:
    """Texts → ``LongTensor [N, L]`` padded with 0, where L = min(max_len, longest text).

    Trimming to the longest text of the set (not ``max_len``) saves work on short titles; the
    attention mask is ``ids != 0``.
    """
    tok = Tokenizer.from_str(tok.to_str())  # a copy: padding/truncation settings stay local
    tok.enable_truncation(max_len)
    encs = tok.encode_batch(list(texts))
    length = max((len(e.ids) for e in encs), default=1)
    out = torch.zeros(len(encs), max(length, 1), dtype=torch.long)
    for i, e in enumerate(encs):
        out[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
    return out


def save_tokenizer(tok: Tokenizer, path: str | Path) -> Path:
    return write_text(path, tok.to_str())


def load_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))
