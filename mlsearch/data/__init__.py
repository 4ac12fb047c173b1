"""Data: one :class:`Dataset` type for every source (embedded benchmark, ESCI, pairs files)."""

from mlsearch.data.dataset import ALIGN_COLUMNS, PAIR_COLUMNS, Dataset

__all__ = ["ALIGN_COLUMNS", "PAIR_COLUMNS", "Dataset"]
