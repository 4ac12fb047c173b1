"""Pairs files: the documented format, query-wise splits, mapping files, and one clear error per bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlsearch.config import DataConfig
from mlsearch.data.pairs import load_pairs, normalise_text, text_id
from mlsearch.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
PAIRS = FIXTURES / "pairs_small.csv"
pytestmark = pytest.mark.filterwarnings("ignore:.*alignment phase will be skipped")


def cfg(pairs_file: Path | str, **kw) -> DataConfig:
    return DataConfig(source="pairs", languages=kw.pop("languages", ["en", "de"]), pairs_file=str(pairs_file), **kw)


def frame() -> pd.DataFrame:
    return pd.read_csv(PAIRS, dtype=str, keep_default_na=False)


def write(tmp_path: Path, df: pd.DataFrame, name: str = "pairs.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    return path


def load(path: Path | str, **kw):
    return load_pairs(cfg(path, **kw), progress=False)


# --------------------------------------------------------------------------- the format


def test_csv_loads_with_query_wise_seeded_split():
    ds = load(PAIRS)
    p = ds.pairs
    assert ds.languages == ["en", "de"]
    assert len(p) == 20 and set(p["split"]) == {"train", "valid", "test"}
    assert p["label"].dtype == "int64" and p["label"].sum() == 10
    assert "category" in p.columns  # extra columns survive
    # "Water Bottle" and "water  bottle" are one query: same id, same split
    wb = p[p["query"].map(normalise_text) == "water bottle"]
    assert wb["query_id"].nunique() == 1 and wb["split"].nunique() == 1
    assert (p.groupby(["lang", "query_id"])["split"].nunique() == 1).all()
    # 5 queries per language: 1 test (20 %), 1 valid (10 %, at least one), 3 train
    per = p.drop_duplicates(["lang", "query_id"]).groupby(["lang", "split"]).size()
    assert per.to_dict() == {(lang, s): n for lang in ("de", "en") for s, n in (("test", 1), ("train", 3), ("valid", 1))}
    again = load(PAIRS)
    pd.testing.assert_frame_equal(p, again.pairs)
    splits = {seed: tuple(load(PAIRS, seed=seed).pairs["split"]) for seed in range(6)}
    assert len(set(splits.values())) > 1  # the seed matters


def test_split_of_one_language_does_not_depend_on_the_others():
    both = load(PAIRS).pairs
    en_only = load(PAIRS, languages=["en"]).pairs
    pd.testing.assert_frame_equal(both[both["lang"] == "en"].reset_index(drop=True), en_only)


@pytest.mark.parametrize("name", ["pairs.tsv", "pairs.parquet"])
def test_tsv_and_parquet_equal_csv(tmp_path, name):
    df = frame()
    if name.endswith(".parquet"):
        df["label"] = df["label"].astype("int64")
    path = write(tmp_path, df, name)
    pd.testing.assert_frame_equal(load(path).pairs, load(PAIRS).pairs)


def test_given_split_ids_and_missing_valid_are_used(tmp_path):
    df = frame()
    df["split"] = ["test", "test"] + ["train"] * 8 + ["test", "test"] + ["train"] * 8
    df["query_id"] = [f"q{i // 2}" for i in range(len(df))]
    df["product_id"] = [f"p{i}" for i in range(len(df))]
    ds = load(write(tmp_path, df), valid_share=0.25)
    p = ds.pairs
    assert set(p["query_id"]) == {f"q{i}" for i in range(10)}
    assert (p.loc[[0, 1, 10, 11], "split"] == "test").all()
    valid = p[p["split"] == "valid"].drop_duplicates(["lang", "query_id"])
    assert valid.groupby("lang").size().to_dict() == {"de": 1, "en": 1}  # carved from train, by query


def test_text_id_normalises():
    assert text_id("en", "Red  SHOES ") == text_id("en", "red shoes") != text_id("de", "red shoes")


def test_product_and_query_mappings(tmp_path):
    split = load(PAIRS).pairs
    train = split[split["split"] == "train"].drop_duplicates(["lang", "query"])
    held = split[split["split"] != "train"].drop_duplicates(["lang", "query"])
    en_train, de_train = (train.loc[train["lang"] == lang, "query"].tolist() for lang in ("en", "de"))
    en_held = held.loc[held["lang"] == "en", "query"].iloc[0]
    qmap = pd.DataFrame(
        {
            "lang_a": ["en", "de", "en"],
            "text_a": [en_train[0].upper(), de_train[1], en_held],
            "lang_b": ["de", "en", "de"],
            "text_b": [de_train[0], en_train[1], de_train[0]],
        }
    )
    qpath = write(tmp_path, qmap, "qmap.csv")
    with pytest.warns(UserWarning, match="1 query mapping"):
        ds = load(PAIRS, product_map_file=str(FIXTURES / "product_map.csv"), query_map_file=str(qpath))
    assert len(ds.product_alignment) == 3
    assert (ds.product_alignment["lang_a"] == "de").all()  # oriented lang_a < lang_b
    assert set(ds.product_alignment["text_b"]) == {"Red running shoes", "Blue water bottle", "Wooden desk lamp"}
    q = ds.query_alignment
    assert len(q) == 2 and set(q["text_b"]) == {en_train[0], en_train[1]}  # texts as in the pairs file
    assert ds.alignment("query", "en", "de")["text_a"].tolist() == q["text_b"].tolist()


def test_no_mapping_warns_alignment_skipped():
    with pytest.warns(UserWarning, match="alignment phase will be skipped"):
        ds = load(PAIRS)
    assert ds.product_alignment.empty and ds.query_alignment.empty


# --------------------------------------------------------------------------- bad input


def bad(tmp_path: Path, mutate, name: str = "pairs.csv", **kw) -> str:
    df = frame()
    df = mutate(df) if mutate else df
    path = write(tmp_path, df, name)
    with pytest.raises(DataError) as err:
        load(path, **kw)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_misspelled_column_suggests_the_name(tmp_path):
    msg = bad(tmp_path, lambda d: d.rename(columns={"query": "qeury"}))
    assert "missing column 'query'" in msg and "rename column 'qeury' to 'query'" in msg


def test_missing_column_lists_the_columns(tmp_path):
    msg = bad(tmp_path, lambda d: d.drop(columns=["label"]))
    assert "missing column 'label'" in msg and "columns found" in msg


def test_unknown_language_names_the_line(tmp_path):
    def mutate(d):
        d.loc[3, "lang"] = "xx"
        return d

    msg = bad(tmp_path, mutate)
    assert "unknown language code 'xx'" in msg and "line 5" in msg and "column lang" in msg


@pytest.mark.parametrize("value", ["2", "yes", ""])
def test_labels_must_be_zero_or_one(tmp_path, value):
    def mutate(d):
        d.loc[6, "label"] = value
        return d

    msg = bad(tmp_path, mutate)
    assert "is not 0 or 1" in msg and "line 8" in msg


@pytest.mark.parametrize("value", ["high", "-0.5", "nan", ""])
def test_relevance_must_be_a_number_at_least_zero(tmp_path, value):
    def mutate(d):
        d["relevance"] = d["label"].astype(float)
        d["relevance"] = d["relevance"].astype(object)
        d.loc[4, "relevance"] = value
        return d

    msg = bad(tmp_path, mutate)
    assert "is not a number >= 0" in msg and "line 6" in msg and "column relevance" in msg


def test_relevance_is_kept_as_graded_gain(tmp_path):
    df = frame()
    df["relevance"] = df["label"].astype(int) * 0.5 + 0.01
    ds = load(write(tmp_path, df, "pairs.csv"))
    assert ds.pairs["relevance"].dtype == "float64" and set(ds.pairs["relevance"]) == {0.01, 0.51}


@pytest.mark.parametrize("col", ["query", "title"])
def test_empty_text_names_the_row(tmp_path, col):
    def mutate(d):
        d.loc[2, col] = "  "
        return d

    msg = bad(tmp_path, mutate)
    assert f"empty '{col}'" in msg and "line 4" in msg


def test_nan_text_in_parquet_names_the_row(tmp_path):
    def mutate(d):
        d["label"] = d["label"].astype("int64")
        d["title"] = d["title"].astype(object)
        d.loc[5, "title"] = None
        return d

    msg = bad(tmp_path, mutate, "pairs.parquet")
    assert "empty 'title'" in msg and "row 5" in msg


def test_language_without_training_pairs(tmp_path):
    def mutate(d):
        d["split"] = ["test"] * 2 + ["train"] * 8 + ["test"] * 10
        d.loc[10:11, "split"] = "valid"
        return d

    msg = bad(tmp_path, mutate)
    assert "language 'de' has no train pairs" in msg


def test_too_few_queries_to_split(tmp_path):
    msg = bad(tmp_path, lambda d: d.drop(index=range(12, 20)))
    assert "language 'de' has 1 distinct queries" in msg


def test_unknown_split_name(tmp_path):
    def mutate(d):
        d["split"] = "train"
        d.loc[4, "split"] = "holdout"
        return d

    msg = bad(tmp_path, mutate)
    assert "unknown split 'holdout'" in msg and "line 6" in msg


def test_query_in_several_splits(tmp_path):
    def mutate(d):
        d["split"] = "train"
        d.loc[1, "split"] = "test"
        return d

    msg = bad(tmp_path, mutate)
    assert "'red shoes' (en) is in several splits" in msg and "line 2" in msg


def test_requested_language_absent():
    with pytest.raises(DataError, match=r"none of data.languages \['fr'\]"):
        load(PAIRS, languages=["fr"])


def test_non_utf8_names_line_and_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    text = PAIRS.read_text(encoding="utf-8")
    path.write_bytes(text.encode("latin-1"))  # ü of küchenmesser becomes one byte 0xfc
    with pytest.raises(DataError) as err:
        load(path)
    offset = text.encode("latin-1").index(b"\xfc")
    assert f"offset {offset}" in str(err.value) and "line 18" in str(err.value) and "UTF-8" in str(err.value)


def test_utf8_bom_is_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + PAIRS.read_bytes())
    assert len(load(path).pairs) == 20


def test_missing_file_folder_unset_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder, not a file"):
        load(tmp_path)
    with pytest.raises(DataError, match="data.pairs_file is not set"):
        load("")
    shutil.copy(PAIRS, tmp_path / "pairs.json")
    with pytest.raises(DataError, match="unknown file type '.json'"):
        load(tmp_path / "pairs.json")


def test_unreadable_parquet_and_empty_files(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="cannot read parquet"):
        load(tmp_path / "broken.parquet")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        load(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("lang,query,title,label\n")
    with pytest.raises(DataError, match="has no rows"):
        load(tmp_path / "header.csv")


def test_mapping_text_that_matches_nothing(tmp_path):
    m = pd.read_csv(FIXTURES / "product_map.csv")
    m.loc[1, "text_b"] = "Green water bottle"
    path = write(tmp_path, m, "map.csv")
    with pytest.raises(DataError) as err:
        load(PAIRS, product_map_file=str(path))
    msg = str(err.value)
    assert "text_b 'Green water bottle' (en) matches no title" in msg and "line 3" in msg


def test_mapping_bad_columns_and_same_language(tmp_path):
    m = pd.read_csv(FIXTURES / "product_map.csv")
    path = write(tmp_path, m.rename(columns={"text_a": "txt_a"}), "map.csv")
    with pytest.raises(DataError, match="rename column 'txt_a' to 'text_a'"):
        load(PAIRS, product_map_file=str(path))
    m.loc[0, "lang_b"] = "en"
    path = write(tmp_path, m, "map2.csv")
    with pytest.raises(DataError, match="two different languages"):
        load(PAIRS, product_map_file=str(path))
    with pytest.raises(DataError, match="file not found"):
        load(PAIRS, query_map_file=str(tmp_path / "missing.csv"))


def _with_ids(tmp_path: Path) -> Path:
    """en and de pairs whose products carry one id in both languages (p1, p2), splits given."""
    rows = [  # lang, split, query, title, product_id, label
        ("en", "train", "red shoes", "Red Shoes", "p1", 1), ("en", "train", "red shoes", "Blue Hat", "p2", 0),
        ("de", "train", "rote schuhe", "Rote Schuhe", "p1", 1), ("de", "train", "rote schuhe", "Blauer Hut", "p2", 0),
        ("en", "train", "hat", "Blue Hat", "p2", 1), ("de", "train", "schal", "Blauer Hut", "p2", 0),
        ("en", "valid", "blue hat", "Blue Hat", "p2", 1), ("de", "valid", "blauer hut", "Blauer Hut", "p2", 1),
        ("en", "valid", "blue hat", "Red Shoes", "p1", 0), ("de", "valid", "blauer hut", "Rote Schuhe", "p1", 0),
        ("en", "test", "shoes red", "Red Shoes", "p1", 1), ("de", "test", "schuhe rot", "Rote Schuhe", "p1", 1),
        ("en", "test", "shoes red", "Blue Hat", "p2", 0), ("de", "test", "schuhe rot", "Blauer Hut", "p2", 0),
    ]
    df = pd.DataFrame(rows, columns=["lang", "split", "query", "title", "product_id", "label"])
    return write(tmp_path, df)


def test_shared_product_ids_make_mappings_from_training_matches_only(tmp_path, capsys):
    ds = load_pairs(cfg(_with_ids(tmp_path)), progress=True)
    product = set(map(tuple, ds.product_alignment[["lang_a", "text_a", "lang_b", "text_b"]].to_numpy()))
    assert product == {("de", "Rote Schuhe", "en", "Red Shoes"), ("de", "Blauer Hut", "en", "Blue Hat")}
    query = set(map(tuple, ds.query_alignment[["lang_a", "text_a", "lang_b", "text_b"]].to_numpy()))
    # a match on p1 in both languages' training queries; "hat"/"schal" do not match p2 in both (schal is a 0);
    # the valid queries "blue hat"/"blauer hut" both match p2 but are never mappings, nor are test queries
    assert query == {("de", "rote schuhe", "en", "red shoes")}
    out = capsys.readouterr().out
    assert "product mappings from shared product ids 2, from data.product_map_file 0 → 2" in out
    assert "query mappings from shared product ids 1, from data.query_map_file 0 → 1" in out


def test_id_mappings_off_and_mapping_files_add_to_them(tmp_path):
    path = _with_ids(tmp_path)
    off = load_pairs(cfg(path, id_mappings=False), progress=False)
    assert off.product_alignment.empty and off.query_alignment.empty
    extra = write(tmp_path, pd.DataFrame([("en", "hat", "de", "schal")], columns=["lang_a", "text_a", "lang_b", "text_b"]), "q.csv")
    both = load_pairs(cfg(path, query_map_file=str(extra)), progress=False)
    assert len(both.query_alignment) == 2 and len(both.product_alignment) == 2


def test_default_product_ids_are_never_shared_across_languages(tmp_path):
    ds = load(write(tmp_path, frame().drop(columns=["product_id"], errors="ignore")))
    assert ds.product_alignment.empty and ds.query_alignment.empty
