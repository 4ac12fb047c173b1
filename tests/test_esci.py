"""ESCI: the official files → Dataset (labels, splits, versions, mappings), downloads, and bad files."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fixtures.esci_data import EXAMPLES, PRODUCTS, esci_frames, write_esci

from mlsearch.config import DataConfig
from mlsearch.data import esci
from mlsearch.data.esci import download, load_esci, query_mappings
from mlsearch.errors import DataError


def cfg(folder: Path, **kw) -> DataConfig:
    kw.setdefault("languages", ["en", "es", "ja"])
    kw.setdefault("valid_share", 0.3)
    return DataConfig(source="esci", esci_dir=str(folder), **kw)


def load(folder: Path, **kw):
    return load_esci(cfg(folder, **kw), progress=False)


# --------------------------------------------------------------------------- mapping to a Dataset


def test_fixture_has_the_official_dtypes(tmp_path):
    write_esci(tmp_path)
    ex, pr = pd.read_parquet(tmp_path / EXAMPLES), pd.read_parquet(tmp_path / PRODUCTS)
    assert {c: str(ex[c].dtype) for c in ("example_id", "query_id", "small_version", "large_version")} == dict.fromkeys(
        ("example_id", "query_id", "small_version", "large_version"), "int64"
    )
    assert all(pd.api.types.is_string_dtype(ex[c]) for c in ("query", "product_id", "product_locale", "esci_label", "split"))
    assert all(pd.api.types.is_string_dtype(pr[c]) for c in pr.columns)


def test_locales_labels_splits_and_version(tmp_path):
    ds = load(write_esci(tmp_path))
    p = ds.pairs
    assert ds.languages == ["en", "es", "ja"] and ds.name == "esci"
    assert set(p["lang"]) == {"en", "es", "ja"}
    assert "lamp shade" not in set(p["query"])  # large version only
    assert (p["label"] == (p["esci_label"] == "E")).all()
    ex, _ = esci_frames()
    test_queries = set(ex.loc[ex["split"] == "test", "query_id"])
    assert set(p.loc[p["split"] == "test", "query_id"]) == test_queries  # official test split kept
    assert (p.groupby(["lang", "query_id"])["split"].nunique() == 1).all()  # valid carved by query
    valid = p[p["split"] == "valid"].drop_duplicates(["lang", "query_id"]).groupby("lang").size()
    assert valid.to_dict() == {"en": 1, "es": 1, "ja": 1}  # 30 % of 4 or 3 training queries, at least one
    row = p[(p["query_id"] == 21) & (p["product_id"] == "P2")].iloc[0]
    assert (row["lang"], row["title"], row["label"]) == ("ja", "青い水筒 500ml", 1)
    pd.testing.assert_frame_equal(p, load(tmp_path).pairs)  # deterministic for a seed


def test_large_version_and_exact_plus_substitute(tmp_path):
    write_esci(tmp_path)
    large = load(tmp_path, esci_small_version=False).pairs
    assert "lamp shade" in set(large["query"])
    es = load(tmp_path, esci_positive="ES").pairs
    assert (es["label"] == es["esci_label"].isin(["E", "S"])).all()
    assert es["label"].sum() == load(tmp_path).pairs["label"].sum() + 2  # two Substitute judgements


def test_product_mappings_are_cross_listed_products(tmp_path):
    ds = load(write_esci(tmp_path))
    got = {tuple(r) for r in ds.product_alignment.itertuples(index=False)}
    assert got == {
        ("en", "Red running shoes", "es", "Zapatillas rojas para correr"),
        ("en", "Steel kitchen knife", "es", "Cuchillo de cocina"),
        ("en", "Blue water bottle", "ja", "青い水筒 500ml"),
    }


def test_query_mappings_use_exact_training_judgements(tmp_path):
    ds = load(write_esci(tmp_path), valid_share=0.01)
    all_train = ds.pairs.assign(split=ds.pairs["split"].replace({"valid": "train"}))
    got = {tuple(r) for r in query_mappings(all_train, all_train["esci_label"] == "E").itertuples(index=False)}
    # P1: en "running shoes" E, es "zapatillas" E; P2: en "water bottle" E, jp "水筒" E.
    # "kitchen knife" is only a Substitute of P6 and test queries never count.
    assert got == {("en", "running shoes", "es", "zapatillas"), ("en", "water bottle", "ja", "水筒")}
    # in the dataset itself, only queries that stayed in train are mapped
    train = set(zip(ds.pairs.loc[ds.pairs["split"] == "train", "lang"], ds.pairs.loc[ds.pairs["split"] == "train", "query"], strict=True))
    for r in ds.query_alignment.itertuples(index=False):
        assert (r.lang_a, r.text_a) in train and (r.lang_b, r.text_b) in train
    assert {tuple(r) for r in ds.query_alignment.itertuples(index=False)} <= got


def test_languages_subset_and_no_alignment_warns(tmp_path):
    write_esci(tmp_path)
    with pytest.warns(UserWarning, match="alignment phase will be skipped"):
        ds = load(tmp_path, languages=["es", "ja"])
    assert ds.languages == ["es", "ja"] and set(ds.pairs["lang"]) == {"es", "ja"}
    # es and ja share no product: nothing to align
    assert ds.product_alignment.empty and ds.query_alignment.empty


def test_missing_titles_are_dropped_with_a_warning(tmp_path):
    ex, pr = esci_frames()
    pr = pr[~((pr["product_id"] == "P3") & (pr["product_locale"] == "us"))]
    write_esci(tmp_path, products=pr)
    with pytest.warns(UserWarning, match="dropped 3 pair"):
        ds = load(tmp_path)
    assert "P3" not in set(ds.pairs["product_id"])


# --------------------------------------------------------------------------- bad files


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError) as err:
        load(tmp_path)
    msg = str(err.value)
    assert f"{EXAMPLES} not found in {tmp_path}" in msg and "data.esci_download: true" in msg
    assert esci.ESCI_BASE_URL in msg


def test_unknown_label_letter_names_the_row(tmp_path):
    ex, _ = esci_frames()
    ex.loc[7, "esci_label"] = "X"
    write_esci(tmp_path, examples=ex)
    with pytest.raises(DataError, match=r"unknown esci_label 'X' in row 7 \(example_id 7\)"):
        load(tmp_path)


def test_misspelled_column_suggests_the_name(tmp_path):
    ex, _ = esci_frames()
    write_esci(tmp_path, examples=ex.rename(columns={"esci_label": "esci_lable"}))
    with pytest.raises(DataError, match="missing column 'esci_label'.*rename column 'esci_lable' to 'esci_label'"):
        load(tmp_path)


def test_lfs_pointer_instead_of_parquet(tmp_path):
    write_esci(tmp_path)
    (tmp_path / PRODUCTS).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(DataError, match="is not a parquet file.*git lfs pull"):
        load(tmp_path)


def test_unknown_locale_and_split_name_the_row(tmp_path):
    ex, _ = esci_frames()
    ex.loc[3, "product_locale"] = "de"
    write_esci(tmp_path, examples=ex)
    with pytest.raises(DataError, match="unknown product_locale 'de' in row 3"):
        load(tmp_path)
    ex, _ = esci_frames()
    ex.loc[4, "split"] = "dev"
    write_esci(tmp_path, examples=ex)
    with pytest.raises(DataError, match="unknown split 'dev' in row 4"):
        load(tmp_path)


def test_language_without_test_pairs(tmp_path):
    ex, _ = esci_frames()
    write_esci(tmp_path, examples=ex[~((ex["product_locale"] == "jp") & (ex["split"] == "test"))])
    with pytest.raises(DataError, match="language 'ja' has no test pairs"):
        load(tmp_path)


def test_no_esci_language_requested(tmp_path):
    with pytest.raises(DataError, match="none of data.languages"):
        load(tmp_path, languages=["de"])


# --------------------------------------------------------------------------- downloads (loopback only)


class _Server:
    """Serves ``files`` (name → bytes) on 127.0.0.1; ``lie`` adds bytes to the announced length."""

    def __init__(self, files: dict[str, bytes], lie: int = 0) -> None:
        self.files, self.lie, self.requests = files, lie, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = server.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + server.lie))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/shopping_queries_dataset"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def source(tmp_path) -> Iterator[dict[str, bytes]]:
    folder = write_esci(tmp_path / "upstream")
    yield {name: (folder / name).read_bytes() for name in (EXAMPLES, PRODUCTS)}


def test_download_then_cached(tmp_path, source, monkeypatch):
    server = _Server(source)
    monkeypatch.setattr(esci, "ESCI_BASE_URL", server.url)
    try:
        ds = load(tmp_path / "esci", esci_download=True)
        assert len(server.requests) == 2
        assert (tmp_path / "esci" / EXAMPLES).read_bytes() == source[EXAMPLES]
        assert not list((tmp_path / "esci").glob("*.tmp"))
        load(tmp_path / "esci", esci_download=True)
        assert len(server.requests) == 2  # files on disk are used, not fetched again
    finally:
        server.close()
    assert len(ds.pairs) == 26


def test_download_size_mismatch_leaves_nothing(tmp_path, source):
    server = _Server(source, lie=100)
    try:
        with pytest.raises(DataError, match="incomplete download"):
            download(f"{server.url}/{EXAMPLES}", tmp_path / "esci" / EXAMPLES, progress=False, timeout=10)
    finally:
        server.close()
    assert list((tmp_path / "esci").iterdir()) == []  # no partial file, no temp file


def test_download_of_a_pointer_is_refused(tmp_path):
    server = _Server({EXAMPLES: b"version https://git-lfs.github.com/spec/v1\nsize 9\n"})
    try:
        with pytest.raises(DataError, match="is not a parquet file"):
            download(f"{server.url}/{EXAMPLES}", tmp_path / EXAMPLES, progress=False, timeout=10)
        with pytest.raises(DataError, match="cannot download.*Not Found"):
            download(f"{server.url}/{PRODUCTS}", tmp_path / PRODUCTS, progress=False, timeout=10)
    finally:
        server.close()
    assert list(tmp_path.iterdir()) == []


def test_offline_is_one_clear_line(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(esci, "ESCI_BASE_URL", f"http://127.0.0.1:{port}/x")
    with pytest.raises(DataError) as err:
        load(tmp_path, esci_download=True)
    msg = str(err.value)
    assert "cannot download" in msg and "check the network" in msg and "\n" not in msg


def test_download_from_a_file_url(tmp_path, source):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / PRODUCTS).write_bytes(source[PRODUCTS])
    out = download((tmp_path / "up" / PRODUCTS).as_uri(), tmp_path / "esci" / PRODUCTS, progress=False)
    assert out.read_bytes() == source[PRODUCTS]


def test_folder_is_a_file_and_corrupt_parquet(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load(tmp_path / "file")
    write_esci(tmp_path / "esci")
    (tmp_path / "esci" / EXAMPLES).write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(DataError, match=f"cannot read {EXAMPLES}.*re-download it"):
        load(tmp_path / "esci")


def test_a_file_whose_labels_are_all_exact_is_refused_before_training(tmp_path):
    """Every judgement E: a model would learn nothing and score what "everything matches" scores."""
    from mlsearch.config import load_config, profile_files
    from mlsearch.run import train_and_evaluate

    examples, products = esci_frames()
    write_esci(tmp_path / "esci", examples.assign(esci_label="E"), products)
    ds = load(tmp_path / "esci", languages=["en"])
    cfg = load_config(profile_files("tiny"), {"languages": ["en"], "data.languages": ["en"], "train.device": "cpu",
                                              "results_dir": str(tmp_path / "results")})
    with pytest.raises(DataError, match="'en': every train pair has label 1"):
        train_and_evaluate(cfg, tmp_path / "run", ds, progress=False)
    assert not (tmp_path / "run" / "metrics.json").exists()
