"""The Shopping Queries Dataset (ESCI; Reddy et al., 2022) → :class:`Dataset`.

Reads the two official parquet files from ``data.esci_dir``; when they are missing and
``data.esci_download`` is true, downloads them from the public repository (amazon-science/esci-data,
Git LFS media URLs), checking the byte count and the parquet magic bytes before the file is renamed
into place, so a broken download never looks like data.

Mapping to the paper's setting:

- locales → languages: us → en, es → es, jp → ja;
- ``esci_label`` → match label: E (Exact) is a match; with ``data.esci_positive: ES`` so is
  S (Substitute); C and I never are. The letter is kept in an extra ``esci_label`` column, and
  its official nDCG gain (E 1.0, S 0.1, C 0.01, I 0) in ``relevance``;
- the official train/test split is kept; ``data.valid_share`` of each language's training QUERIES
  (seeded by ``data.seed``) become the validation split;
- ``data.esci_small_version`` selects the reduced version (task 1) instead of the large one;
- product mappings: titles of a product_id listed in two locales (among the selected examples);
- query mappings: training queries of two locales with an Exact judgement on the same product_id.

Pairs whose product has no title in the products file, or whose query is empty, are dropped with a
warning (the official files are fixed; there is nothing a user could correct).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from mlsearch.config import DataConfig
from mlsearch.data.dataset import PAIR_COLUMNS, Dataset
from mlsearch.data.pairs import carve_valid, check_splits, product_mappings, query_mappings, report, require_columns
from mlsearch.errors import DataError
from mlsearch.io import atomic_write
from mlsearch.ranking import ESCI_GAINS

ESCI_BASE_URL = "https://github.com/amazon-science/esci-data/raw/main/shopping_queries_dataset"
EXAMPLES_FILE = "shopping_queries_dataset_examples.parquet"
PRODUCTS_FILE = "shopping_queries_dataset_products.parquet"
EXAMPLE_COLUMNS = [
    "example_id", "query", "query_id", "product_id", "product_locale",
    "esci_label", "small_version", "large_version", "split",
]  # fmt: skip
PRODUCT_COLUMNS = [
    "product_id", "product_title", "product_description", "product_bullet_point",
    "product_brand", "product_color", "product_locale",
]  # fmt: skip
LOCALE_TO_LANG = {"us": "en", "es": "es", "jp": "ja"}
ESCI_LANGUAGES = ("en", "es", "ja")
ESCI_LABELS = ("E", "S", "C", "I")
_MAGIC = b"PAR1"

# --------------------------------------------------------------------------- files


def is_parquet(path: Path) -> bool:
    """Parquet files start and end with ``PAR1``; a Git LFS pointer or an HTML error page does not."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0, 2)
            if f.tell() < 12:
                return False
            f.seek(-4, 2)
            return head == _MAGIC and f.read(4) == _MAGIC
    except OSError:
        return False


