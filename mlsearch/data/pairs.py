"""A user's own labelled pairs (CSV, TSV or parquet) and optional mapping files → :class:`Dataset`.

Pairs file (``data.pairs_file``), one labelled query–title pair per row:

=============  ========  =====================================================================
column         required  meaning
=============  ========  =====================================================================
``lang``       yes       language code, one of en, de, fr, it, es, ja
``query``      yes       the search query (non-empty text)
``title``      yes       the product title (non-empty text)
``label``      yes       1 if the product matches the query, else 0
``split``      no        train, valid or test; all pairs of a query in one split
``query_id``   no        groups the pairs of one query; default: (lang, normalised query)
``product_id`` no        names the product; default: (lang, normalised title)
``relevance``  no        graded gain of the pair for nDCG (a number >= 0, e.g. ESCI's 1, 0.1, 0.01, 0);
                         default: the label
=============  ========  =====================================================================

The format follows the file name: ``.csv`` (comma), ``.tsv``/``.tab`` (tab), ``.parquet``/``.pq``.
Text files are UTF-8 with a header line. Other columns are kept (e.g. ``category`` for plots).

Splits. Without a ``split`` column the queries of each language are shuffled (seeded by
``data.seed``) and split BY QUERY: :data:`TEST_SHARE` (20 %) test, ``data.valid_share`` (10 %) valid,
the rest train; each split gets at least one query. With a ``split`` column, a language without
``valid`` pairs gets ``data.valid_share`` of its training queries as validation.

Mappings from ids (``data.id_mappings``, on): a ``product_id`` shared by titles of two languages is a
product mapping; two languages' TRAINING queries matching (label 1) one ``product_id`` are a query
mapping (FORMATS.md). Mapping files add to them.

Mapping files (optional, ``data.product_map_file`` and ``data.query_map_file``), same formats, columns
``lang_a, text_a, lang_b, text_b``: two titles of the same product in two languages, or two queries
in two languages that led to the same product. Each text must equal (after normalisation: Unicode
NFKC, case-folded, whitespace collapsed) a title (product map) or a query (query map) of its language
in the pairs file; a mapping that matches nothing is an error. Query mappings whose queries are in the
valid or test split are left out (with a warning), so no evaluation query is trained on.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import unicodedata
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mlsearch.config import KNOWN_LANGUAGES, DataConfig
from mlsearch.data.dataset import ALIGN_COLUMNS, PAIR_COLUMNS, SPLITS, Dataset, empty_alignment
from mlsearch.errors import DataError

REQUIRED_COLUMNS = ["lang", "query", "title", "label"]
OPTIONAL_COLUMNS = ["split", "query_id", "product_id", "relevance"]
#: Share of each language's queries that goes to test when the file has no ``split`` column.
TEST_SHARE = 0.2
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET = (".parquet", ".pq")
_SPLIT_ALIASES = {"validation": "valid", "val": "valid", "dev": "valid", "training": "train", "eval": "test"}

# --------------------------------------------------------------------------- shared helpers


def check_file(path_str: str, key: str) -> Path:
    """The path of a configured input file, or a DataError saying why it cannot be used."""
    if not path_str:
        raise DataError(f"{key} is not set", key, f"set {key} to a CSV, TSV or parquet file")
    path = Path(path_str).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file", key, "point it at the file inside")
    if not path.is_file():
        raise DataError(f"file not found: {path}", key, "check the path (relative to the working directory)")
    return path


def row_where(path: Path, idx: int) -> str:
    """Where a data row is, as a user finds it: the line of a text file, the row of a parquet file."""
    if path.suffix.lower() in _PARQUET:
        return f"{path}: row {idx}"
    return f"{path}: line {idx + 2}"


def read_table(path: Path) -> pd.DataFrame:
    """Read CSV/TSV (as text, UTF-8, nothing turned into NaN) or parquet; any failure is one DataError."""
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise DataError(
                f"cannot read parquet: {_first_line(exc)}", str(path), "re-export the file as parquet"
            ) from None
    if suffix not in _SEPARATORS:
        raise DataError(
            f"unknown file type {suffix or '(none)'!r}", str(path), "use a .csv, .tsv or .parquet file"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror}", str(path), "check its permissions") from None
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + bom
        line = data[:offset].count(b"\n") + 1
        raise DataError(
            f"not UTF-8 text: byte {data[offset:offset + 1]!r} at offset {offset}",
            f"{path}: line {line}",
            "save the file as UTF-8",
        ) from None
    try:
        return pd.read_csv(
            io.StringIO(text), sep=_SEPARATORS[suffix], dtype=str, keep_default_na=False, na_filter=False
        )
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", str(path), "write a header line and at least one row") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot parse: {_first_line(exc)}", str(path), "fix the quoting or separators") from None


def require_columns(present: Iterable[str], required: list[str], where: str, what: str = "") -> None:
    """DataError for the first missing column, suggesting the closest present name (a likely typo)."""
    present = [str(c) for c in present]
    for col in required:
        if col in present:
            continue
        close = difflib.get_close_matches(col, present, n=1, cutoff=0.6)
        if not close:  # case or spacing variants such as "Query " are not always "close" enough
            close = [c for c in present if c.strip().lower() == col]
        fix = f"rename column {close[0]!r} to {col!r}" if close else f"add it (columns found: {present})"
        raise DataError(f"missing column {col!r}{what}", where, fix)


def normalise_text(text: str) -> str:
    """The form texts are compared in: Unicode NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_id(lang: str, text: str) -> str:
    """A stable id for a text of one language (same normalised text → same id)."""
    return f"{lang}-{hashlib.sha1(normalise_text(text).encode('utf-8')).hexdigest()[:16]}"


