"""Pretrained encoders: tiny random checkpoints of four architectures, made here with save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config, train_killed_after
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from mlsearch import checkpoint, pretrained
from mlsearch.errors import ConfigError
from mlsearch.inference import load_run
from mlsearch.run import train_and_evaluate
from mlsearch.text import encode

torch.set_num_threads(1)

LANGS = ("en", "de")


def _texts() -> list[str]:
    ds = make_dataset(LANGS, queries=8)
    return ds.pairs["query"].tolist() + ds.pairs["title"].tolist() + ["unrelated filler words", "zzz qqq"]


def _wordpiece(texts: list[str]) -> Tokenizer:
    """BERT-style: [PAD] 0, [CLS] … [SEP]."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials, show_progress=False))
    v = tok.get_vocab()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", v["[CLS]"]), ("[SEP]", v["[SEP]"])]
    )
    return tok


def _unigram(texts: list[str]) -> Tokenizer:
    """XLM-R / DeBERTa-style SentencePiece: <s> 0, <pad> 1 (padding is NOT id 0), </s> 2, <unk> 3."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(
        texts, trainers.UnigramTrainer(vocab_size=120, special_tokens=specials, unk_token="<unk>", show_progress=False)
    )
    v = tok.get_vocab()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", v["<s>"]), ("</s>", v["</s>"])])
    return tok


def _checkpoint(arch: str, folder: Path) -> Path:
    from transformers import (
        AutoModel,
        BertConfig,
        DebertaV2Config,
        DistilBertConfig,
        XLMRobertaConfig,
    )

    texts = _texts()
    tok = _unigram(texts) if arch in ("xlmr", "deberta") else _wordpiece(texts)
    vocab = tok.get_vocab_size()
    small = dict(vocab_size=vocab, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, max_position_embeddings=80)
    if arch == "bert":
        config = BertConfig(**small, pad_token_id=0)
    elif arch == "xlmr":
        config = XLMRobertaConfig(**small, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    elif arch == "deberta":
        config = DebertaV2Config(**small, pad_token_id=1, relative_attention=True, position_buckets=8, max_relative_positions=16,
                                 pos_att_type=["p2c", "c2p"], position_biased_input=False)
    else:
        config = DistilBertConfig(vocab_size=vocab, dim=16, n_layers=3, n_heads=2, hidden_dim=32, max_position_embeddings=80, pad_token_id=0)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    return folder


ARCHS = ["bert", "xlmr", "distilbert", "deberta"]


@pytest.fixture(scope="module", params=ARCHS)
def ckpt(request, tmp_path_factory) -> Path:
    return _checkpoint(request.param, tmp_path_factory.mktemp(request.param))


def _cfg(folder: Path, **kw):
    base = {"model.pretrained": str(folder), "model.subword_buckets": 0, "train.epochs": 1, "eval.bootstrap": 5}
    return tiny_config(list(LANGS), **(base | kw))


def test_pruned_vocabulary_keeps_padding_at_zero_and_the_checkpoints_pieces(ckpt):
    tok = pretrained.load_tokenizer(str(ckpt))
    texts = ["enw1 enx2 eny3", "enw4"]
    pv = pretrained.PrunedVocab.build(str(ckpt), tok, texts)
    assert pv.kept[0] == pretrained.special_ids(tok)["pad"]
    assert len(pv) < tok.get_vocab_size()
    ids = encode(pv, texts, 12)
    full = [e.ids for e in tok.encode_batch(texts)]
    for row, want in zip(ids.tolist(), full, strict=True):
        assert [pv.kept[i] for i in row[: len(want)]] == want  # same pieces, renumbered
        assert all(i == 0 for i in row[len(want) :])  # padding is 0
    # a token the texts never used maps to the unknown token
    unk = pretrained.special_ids(tok)["unk"]
    assert pv.kept[int(encode(pv, ["dew7"], 12)[0, 1])] in (unk, *tok.encode("dew7").ids)


def test_per_language_copies_train_one_epoch_resume_and_load(ckpt, tmp_path):
    """The paper's layout from a checkpoint: two pruned copies per language, one epoch, then inference."""
    ds = make_dataset(LANGS, queries=8)
    cfg = _cfg(ckpt)
    out = tmp_path / "run"
    metrics = train_and_evaluate(cfg, out, ds, progress=False)
    assert 0.0 <= metrics["eval"]["en"]["f1"] <= 1.0
    parts, _ = checkpoint.load(out / "checkpoints", cfg)
    full_vocab = Tokenizer.from_file(str(ckpt / "tokenizer.json")).get_vocab_size()
    rows = {k: v.shape[0] for k, v in parts["model"].items() if k.endswith("word_embeddings.weight")}
    assert rows and all(n < full_vocab for n in rows.values()), rows
    assert {k.split(".")[1] for k in rows} == set(LANGS)  # a copy per language (query and title share it: tied)
    kept = json.loads((out / "tokenizers" / "en.json").read_text())
    assert kept["pretrained"] == str(ckpt) and kept["kept"][0] == pretrained.special_ids(pretrained.load_tokenizer(str(ckpt)))["pad"]
    scorer = load_run(out)
    p = scorer.score("en", ["enw1", "enw1"], ["enx1 eny2 enw1", "enx1 eny2 enw3"])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