def download(url: str, dest: Path, progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically, checking Content-Length and the parquet magic bytes."""
    fix = f"check the network, or download {url} by hand into {dest.parent}"
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"cannot download {dest.name}: {reason}", url, fix) from None

    def write(tmp: Path) -> None:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with open(tmp, "wb") as f, tqdm(
            total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
        ) as bar:
            while True:
                try:
                    chunk = response.read(1 << 20)
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    break
                except (OSError, http.client.HTTPException) as exc:
                    raise DataError(f"download of {dest.name} broke off: {exc}", url, fix) from None
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise DataError(f"incomplete download of {dest.name}: {received} of {total} bytes", url, fix)
        if not is_parquet(tmp):
            raise DataError(
                f"{dest.name} downloaded from {url} is not a parquet file ({received} bytes)",
                url,
                f"download it by hand (Git LFS media) into {dest.parent}",
            )

    with response:
        atomic_write(dest, write)
    return dest


def esci_files(data_cfg: DataConfig, progress: bool = True, base_url: str | None = None) -> tuple[Path, Path]:
    """The examples and products files in ``data.esci_dir``, downloaded first when allowed and missing."""
    folder = Path(data_cfg.esci_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder", "data.esci_dir", "point it at a folder")
    base = (base_url or ESCI_BASE_URL).rstrip("/")
    paths = []
    for name in (EXAMPLES_FILE, PRODUCTS_FILE):
        path = folder / name
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a file", "data.esci_dir", "remove it or pick another folder")
        if not path.exists():
            if not data_cfg.esci_download:
                raise DataError(
                    f"{name} not found in {folder}",
                    "data.esci_dir",
                    f"download it from {base}/{name} or set data.esci_download: true",
                )
            download(f"{base}/{name}", path, progress)
        if not is_parquet(path):
            raise DataError(
                f"{path} is not a parquet file (a Git LFS pointer or a broken download?)",
                "data.esci_dir",
                "fetch it with `git lfs pull`, or delete it and set data.esci_download: true",
            )
        paths.append(path)
    return paths[0], paths[1]


def _read(path: Path, required: list[str], columns: list[str]) -> pd.DataFrame:
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"cannot read {path.name}: {str(exc).splitlines()[0]}", str(path), "re-download it") from None
    require_columns(names, required, str(path), f" in {path.name}")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:
        raise DataError(f"cannot read {path.name}: {str(exc).splitlines()[0]}", str(path), "re-download it") from None


# --------------------------------------------------------------------------- tables


def _check_values(ex: pd.DataFrame, column: str, allowed: list[str], where: str) -> None:
    """A DataError naming the first row whose ``column`` is not one of ``allowed``."""
    bad = ~ex[column].isin(allowed)
    if bad.any():
        i = ex.index[bad.to_numpy().argmax()]
        raise DataError(
            f"unknown {column} {ex.at[i, column]!r} in row {i} (example_id {ex.at[i, 'example_id']})",
            where,
            f"ESCI {column} values are {allowed}; re-download the file",
        )


def esci_pairs(examples: pd.DataFrame, titles: pd.DataFrame, data_cfg: DataConfig, languages: list[str],
               where: str) -> pd.DataFrame:
    """Labelled pairs (PAIR_COLUMNS + ``esci_label``) of the selected version and languages."""
    version = "small_version" if data_cfg.esci_small_version else "large_version"
    ex = examples[examples[version] == 1]
    _check_values(ex, "product_locale", list(LOCALE_TO_LANG), where)
    ex = ex.assign(lang=ex["product_locale"].map(LOCALE_TO_LANG))
    ex = ex[ex["lang"].isin(languages)]
    _check_values(ex, "esci_label", list(ESCI_LABELS), where)
    _check_values(ex, "split", ["train", "test"], where)
    ex = ex.merge(titles, on=["product_id", "product_locale"], how="left", validate="many_to_one")
    no_title = ex["product_title"].isna() | (ex["product_title"].astype(str).str.strip() == "")
    no_query = ex["query"].isna() | (ex["query"].astype(str).str.strip() == "")
    dropped = no_title | no_query
    if dropped.any():
        warnings.warn(
            f"ESCI: dropped {int(no_title.sum())} pair(s) without a product title and {int(no_query.sum())} "
            f"with an empty query (first example_id {ex.loc[dropped, 'example_id'].iloc[0]})",
            stacklevel=3,
        )
        ex = ex[~dropped]
    positive = list(data_cfg.esci_positive)
    pairs = pd.DataFrame(
        {
            "lang": ex["lang"].astype(str),
            "split": ex["split"].astype(str),
            "query_id": ex["query_id"],
            "query": ex["query"].astype(str).str.strip(),
            "product_id": ex["product_id"].astype(str),
            "title": ex["product_title"].astype(str).str.strip(),
            "label": ex["esci_label"].isin(positive).astype("int64"),
            "esci_label": ex["esci_label"].astype(str),
            # graded gains of nDCG (mlsearch.ranking): the official E 1.0, S 0.1, C 0.01, I 0
            "relevance": ex["esci_label"].astype(str).map(ESCI_GAINS).astype("float64"),
        }
    )
    return pairs.reset_index(drop=True)


def load_esci(data_cfg: DataConfig, progress: bool = True) -> Dataset:
    """The ESCI Dataset for the ESCI languages among ``data.languages`` (downloading if allowed)."""
    languages = [lang for lang in data_cfg.languages if lang in ESCI_LANGUAGES]
    if not languages:
        raise DataError(
            f"none of data.languages {data_cfg.languages} is in ESCI",
            "data.languages",
            f"use some of {list(ESCI_LANGUAGES)}",
        )
    examples_path, products_path = esci_files(data_cfg, progress)
    examples = _read(examples_path, EXAMPLE_COLUMNS, EXAMPLE_COLUMNS)
    locales = [loc for loc, lang in LOCALE_TO_LANG.items() if lang in languages]
    products = _read(products_path, PRODUCT_COLUMNS, ["product_id", "product_title", "product_locale"])
    titles = products[products["product_locale"].isin(locales)].drop_duplicates(["product_id", "product_locale"])
    pairs = esci_pairs(examples, titles, data_cfg, languages, str(examples_path))
    del examples, products, titles
    pairs = carve_valid(pairs, data_cfg.valid_share, data_cfg.seed, str(examples_path))
    check_splits(pairs, languages, f"{examples_path} (data.esci_small_version: {data_cfg.esci_small_version})")
    pairs = pairs[PAIR_COLUMNS + ["esci_label", "relevance"]]
    product, query = product_mappings(pairs), query_mappings(pairs, pairs["esci_label"] == "E")
    report("ESCI", languages, pairs, product, query, progress)
    meta = {
        "source": "esci",
        "source_languages": list(ESCI_LANGUAGES),
        "version": "small" if data_cfg.esci_small_version else "large",
        "positive": data_cfg.esci_positive,
    }
    return Dataset("esci", languages, pairs, product, query, meta=meta).validate()
