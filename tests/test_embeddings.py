"""Embedding measures on hand-built vectors, and the texts they are computed on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsearch.data.dataset import Dataset
from mlsearch.embeddings import (
    collect_embeddings,
    embedding_items,
    language_separability,
    mapped_texts,
    measure,
    retrieval_accuracy,
    topic_agreement,
    tsne_2d,
    write_embedding_table,
)


def test_identity_mapping_retrieves_every_counterpart() -> None:
    x = np.random.default_rng(0).normal(size=(50, 8))
    r = retrieval_accuracy(x, x * 3.0)  # cosine: scale does not matter
    assert r["top1"] == 1.0 and r["mrr"] == 1.0 and r["n"] == 50
    assert r["chance_top1"] == pytest.approx(1 / 50)
    assert r["chance_mrr"] == pytest.approx(sum(1 / k for k in range(1, 51)) / 50)
    assert r["cos_mapped"] == pytest.approx(1.0) and abs(r["cos_random"]) < 0.2


def test_shuffled_mapping_is_near_chance() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    r = retrieval_accuracy(a, b)
    assert r["top1"] < 0.02
    assert abs(r["mrr"] - r["chance_mrr"]) < 0.02


def test_partial_mapping_and_ranks() -> None:
    # row 0 finds its counterpart; row 1's counterpart is second (row 0 of b is closer)
    a = np.array([[1.0, 0.0], [1.0, 0.2]])
    b = np.array([[1.0, 0.1], [0.0, 1.0]])
    r = retrieval_accuracy(a, b)
    assert r["top1"] == 0.5 and r["mrr"] == pytest.approx(0.75)


def test_ties_do_not_count_as_hits() -> None:
    r = retrieval_accuracy(np.ones((5, 3)), np.ones((5, 3)))
    assert r["top1"] == 0.0 and r["mrr"] == pytest.approx(1 / 5)
    assert r["cos_mapped"] == pytest.approx(r["cos_random"])  # a collapsed space: mapped = any pair


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        retrieval_accuracy(np.zeros((3, 2)), np.zeros((4, 2)))


def test_separability_high_when_languages_apart_and_chance_when_mixed() -> None:
    rng = np.random.default_rng(2)
    langs = np.array(["en"] * 60 + ["it"] * 60)
    apart = rng.normal(size=(120, 8)) + np.where(langs == "en", 4.0, -4.0)[:, None] * np.eye(8)[0]
    mixed = rng.normal(size=(120, 8))
    assert language_separability(apart, langs, seed=0) > 0.95
    assert language_separability(mixed, langs, seed=0) < 0.7
    assert np.isnan(language_separability(mixed[:3], ["en", "en", "it"], seed=0))


def test_topic_agreement_looks_only_at_other_languages() -> None:
    # each text's nearest overall is itself-language; the nearest other-language text decides
    X = np.array([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [0.05, 1.0]])
    langs = ["en", "it", "en", "it"]
    agree, chance = topic_agreement(X, langs, ["shoes", "shoes", "bags", "bags"])
    assert agree == 1.0 and chance == pytest.approx(0.5)
    agree, _ = topic_agreement(X, langs, ["shoes", "bags", "bags", "shoes"])
    assert agree == 0.0


def test_tsne_shape_and_determinism() -> None:
    x = np.random.default_rng(3).normal(size=(40, 6))
    y = tsne_2d(x, seed=0)
    assert y.shape == (40, 2) and np.isfinite(y).all()
    assert np.allclose(y, tsne_2d(x, seed=0))
    assert tsne_2d(x[:2], seed=0).shape == (2, 2)


# ----------------------------------------------------------------------- on a small Dataset


def _dataset() -> Dataset:
    rows = []
    products = {"p1": ("red shoes", "scarpe rosse", "shoes"), "p2": ("blue bag", "borsa blu", "bags"),
                "p3": ("cat bed", "cuccia gatto", "pets")}
    for lang, k in (("en", 0), ("it", 1)):
        for split in ("train", "valid", "test"):
            for i, (pid, texts) in enumerate(products.items()):
                rows.append((lang, split, f"{lang}-{split}-{i}", f"q {texts[k]} {split}", pid, texts[k], 1, texts[2]))
    pairs = pd.DataFrame(rows, columns=["lang", "split", "query_id", "query", "product_id", "title", "label", "vertical"])
    prod = pd.DataFrame([("en", t[0], "it", t[1]) for t in products.values()] + [("en", "red shoes", "it", "scarpe")],
                        columns=["lang_a", "text_a", "lang_b", "text_b"])
    query = pd.DataFrame([("en", "q red shoes train", "it", "q scarpe rosse train")], columns=prod.columns)
    return Dataset("toy", ["en", "it"], pairs, prod, query).validate()


class Lookup:
    """An encoder that returns a fixed vector per text (absent texts: a far, distinct vector)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def encode(self, lang: str, texts: list[str], side: str = "query") -> np.ndarray:
        return np.array([self.table.get(t, [0.0, 0.0, 1.0 + len(t)]) for t in texts], dtype=float)


def test_mapped_texts_are_one_to_one_and_oriented() -> None:
    ds = _dataset()
    t = mapped_texts(ds, "title", "it", "en")
    assert list(t.columns) == ["text_a", "text_b"]
    assert t["text_a"].is_unique and t["text_b"].is_unique and len(t) == 3
    assert "scarpe rosse" in set(t["text_a"])
    assert len(mapped_texts(ds, "query", "en", "it")) == 1


def test_items_and_measure_on_a_toy_dataset(tmp_path) -> None:
    ds = _dataset()
    items = embedding_items(ds, ["en", "it"], max_points=100, seed=0)
    assert set(items["side"]) == {"query", "title"} and set(items["lang"]) == {"en", "it"}
    assert set(items.loc[items["side"] == "title", "topic"]) == {"shoes", "bags", "pets"}
    vec = {"shoes": [1.0, 0.0, 0.0], "bags": [0.0, 1.0, 0.0], "pets": [0.7, -0.7, 0.0]}
    table = {}
    for en, it, topic in (("red shoes", "scarpe rosse", "shoes"), ("blue bag", "borsa blu", "bags"), ("cat bed", "cuccia gatto", "pets")):
        table[en] = table[it] = vec[topic]
        table[f"q {en} test"] = table[f"q {it} test"] = vec[topic]
    aligned = Lookup(table)
    X = collect_embeddings({"en": aligned, "it": aligned}, items)
    assert X.shape == (len(items), 3)
    res = measure(ds, {"joint": {"en": aligned, "it": aligned}}, ["en", "it"], "en+it", seed=0, items=items)
    top1 = res[(res["side"] == "title") & (res["metric"] == "retrieval_top1")]["value"].item()
    assert top1 == 1.0
    agree = res[(res["side"] == "title") & (res["metric"] == "topic_agreement")]["value"].item()
    assert agree == 1.0
    paths = write_embedding_table(tmp_path, res)
    assert [p.name for p in paths] == ["embeddings.csv", "embeddings.md"]
    assert pd.read_csv(paths[0])["metric"].tolist() == res["metric"].tolist()