def test_freezing_leaves_frozen_weights_unchanged_and_keep_layers_cuts(tmp_path):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    cfg = _cfg(folder, **{"model.keep_layers": 2, "model.freeze_embeddings": True, "model.freeze_layers": 1,
                          "model.prefix_cache": False, "train.pretrained_lr": 1e-4})
    out = tmp_path / "run"
    train_and_evaluate(cfg, out, ds, progress=False)
    parts, meta = checkpoint.load(out / "checkpoints", cfg)
    model = parts["model"]
    assert not any(".layer.2." in k for k in model)  # 3 layers in the checkpoint, 2 kept
    from transformers import AutoModel

    base = AutoModel.from_pretrained(folder).state_dict()
    kept = json.loads((out / "tokenizers" / "en.json").read_text())["kept"]
    rows = base["embeddings.word_embeddings.weight"][torch.tensor(kept)]
    assert torch.equal(model["query.en.bert.embeddings.word_embeddings.weight"], rows)
    for name, value in base.items():
        if name.startswith("encoder.layer.0."):
            assert torch.equal(model[f"title.de.bert.{name}"], value), name
    changed = [n for n, v in base.items() if n.startswith("encoder.layer.1.") and not torch.equal(model[f"title.de.bert.{n}"], v)]
    assert changed, "the unfrozen layer did not train"
    assert sorted(g["lr"] for g in meta["param_groups"]) != [] and len(meta["param_groups"]) == 2


def test_shared_encoder_from_a_checkpoint_prunes_once(tmp_path):
    folder = _checkpoint("bert", tmp_path / "bert")
    ds = make_dataset(LANGS, queries=8)
    cfg = _cfg(folder, **{"model.encoders": "shared"})
    out = tmp_path / "run"
    train_and_evaluate(cfg, out, ds, progress=False)
    assert sorted(p.name for p in (out / "tokenizers").glob("*.json")) == ["shared.json"]


def test_same_seed_same_numbers(tmp_path):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    a = train_and_evaluate(_cfg(folder), tmp_path / "a", ds, progress=False)
    b = train_and_evaluate(_cfg(folder), tmp_path / "b", ds, progress=False)
    assert a["eval"] == b["eval"]


def test_bad_pretrained_names_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pretrained.resolve.cache_clear()
    with pytest.raises(ConfigError, match="not in the local cache and HF_HUB_OFFLINE is set .* download it"):
        pretrained.resolve("nobody-has/this-model-xyz")
    with pytest.raises(ConfigError, match="pretrained folder does not exist"):
        pretrained.resolve(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        pretrained.resolve(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="subword_buckets"):
        tiny_config(["en"], **{"model.pretrained": str(tmp_path / "empty")})
    with pytest.raises(ConfigError, match="apply to a pretrained encoder"):
        tiny_config(["en"], **{"model.freeze_layers": 1})


@pytest.mark.slow  # three trainings
def test_a_killed_pretrained_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    cfg = _cfg(folder, **{"train.epochs": 3, "model.freeze_layers": 1, "model.dropout": 0.1})
    full = train_and_evaluate(cfg, tmp_path / "full", ds, progress=False)
    train_killed_after(cfg, tmp_path / "killed", ds, 2)
    resumed = train_and_evaluate(cfg, tmp_path / "killed", ds, progress=False)
    assert json.loads((tmp_path / "killed" / "run_info.json").read_text())["resumed_from_epoch"] == 2
    assert resumed == full


def test_a_missing_folder_under_an_existing_one_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    pretrained.resolve.cache_clear()
    with pytest.raises(ConfigError, match="pretrained folder does not exist .* python -m mlsearch pretrained e5-small"):
        pretrained.resolve("models/e5-small")
