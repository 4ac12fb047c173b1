"""A tiny, easily separable multilingual Dataset for model and training tests.

Each language has its own words for the same ``n_words`` concepts (``en``: "enw3", ``de``: "dew3").
A query names one concept; a title names one concept among filler words; label = same concept.
Product alignment maps titles of concept i across languages; query alignment maps queries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.data.dataset import Dataset


def word(lang: str, i: int) -> str:
    return f"{lang}w{i}" if lang != "ja" else "ことば" + "アイウエオカキクケコ"[i % 10] + "サシスセソ"[i // 10 % 5]


def make_dataset(
    langs: tuple[str, ...] = ("en", "de"), n_words: int = 12, queries: int = 40, per_query: int = 4, seed: int = 0
) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = []
    for lang in langs:
        for split, nq in (("train", queries), ("valid", queries // 2), ("test", queries // 2)):
            for q in range(nq):
                c = int(rng.integers(n_words))
                for j in range(per_query):
                    pos = j < per_query // 2
                    t = c if pos else int((c + rng.integers(1, n_words)) % n_words)
                    filler = f"{lang}x{int(rng.integers(5))} {lang}y{int(rng.integers(5))}"
                    rows.append(
                        (lang, split, f"{lang}-{split}-{q}", word(lang, c), f"p{t}-{j}", f"{filler} {word(lang, t)}", int(pos))
                    )
    pairs = pd.DataFrame(rows, columns=["lang", "split", "query_id", "query", "product_id", "title", "label"])
    prod, qry = [], []
    for a_i, a in enumerate(sorted(langs)):
        for b in sorted(langs)[a_i + 1 :]:
            for i in range(n_words):
                prod.append((a, f"{a}x1 {word(a, i)}", b, f"{b}y2 {word(b, i)}"))
                qry.append((a, word(a, i), b, word(b, i)))
    cols = ["lang_a", "text_a", "lang_b", "text_b"]
    return Dataset("synthetic", list(langs), pairs, pd.DataFrame(prod, columns=cols), pd.DataFrame(qry, columns=cols))


def tiny_config(langs: list[str], **overrides) -> RunConfig:
    base = {
        "languages": langs,
        "train.epochs": 3,
        "train.batch_size": 16,
        "train.lr": 3e-3,
        "train.device": "cpu",
        "model.dropout": 0.0,
        "eval.bootstrap": 20,
    }
    return load_config(profile_files("tiny"), base | overrides)


def train_killed_after(cfg: RunConfig, out, ds: Dataset, epoch: int) -> None:
    """Train ``cfg`` into ``out`` and kill it right after epoch ``epoch``'s checkpoint (as SIGKILL would)."""
    import pytest

    from mlsearch.run import train_and_evaluate

    class Killed(Exception):
        pass

    def kill(done: int, score: float | None) -> None:
        if done == epoch:
            raise Killed

    with pytest.raises(Killed):
        train_and_evaluate(cfg, out, ds, progress=False, on_epoch_end=kill)
