"""One entry point for every data source: ``load_dataset(cfg)`` → a validated, cached :class:`Dataset`.

Dispatches on ``cfg.data.source`` (benchmark, esci, pairs), keeps the requested ``data.languages``
(a language the source lacks is an error, never silently dropped) and caches the result as parquet
under ``<data.cache_dir>/<source>-<hash>/``. The hash covers the data parameters the source reads,
the input files' size and modification time (pairs source) and the code of ``mlsearch/data``, so a
changed file, parameter or generator never serves a stale cache; the cache holds everything a
later call needs, so ESCI loads offline once built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mlsearch.config import DataConfig, RunConfig
from mlsearch.data.benchmark import generate
from mlsearch.data.dataset import Dataset
from mlsearch.data.esci import ESCI_LANGUAGES, load_esci
from mlsearch.data.pairs import load_pairs
from mlsearch.data.subsample import subsample
from mlsearch.errors import DataError
from mlsearch.io import atomic_write, read_json, write_json

#: Bump when the cache layout changes.
CACHE_VERSION = 1
TABLES = ("pairs", "product_alignment", "query_alignment")
_ESCI_KEYS = ("esci_small_version", "esci_positive")
_PAIRS_KEYS = ("pairs_file", "product_map_file", "query_map_file")
#: Parameters that never change what a source produces (where files live, whether to download).
_NEVER = ("cache_dir", "esci_dir", "esci_download")
#: Applied after the cache (mlsearch/data/subsample.py): one cached dataset serves every share.
_SUBSAMPLE = ("train_share", "train_share_by_language", "product_alignment_share", "query_alignment_share")


def _code_fingerprint() -> str:
    """Hash of the data package's code and resources: a changed generator or loader means new data."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.suffix in (".pyc", ".md"):
            continue
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _file_stamp(path_str: str) -> Any:
    if not path_str:
        return None
    path = Path(path_str).expanduser()
    try:
        st = path.stat()
    except OSError:
        return str(path.resolve())
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def cache_key(data: DataConfig) -> dict[str, Any]:
    """The inputs that decide a source's Dataset (what the cache folder's hash is taken of)."""
    params = {k: v for k, v in dataclasses.asdict(data).items() if k not in _NEVER + _SUBSAMPLE}
    if data.source != "esci":
        params = {k: v for k, v in params.items() if k not in _ESCI_KEYS}
    if data.source == "pairs":
        params.update({k: _file_stamp(getattr(data, k)) for k in _PAIRS_KEYS})
    else:
        params = {k: v for k, v in params.items() if k not in _PAIRS_KEYS}
    return {"version": CACHE_VERSION, "code": _code_fingerprint(), "data": params}


def cache_path(data: DataConfig) -> Path:
    """``<data.cache_dir>/<source>-<12 hex digits of the cache key>``."""
    digest = hashlib.sha256(json.dumps(cache_key(data), sort_keys=True).encode()).hexdigest()[:12]
    return Path(data.cache_dir) / f"{data.source}-{digest}"


def write_cache(ds: Dataset, folder: Path, key: dict[str, Any]) -> Path:
    """Each table atomically, then ``meta.json`` last: its presence marks a complete cache."""
    for table in TABLES:
        frame: pd.DataFrame = getattr(ds, table)
        atomic_write(folder / f"{table}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
    write_json(folder / "meta.json", {"name": ds.name, "languages": ds.languages, "meta": ds.meta, "key": key})
    return folder


def read_cache(folder: Path) -> Dataset | None:
    """The cached Dataset, or None when there is no complete, readable cache."""
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = read_json(meta_file)
        tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None
    return Dataset(name=meta["name"], languages=meta["languages"], meta=meta.get("meta", {}), **tables)


def _build(data: DataConfig, progress: bool) -> Dataset:
    if data.source == "benchmark":
        return generate(data, progress)
    if data.source == "esci":
        return load_esci(data, progress)
    if data.source == "pairs":
        return load_pairs(data, progress)
    raise DataError(f"unknown data source {data.source!r}", "data.source", "use benchmark, esci or pairs")


def _source_languages(data: DataConfig) -> list[str] | None:
    """Languages a source is known to hold before reading anything (None: known only after loading)."""
    if data.source == "esci":
        return list(ESCI_LANGUAGES)
    return None


def _check_languages(data: DataConfig, available: list[str]) -> None:
    absent = [lang for lang in data.languages if lang not in available]
    if absent:
        raise DataError(
            f"languages {absent} are not in the {data.source} source (it has {available})",
            "data.languages",
            f"set data.languages to some of {available}",
        )


def load_dataset(cfg: RunConfig, progress: bool = True) -> Dataset:
    """The Dataset of ``cfg.data``: from the cache when present, else built, validated and cached;
    then the shares of training queries and mappings that ``cfg.data`` asks for (all by default)."""
    return subsample(_load_whole(cfg, progress), cfg.data).validate()


def _load_whole(cfg: RunConfig, progress: bool) -> Dataset:
    data = cfg.data
    known = _source_languages(data)
    if known is not None:
        _check_languages(data, known)  # before any download
    folder = cache_path(data)
    ds = read_cache(folder)
    if ds is not None:
        if progress:
            print(f"{ds.name}: loaded from {folder}")
        return ds.validate()
    ds = _build(data, progress)
    _check_languages(data, ds.meta.get("source_languages", ds.languages))
    _check_languages(data, ds.languages)
    if ds.languages != list(data.languages):
        meta = ds.meta
        ds = ds.subset(list(data.languages))
        ds.meta = meta
    ds.validate()
    write_cache(ds, folder, cache_key(data))
    # return what the cache holds, so a first and a later call give identical frames (dtypes included)
    cached = read_cache(folder)
    if cached is None:
        raise DataError("the dataset cache just written cannot be read", str(folder), "check the disk and retry")
    return cached