def _rng(seed: int, lang: str) -> np.random.Generator:
    """One generator per language, so dropping a language never changes another one's split."""
    return np.random.default_rng([seed, zlib.crc32(lang.encode())])


def split_by_query(pairs: pd.DataFrame, seed: int, test_share: float, valid_share: float, where: str) -> pd.Series:
    """A split name per row: the queries of each language shuffled and cut test | valid | train."""
    out = pd.Series("train", index=pairs.index, dtype=object)
    for lang, group in pairs.groupby("lang", sort=True):
        qids = np.array(sorted(group["query_id"].unique()), dtype=object)
        n = len(qids)
        if n < 3:
            raise DataError(
                f"language {lang!r} has {n} distinct queries, too few to split into train/valid/test",
                where,
                "add queries for it, give a split column, or drop it from data.languages",
            )
        n_test = max(1, round(test_share * n))
        n_valid = max(1, round(valid_share * n)) if valid_share > 0 else 0
        n_valid = min(n_valid, n - n_test - 1)
        order = qids[_rng(seed, str(lang)).permutation(n)]
        split_of = {q: "test" for q in order[:n_test]} | {q: "valid" for q in order[n_test : n_test + n_valid]}
        out[group.index] = [split_of.get(q, "train") for q in group["query_id"]]
    return out


def carve_valid(pairs: pd.DataFrame, valid_share: float, seed: int, where: str) -> pd.DataFrame:
    """Move ``valid_share`` of the training queries of each language without valid pairs to ``valid``."""
    pairs = pairs.copy()
    for lang in sorted(pairs["lang"].unique()):
        mine = pairs["lang"] == lang
        if ((pairs["split"] == "valid") & mine).any():
            continue
        train = mine & (pairs["split"] == "train")
        qids = np.array(sorted(pairs.loc[train, "query_id"].unique()), dtype=object)
        if len(qids) < 2:
            continue  # the caller's split check names the language
        if valid_share <= 0:
            raise DataError(
                f"language {lang!r} has no validation pairs and data.valid_share is 0",
                where,
                "set data.valid_share > 0 to carve validation queries from train",
            )
        n_valid = min(max(1, round(valid_share * len(qids))), len(qids) - 1)
        chosen = set(qids[_rng(seed, lang).permutation(len(qids))[:n_valid]])
        pairs.loc[train & pairs["query_id"].isin(chosen), "split"] = "valid"
    return pairs


def check_splits(pairs: pd.DataFrame, languages: list[str], where: str) -> None:
    """Every language needs pairs in every split; say which one is empty."""
    for lang in languages:
        for split in SPLITS:
            if not ((pairs["lang"] == lang) & (pairs["split"] == split)).any():
                raise DataError(
                    f"language {lang!r} has no {split} pairs",
                    where,
                    f"add {split} pairs for {lang!r} or drop it from data.languages",
                )


