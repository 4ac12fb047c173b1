"""The one in-memory dataset type that every source produces and every model consumes.

- ``pairs``: labelled query–title pairs, one row each, columns :data:`PAIR_COLUMNS`
  (``lang, split, query_id, query, product_id, title, label``; ``split`` in train/valid/test,
  ``label`` 0/1) plus optional extra columns such as ``category`` (used by plots only).
- ``product_alignment``: titles of the same cross-listed product in two languages;
- ``query_alignment``: training queries in two languages that led to the same cross-listed product.
  Both have columns :data:`ALIGN_COLUMNS` (``lang_a, text_a, lang_b, text_b``) with
  ``lang_a < lang_b`` alphabetically, so each language pair has one key such as ``"de-fr"``.

Alignment queries come from the training split only, so no test query leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import pandas as pd

from mlsearch.errors import DataError

PAIR_COLUMNS = ["lang", "split", "query_id", "query", "product_id", "title", "label"]
ALIGN_COLUMNS = ["lang_a", "text_a", "lang_b", "text_b"]
SPLITS = ("train", "valid", "test")


def empty_alignment() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ALIGN_COLUMNS})


@dataclass
class Dataset:
    """Pairs per language and split, plus product and query mappings between languages."""

    name: str
    languages: list[str]
    pairs: pd.DataFrame
    product_alignment: pd.DataFrame = field(default_factory=empty_alignment)
    query_alignment: pd.DataFrame = field(default_factory=empty_alignment)
    #: Source-specific extras (e.g. ``cross_listed_products``, ``design``); cards read what is there.
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ access
    def split(self, lang: str, split: str) -> pd.DataFrame:
        """The pairs of one language and split (a view with a fresh index)."""
        p = self.pairs
        return p[(p["lang"] == lang) & (p["split"] == split)].reset_index(drop=True)

    def alignment(self, kind: str, lang_a: str, lang_b: str) -> pd.DataFrame:
        """Mapped texts between two languages, oriented so ``text_a`` is in ``lang_a``."""
        table = {"product": self.product_alignment, "query": self.query_alignment}[kind]
        a, b = sorted((lang_a, lang_b))
        sel = table[(table["lang_a"] == a) & (table["lang_b"] == b)].reset_index(drop=True)
        if (a, b) != (lang_a, lang_b):
            sel = sel.rename(columns={"lang_a": "lang_b", "text_a": "text_b", "lang_b": "lang_a", "text_b": "text_a"})
            sel = sel[ALIGN_COLUMNS]
        return sel

    def language_pairs(self) -> list[tuple[str, str]]:
        return list(combinations(sorted(self.languages), 2))

    def subset(self, languages: list[str]) -> Dataset:
        """The same data restricted to some languages (pairs and mappings between them only)."""
        missing = [lang for lang in languages if lang not in self.languages]
        if missing:
            raise DataError(
                f"languages {missing} are not in dataset {self.name!r} ({self.languages})",
                "languages",
                "train on languages the dataset holds",
            )
        keep = set(languages)

        def align(t: pd.DataFrame) -> pd.DataFrame:
            return t[t["lang_a"].isin(keep) & t["lang_b"].isin(keep)].reset_index(drop=True)

        return Dataset(
            name=self.name,
            languages=[lang for lang in self.languages if lang in keep],
            pairs=self.pairs[self.pairs["lang"].isin(keep)].reset_index(drop=True),
            product_alignment=align(self.product_alignment),
            query_alignment=align(self.query_alignment),
            meta=dict(self.meta),
        )

    # ------------------------------------------------------------------ checks
    def validate(self) -> Dataset:
        """Raise DataError on anything a model could silently mis-learn from."""
        p = self.pairs
        missing = [c for c in PAIR_COLUMNS if c not in p.columns]
        if missing:
            raise DataError(f"pairs lack columns {missing}", self.name, f"provide {PAIR_COLUMNS}")
        bad_split = sorted(set(p["split"]) - set(SPLITS))
        if bad_split:
            raise DataError(f"unknown split names {bad_split}", f"{self.name}: column split", f"use {list(SPLITS)}")
        if not set(p["label"].unique()) <= {0, 1}:
            raise DataError("labels must be 0 or 1", f"{self.name}: column label", "map labels to 0/1")
        for col in ("query", "title"):
            bad = p[col].isna() | (p[col].astype(str).str.strip() == "")
            if bad.any():
                raise DataError(
                    f"empty {col} text in {int(bad.sum())} row(s)",
                    f"{self.name}: column {col}, first row {int(bad.idxmax())}",
                    "drop or fill those rows",
                )
        for lang in self.languages:
            for split in SPLITS:
                if not ((p["lang"] == lang) & (p["split"] == split)).any():
                    raise DataError(
                        f"language {lang!r} has no {split} pairs",
                        self.name,
                        "add data for it or drop the language",
                    )
        leaked = p.groupby(["lang", "query_id"])["split"].nunique()
        if (leaked > 1).any():
            lang, qid = leaked[leaked > 1].index[0]
            raise DataError(
                f"query {qid!r} ({lang}) appears in several splits", self.name, "split by query, not by pair"
            )
        return self

    def stats(self) -> dict:
        """Counts for cards and ``stats.json`` (see ``mlsearch.data.card``)."""
        p = self.pairs
        pairs = {
            lang: {s: int(((p["lang"] == lang) & (p["split"] == s)).sum()) for s in SPLITS}
            for lang in self.languages
        }
        positive = {lang: float(p.loc[p["lang"] == lang, "label"].mean()) for lang in self.languages}

        def per_pair(t: pd.DataFrame) -> dict[str, int]:
            return {f"{a}-{b}": int(((t["lang_a"] == a) & (t["lang_b"] == b)).sum()) for a, b in self.language_pairs()}

        return {
            "name": self.name,
            "languages": list(self.languages),
            "pairs": pairs,
            "positive_rate": positive,
            "product_alignment": per_pair(self.product_alignment),
            "query_alignment": per_pair(self.query_alignment),
        }
