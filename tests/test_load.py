"""load_dataset: dispatch on the source, language checks, and the parquet cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from fixtures.esci_data import write_esci

from mlsearch.config import DataConfig, RunConfig
from mlsearch.data import esci, pairs
from mlsearch.data.dataset import Dataset
from mlsearch.data.load import cache_path, load_dataset
from mlsearch.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.filterwarnings("ignore:.*alignment phase will be skipped")


def run_cfg(tmp_path: Path, **data) -> RunConfig:
    data.setdefault("cache_dir", str(tmp_path / "cache"))
    langs = data.get("languages", ["en"])
    return RunConfig(languages=langs[:1], data=DataConfig(**data))


def pairs_cfg(tmp_path: Path, **kw) -> RunConfig:
    src = tmp_path / "pairs.csv"
    if not src.exists():
        shutil.copy(FIXTURES / "pairs_small.csv", src)
    kw.setdefault("languages", ["en", "de"])
    return run_cfg(tmp_path, source="pairs", pairs_file=str(src), product_map_file=str(FIXTURES / "product_map.csv"), **kw)


def assert_same(a: Dataset, b: Dataset) -> None:
    assert (a.name, a.languages, a.meta) == (b.name, b.languages, b.meta)
    for table in ("pairs", "product_alignment", "query_alignment"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_dtype=True)


def test_pairs_are_cached_and_reloaded(tmp_path, monkeypatch):
    cfg = pairs_cfg(tmp_path)
    first = load_dataset(cfg, progress=False)
    folder = cache_path(cfg.data)
    assert folder.parent == tmp_path / "cache" and folder.name.startswith("pairs-")
    assert sorted(p.name for p in folder.iterdir()) == [
        "meta.json", "pairs.parquet", "product_alignment.parquet", "query_alignment.parquet",
    ]  # fmt: skip

    def boom(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(pairs, "load_pairs", boom)
    second = load_dataset(cfg, progress=False)
    assert_same(first, second)
    assert len(second.product_alignment) == 3 and second.meta["source"] == "pairs"


def test_cache_key_follows_params_and_files(tmp_path):
    cfg = pairs_cfg(tmp_path)
    before = cache_path(cfg.data)
    assert cache_path(pairs_cfg(tmp_path, seed=1).data) != before
    assert cache_path(pairs_cfg(tmp_path, cache_dir=str(tmp_path / "cache")).data) == before
    assert cache_path(pairs_cfg(tmp_path, esci_positive="ES").data) == before  # not read by this source
    with open(tmp_path / "pairs.csv", "a", encoding="utf-8") as f:
        f.write("en,lamp shade,Steel kitchen knife,0,home\n")
    assert cache_path(cfg.data) != before


def test_damaged_cache_is_rebuilt(tmp_path):
    cfg = pairs_cfg(tmp_path)
    first = load_dataset(cfg, progress=False)
    (cache_path(cfg.data) / "pairs.parquet").write_bytes(b"garbage")
    assert_same(first, load_dataset(cfg, progress=False))


def test_pairs_language_absent_from_source(tmp_path):
    with pytest.raises(DataError, match=r"languages \['fr'\] are not in the pairs source \(it has \['en', 'de'\]\)"):
        load_dataset(pairs_cfg(tmp_path, languages=["en", "fr"]), progress=False)


def test_esci_through_load_dataset(tmp_path, monkeypatch):
    write_esci(tmp_path / "esci")
    cfg = run_cfg(tmp_path, source="esci", languages=["en", "es"], esci_dir=str(tmp_path / "esci"), valid_share=0.3)
    ds = load_dataset(cfg, progress=False)
    assert ds.languages == ["en", "es"] and set(ds.pairs["lang"]) == {"en", "es"}
    assert "esci_label" in ds.pairs.columns and ds.meta["version"] == "small"
    shutil.rmtree(tmp_path / "esci")  # the cache is enough from now on (offline)
    assert_same(ds, load_dataset(cfg, progress=False))


def test_esci_language_absent_fails_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(esci, "esci_files", lambda *a, **k: pytest.fail("must not touch files"))
    cfg = run_cfg(tmp_path, source="esci", languages=["en", "de"], esci_download=True)
    with pytest.raises(DataError, match=r"languages \['de'\] are not in the esci source"):
        load_dataset(cfg, progress=False)


def _tiny_dataset(languages: list[str]) -> Dataset:
    rows = []
    for lang in languages:
        for split in ("train", "valid", "test"):
            for label in (0, 1):
                rows.append((lang, split, f"{lang}-{split}", f"q {split}", f"{lang}-p{label}", f"t {label}", label))
    return Dataset(
        "benchmark", languages, pd.DataFrame(rows, columns=["lang", "split", "query_id", "query", "product_id", "title", "label"])
    )


def test_benchmark_is_generated_restricted_and_cached(tmp_path, monkeypatch):
    calls = []

    def generate(data_cfg: DataConfig, progress: bool = False) -> Dataset:
        calls.append(progress)
        return _tiny_dataset(["en", "de", "fr"])

    from mlsearch.data import load as load_module

    monkeypatch.setattr(load_module, "generate", generate)
    cfg = run_cfg(tmp_path, source="benchmark", languages=["de", "fr"])
    ds = load_dataset(cfg, progress=False)
    assert ds.languages == ["de", "fr"] and set(ds.pairs["lang"]) == {"de", "fr"}
    assert_same(ds, load_dataset(cfg, progress=False))
    assert calls == [False]  # generated once, then read from the cache
    with pytest.raises(DataError, match=r"\['ja'\] are not in the benchmark source"):
        load_dataset(run_cfg(tmp_path, source="benchmark", languages=["de", "ja"]), progress=False)


def test_real_benchmark_if_present(tmp_path):
    pytest.importorskip("mlsearch.data.benchmark")
    from mlsearch.config import load_config, profile_files

    cfg = load_config(profile_files("tiny"), {"data.cache_dir": str(tmp_path / "cache")})
    ds = load_dataset(cfg, progress=False)
    assert ds.languages == cfg.data.languages
    assert_same(ds, load_dataset(cfg, progress=False))


def test_esci_and_pairs_profiles(tmp_path):
    from mlsearch.config import load_config, profile_files

    e = load_config(profile_files("esci"))
    assert (e.profile, e.data.source, e.data.languages, e.grid.languages, e.grid.max_languages) == (
        "esci", "esci", ["en", "es", "ja"], ["en", "es", "ja"], 3,
    )  # fmt: skip
    p = load_config(
        profile_files("pairs"),
        {"data.pairs_file": str(FIXTURES / "pairs_small.csv"), "data.cache_dir": str(tmp_path / "cache")},
    )
    ds = load_dataset(p, progress=False)
    assert p.data.source == "pairs" and ds.languages == ["en", "de"] and len(ds.pairs) == 20
    with pytest.raises(DataError, match="data.pairs_file is not set"):
        load_dataset(load_config(profile_files("pairs"), {"data.cache_dir": str(tmp_path / "c2")}), progress=False)