def report(name: str, languages: list[str], pairs: pd.DataFrame, product: pd.DataFrame, query: pd.DataFrame,
           progress: bool) -> None:
    """Print the counts a user checks first; warn when there is nothing to align."""
    if progress:
        counts = pairs.groupby(["lang", "split"]).size()
        for lang in languages:
            per = ", ".join(f"{s} {int(counts.get((lang, s), 0)):,}" for s in SPLITS)
            print(f"{name}: {lang}: {per} pairs")
        for kind, table in (("product", product), ("query", query)):
            sizes = table.groupby(["lang_a", "lang_b"]).size()
            text = ", ".join(f"{a}-{b} {int(n):,}" for (a, b), n in sizes.items()) or "none"
            print(f"{name}: {kind} mappings: {text}")
    if len(languages) > 1 and product.empty and query.empty:
        warnings.warn(
            f"{name}: no product or query mappings between {languages}; the alignment phase will be skipped",
            stacklevel=3,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- columns


def _refuse_first_bad(bad: pd.Series, df: pd.DataFrame, col: str, path: Path, what: str, fix: str) -> None:
    """A DataError naming the first row where ``bad`` holds (its file line and column), if any;
    ``what`` names that row's raw value as ``{value!r}``."""
    if bad.any():
        idx = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(what.format(value=df[col].iloc[idx]), f"{row_where(path, idx)}, column {col}", fix)


def _text_column(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    values = df[col]
    bad = values.isna() | (values.astype(str).str.strip() == "")
    _refuse_first_bad(bad, df, col, path, f"empty {col!r} in {int(bad.sum())} row(s)", "fill in or drop those rows")
    return values.astype(str).str.strip()


def _lang_column(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    langs = _text_column(df, col, path).str.lower()
    _refuse_first_bad(~langs.isin(KNOWN_LANGUAGES), df, col, path, "unknown language code {value!r}",
                      f"use one of {list(KNOWN_LANGUAGES)}")
    return langs


def _label_column(df: pd.DataFrame, path: Path) -> pd.Series:
    col = df["label"]
    if pd.api.types.is_bool_dtype(col):
        return col.astype("int64")
    labels = col.astype(str).str.strip().map({"0": 0, "1": 1, "0.0": 0, "1.0": 1})
    _refuse_first_bad(labels.isna(), df, "label", path, "label {value!r} is not 0 or 1", "write 1 for a match and 0 for a non-match")
    return labels.astype("int64")


def _relevance_column(df: pd.DataFrame, path: Path) -> pd.Series:
    """Graded gains for nDCG: finite numbers >= 0."""
    values = pd.to_numeric(df["relevance"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0.0)) | (values < 0)
    _refuse_first_bad(bad, df, "relevance", path, "relevance {value!r} is not a number >= 0",
                      "write a graded gain such as 1, 0.1 or 0, or drop the column to use the label")
    return values.astype("float64")


def _split_column(df: pd.DataFrame, path: Path) -> pd.Series:
    splits = df["split"].astype(str).str.strip().str.lower().replace(_SPLIT_ALIASES)
    _refuse_first_bad(~splits.isin(SPLITS) | df["split"].isna(), df, "split", path, "unknown split {value!r}",
                      f"use one of {list(SPLITS)}, or drop the split column to split by query automatically")
    return splits


# --------------------------------------------------------------------------- loading


def read_pairs(path: Path) -> pd.DataFrame:
    """Read and check a pairs file; returns all its rows (every language) with the Dataset's columns."""
    raw = read_table(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(raw.columns, REQUIRED_COLUMNS, str(path), " in the pairs file")
    if raw.empty:
        raise DataError("the pairs file has no rows", str(path), "add labelled pairs below the header")
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    out["lang"] = _lang_column(raw, "lang", path)
    out["query"] = _text_column(raw, "query", path)
    out["title"] = _text_column(raw, "title", path)
    out["label"] = _label_column(raw, path)
    if "relevance" in raw.columns:
        out["relevance"] = _relevance_column(raw, path)
    if "query_id" in raw.columns:
        out["query_id"] = _text_column(raw, "query_id", path)
    else:
        out["query_id"] = [text_id(lang, q) for lang, q in zip(out["lang"], out["query"], strict=True)]
    if "product_id" in raw.columns:
        out["product_id"] = _text_column(raw, "product_id", path)
    else:
        out["product_id"] = [text_id(lang, t) for lang, t in zip(out["lang"], out["title"], strict=True)]
    if "split" in raw.columns:
        out["split"] = _split_column(raw, path)
        leaked = out.groupby(["lang", "query_id"])["split"].nunique()
        if (leaked > 1).any():
            lang, qid = leaked[leaked > 1].index[0]
            rows = out.index[(out["lang"] == lang) & (out["query_id"] == qid)]
            raise DataError(
                f"query {out.loc[rows[0], 'query']!r} ({lang}) is in several splits",
                f"{row_where(path, int(rows[0]))} and {row_where(path, int(rows[-1])).split(': ')[-1]}",
                "keep all pairs of a query in one split, or drop the split column",
            )
    extra = [c for c in raw.columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    for col in extra:
        out[col] = raw[col]
    return out


def load_mapping(path_str: str, key: str, kind: str, pairs: pd.DataFrame, languages: list[str]) -> pd.DataFrame:
    """Read a mapping file and match its texts to titles (``kind='product'``) or queries (``'query'``)."""
    path = check_file(path_str, key)
    raw = read_table(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    require_columns(raw.columns, ALIGN_COLUMNS, str(path), f" in the {kind} mapping file")
    if raw.empty:
        raise DataError(f"the {kind} mapping file has no rows", str(path), f"add mappings, or unset {key}")
    raw = raw.reset_index(drop=True)
    lang_a, lang_b = _lang_column(raw, "lang_a", path), _lang_column(raw, "lang_b", path)
    text_a, text_b = _text_column(raw, "text_a", path), _text_column(raw, "text_b", path)
    same = lang_a == lang_b
    if same.any():
        idx = int(same.to_numpy().nonzero()[0][0])
        raise DataError(
            f"a mapping must join two different languages, got {lang_a[idx]!r} twice",
            row_where(path, idx),
            "map texts between two languages",
        )
    col = "title" if kind == "product" else "query"
    # normalised text → (text as in the pairs file, its splits) per language
    known: dict[str, dict[str, str]] = {}
    in_train: dict[str, set[str]] = {}
    for lang, group in pairs.groupby("lang"):
        norm = group[col].map(normalise_text)
        first = ~norm.duplicated()  # the first spelling of a text in the pairs file stands for all
        known[str(lang)] = dict(zip(norm[first], group.loc[first, col], strict=True))
        in_train[str(lang)] = set(norm[group["split"] == "train"])
    rows, held_out = [], 0
    for idx in range(len(raw)):
        if lang_a[idx] not in languages or lang_b[idx] not in languages:
            continue  # a language this run does not load
        ends = []
        for lang, text, side in ((lang_a[idx], text_a[idx], "text_a"), (lang_b[idx], text_b[idx], "text_b")):
            norm = normalise_text(text)
            if norm not in known.get(lang, {}):
                raise DataError(
                    f"{kind} mapping {side} {text!r} ({lang}) matches no {col} of that language in the pairs file",
                    row_where(path, idx),
                    f"make it equal a {col} of the pairs file, or drop the row",
                )
            ends.append((lang, known[lang][norm], norm in in_train[lang]))
        if kind == "query" and not (ends[0][2] and ends[1][2]):
            held_out += 1
            continue
        (la, ta, _), (lb, tb, _) = sorted(ends)
        rows.append((la, ta, lb, tb))
    if held_out:
        warnings.warn(
            f"{path.name}: {held_out} query mapping(s) use validation or test queries and were left out",
            stacklevel=2,
        )
    if not rows:
        return empty_alignment()
    table = pd.DataFrame(rows, columns=ALIGN_COLUMNS).drop_duplicates()
    return table.sort_values(ALIGN_COLUMNS).reset_index(drop=True)


def _cross_join(table: pd.DataFrame, text: str) -> pd.DataFrame:
    """Pairs of texts of the same product_id in two languages, ``lang_a < lang_b``, deduplicated."""
    langs = table.groupby("product_id")["lang"].nunique()
    table = table[table["product_id"].isin(langs.index[langs > 1])]  # skip same-locale blow-up
    if table.empty:
        return empty_alignment()
    m = table.merge(table, on="product_id", suffixes=("_a", "_b"))
    m = m[m["lang_a"] < m["lang_b"]]
    if m.empty:
        return empty_alignment()
    out = m.rename(columns={f"{text}_a": "text_a", f"{text}_b": "text_b"})[ALIGN_COLUMNS]
    return out.drop_duplicates().sort_values(ALIGN_COLUMNS).reset_index(drop=True)


def product_mappings(pairs: pd.DataFrame) -> pd.DataFrame:
    """Titles of one product_id listed in two languages (the catalogue of the selected examples)."""
    titles = pairs[["product_id", "lang", "title"]].drop_duplicates(["product_id", "lang"])
    return _cross_join(titles, "title")


def query_mappings(pairs: pd.DataFrame, match: pd.Series) -> pd.DataFrame:
    """TRAINING queries of two languages that match (``match``: ESCI's Exact, or label 1) the same
    product_id; a valid or test query never becomes a mapping."""
    hits = pairs[(pairs["split"] == "train") & match]
    return _cross_join(hits[["product_id", "lang", "query"]].drop_duplicates(), "query")


def _union(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Mappings of both tables, each once."""
    if a.empty or b.empty:
        return b if a.empty else a
    return pd.concat([a, b], ignore_index=True).drop_duplicates().reset_index(drop=True)


def load_pairs(data_cfg: DataConfig, progress: bool = True) -> Dataset:
    """The Dataset of ``data.pairs_file`` (+ mapping files), restricted to ``data.languages`` it holds."""
    path = check_file(data_cfg.pairs_file, "data.pairs_file")
    pairs = read_pairs(path)
    present = [lang for lang in KNOWN_LANGUAGES if lang in set(pairs["lang"])]
    languages = [lang for lang in data_cfg.languages if lang in present]
    if not languages:
        raise DataError(
            f"none of data.languages {data_cfg.languages} is in the pairs file (it has {present})",
            str(path),
            f"set data.languages to some of {present}",
        )
    pairs = pairs[pairs["lang"].isin(languages)]
    if "split" not in pairs.columns:
        pairs = pairs.assign(split=split_by_query(pairs, data_cfg.seed, TEST_SHARE, data_cfg.valid_share, str(path)))
    else:
        pairs = carve_valid(pairs, data_cfg.valid_share, data_cfg.seed, str(path))
    check_splits(pairs, languages, str(path))
    extra = [c for c in pairs.columns if c not in PAIR_COLUMNS]
    pairs = pairs[PAIR_COLUMNS + extra].reset_index(drop=True)

    by_ids = {"product": empty_alignment(), "query": empty_alignment()}
    if data_cfg.id_mappings:  # default ids (language + title) are never shared, so only the ids a file gives map
        by_ids = {"product": product_mappings(pairs), "query": query_mappings(pairs, pairs["label"] == 1)}
    files = {"product": empty_alignment(), "query": empty_alignment()}
    if data_cfg.product_map_file:
        files["product"] = load_mapping(data_cfg.product_map_file, "data.product_map_file", "product", pairs, languages)
    if data_cfg.query_map_file:
        files["query"] = load_mapping(data_cfg.query_map_file, "data.query_map_file", "query", pairs, languages)
    product, query = (_union(by_ids[k], files[k]) for k in ("product", "query"))
    name = f"pairs:{path.name}"
    if progress:
        for kind in ("product", "query"):
            print(f"{name}: {kind} mappings from shared product ids {len(by_ids[kind]):,}, from "
                  f"{'data.' + kind + '_map_file'} {len(files[kind]):,} → {len(product if kind == 'product' else query):,}")
    report(name, languages, pairs, product, query, progress)
    meta = {"source": "pairs", "source_languages": present, "file": str(path)}
    return Dataset(name, languages, pairs, product, query, meta=meta).validate()
