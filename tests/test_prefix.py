"""The frozen-prefix cache (mlsearch/prefix.py) and the cross-encoder (kind ``cross``), on tiny checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config, train_killed_after
from test_pretrained import _checkpoint

from mlsearch import checkpoint, pretrained
from mlsearch.errors import ConfigError
from mlsearch.inference import load_run
from mlsearch.model import CrossModel, build_model, join_pair
from mlsearch.prefix import frozen_prefix
from mlsearch.run import train_and_evaluate
from mlsearch.text import encode

torch.set_num_threads(1)
LANGS = ("en", "de")


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def ckpt(request, tmp_path_factory):
    return _checkpoint(request.param, tmp_path_factory.mktemp(request.param))


def _cfg(folder, **kw):
    base = {"model.pretrained": str(folder), "model.subword_buckets": 0, "train.epochs": 1, "eval.bootstrap": 5,
            "model.freeze_embeddings": True, "model.freeze_layers": 2, "model.dropout": 0.1}
    return tiny_config(list(LANGS), **(base | kw))


def _ids(folder, texts, max_len):
    pv = pretrained.PrunedVocab.build(str(folder), pretrained.load_tokenizer(str(folder)), texts)
    return pv, encode(pv, texts, max_len)


@pytest.mark.parametrize("arch", ["two_tower", "cross"])
def test_cached_prefix_gives_the_logits_of_running_the_frozen_layers(ckpt, arch):
    texts = ["enw1 enx2 eny3", "enw4", "enx1 eny2 enw1 enw3 enx4", "eny1"]
    pv, ids = _ids(ckpt, texts, 12)
    q, t = ids[[0, 1, 1, 3]], ids[[2, 0, 2, 1]]
    extra = {"model.architecture": arch, "train.alignment": "none"} if arch == "cross" else {}
    logits = {}
    for cache in (False, True):
        torch.manual_seed(0)
        model = build_model(_cfg(ckpt, **{"model.prefix_cache": cache, **extra}), {lang: pv for lang in LANGS}, list(LANGS)).eval()
        with torch.no_grad():
            logits[cache] = model("en", q, t)
    assert torch.allclose(logits[True], logits[False], atol=1e-5), (logits, arch)
    assert not torch.equal(logits[True], torch.zeros_like(logits[True]))
    store = frozen_prefix(str(ckpt), 2)
    before = len(store)
    with torch.no_grad():
        model("en", q, t)
    assert len(store) == before  # the same texts again: nothing computed twice


def test_the_store_holds_one_entry_per_distinct_text_and_is_shared(ckpt):
    texts = ["enw1 enx2", "enw1 enx2", "eny3 enw4"]
    pv, ids = _ids(ckpt, texts, 12)
    store = frozen_prefix(str(ckpt), 2)
    store.store.clear()
    torch.manual_seed(0)
    model = build_model(_cfg(ckpt), {lang: pv for lang in LANGS}, list(LANGS))
    assert model.query["en"].prefix is model.title["de"].prefix is store  # every copy, both sides
    with torch.no_grad():
        model.encode("en", "query", ids)
        model.encode("de", "title", ids)
    assert len(store) == 2
    # the copies hold no frozen layer and no token table: a checkpoint saves the trained top only
    names = list(model.state_dict())
    assert any(".layer.0." in n for n in names) and not any(".layer.1." in n for n in names)  # 3 layers, 2 frozen
    assert all(v.shape[0] == 1 for n, v in model.state_dict().items() if n.endswith("word_embeddings.weight"))


def test_a_cached_run_trains_the_top_layers_only(tmp_path):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    cfg = _cfg(folder, **{"train.pretrained_lr": 1e-3})
    out = tmp_path / "run"
    metrics = train_and_evaluate(cfg, out, ds, progress=False)
    assert 0.0 <= metrics["eval"]["en"]["f1"] <= 1.0
    parts, _ = checkpoint.load(out / "checkpoints", cfg)
    from transformers import AutoModel

    base = AutoModel.from_pretrained(folder).state_dict()
    top = {n: v for n, v in base.items() if n.startswith("encoder.layer.2.")}
    # layer 2 of the checkpoint is the copies' layer 0 (the first two run in the prefix)
    changed = [n for n, v in top.items() if not torch.equal(parts["model"][f"query.en.bert.{n.replace('layer.2.', 'layer.0.')}"], v)]
    assert changed, "the top layer did not train"


@pytest.mark.slow  # three trainings each
@pytest.mark.parametrize("architecture", ["two_tower", "cross"])
def test_a_killed_cached_run_resumes_to_the_same_numbers(tmp_path, architecture):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    cfg = (_cfg if architecture == "two_tower" else _cross)(folder, **{"train.epochs": 3})
    full = train_and_evaluate(cfg, tmp_path / "full", ds, progress=False)
    train_killed_after(cfg, tmp_path / "killed", ds, 2)
    resumed = train_and_evaluate(cfg, tmp_path / "killed", ds, progress=False)
    assert json.loads((tmp_path / "killed" / "run_info.json").read_text())["resumed_from_epoch"] == 2
    assert resumed == full


# --------------------------------------------------------------------------- cross-encoder


def test_join_pair_puts_the_title_after_the_query_without_its_start_token():
    q = torch.tensor([[5, 6, 2, 0], [5, 2, 0, 0]])
    t = torch.tensor([[5, 7, 8, 2, 0], [5, 9, 2, 0, 0]])
    assert join_pair(q, t).tolist() == [[5, 6, 2, 7, 8, 2], [5, 2, 9, 2, 0, 0]]


def _cross(folder, **kw):
    return _cfg(folder, **{"model.architecture": "cross", "train.alignment": "none", "model.interaction": "none"} | kw)


def test_the_cross_encoder_trains_one_epoch_and_scores_pairs(tmp_path):
    folder = _checkpoint("xlmr", tmp_path / "xlmr")
    ds = make_dataset(LANGS, queries=8)
    cfg = _cross(folder, **{"train.pretrained_lr": 1e-3})
    out = tmp_path / "run"
    metrics = train_and_evaluate(cfg, out, ds, progress=False)
    assert set(metrics["eval"]) == set(LANGS) and 0.0 <= metrics["eval"]["de"]["f1"] <= 1.0
    scorer = load_run(out)
    assert isinstance(scorer.model, CrossModel)
    p = scorer.score("en", ["enw1", "enw1"], ["enx1 eny2 enw1", "enx1 eny2 enw3"])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all() and p[0] != p[1]
    with pytest.raises(ConfigError, match="no query or title vectors"):
        scorer.encode("en", ["enw1"])


def test_a_cross_encoder_with_alignment_is_a_config_error(tmp_path):
    folder = _checkpoint("bert", tmp_path / "bert")
    with pytest.raises(ConfigError, match="cross-encoder .* no query or title vectors to align"):
        _cfg(folder, **{"model.architecture": "cross"})


def test_kinds_e5_full_and_cross_come_from_overlays_and_e5_full_also_trains_the_papers_pair():
    from mlsearch.config import load_config, profile_files
    from mlsearch.experiments import kind_language_sets
    from mlsearch.kinds import KINDS

    cross = KINDS["cross"].overrides
    assert cross["model.architecture"] == "cross" and cross["train.alignment"] == "none"
    assert cross["model.freeze_layers"] == KINDS["e5_full"].overrides["model.freeze_layers"] == 10  # cross includes e5_full
    cfg = load_config(profile_files("quick"))
    sets = kind_language_sets(cfg, "e5_full")
    assert ["de", "fr"] in sets and sets[-1] == list(cfg.grid.languages) and len(sets) == len(cfg.grid.languages) + 2
    assert ["de", "fr"] not in kind_language_sets(cfg, "cross")


def test_centre_starts_from_the_first_batch_follows_later_ones_and_is_saved():
    from mlsearch.model import Centre

    c = Centre(3, momentum=0.5)
    mask = torch.tensor([[True, True, False]])
    x = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [100.0, 100.0, 100.0]]])  # the padding row is not counted
    out = c(x, mask)
    assert c.mean.tolist() == [2.0, 3.0, 4.0] and out[0, 0].tolist() == [-1.0, -1.0, -1.0]
    c(x + 2.0, mask)
    assert c.mean.tolist() == [3.0, 4.0, 5.0]  # halfway to the second batch's mean
    c.eval()
    c(x + 50.0, mask)
    assert c.mean.tolist() == [3.0, 4.0, 5.0]  # eval mode reads it, never moves it
    assert set(c.state_dict()) == {"mean", "batches"}
