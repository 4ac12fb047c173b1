"""Dataset card and stats.json, for the benchmark and for a minimal pairs-only Dataset."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlsearch.config import load_config, profile_files
from mlsearch.data.benchmark import generate
from mlsearch.data.card import vocabulary_overlap, write_card
from mlsearch.data.dataset import Dataset

KEYS = {"languages", "pairs", "positive_rate", "cross_listed_products", "product_alignment", "query_alignment",
        "vocabulary_overlap"}


@pytest.fixture(scope="module")
def tiny():
    return generate(load_config(profile_files("tiny")).data)


def test_card_for_benchmark(tiny, tmp_path):
    stats = write_card(tiny, tmp_path)
    on_disk = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))
    assert KEYS <= set(on_disk) and on_disk == json.loads(json.dumps(stats))
    assert set(stats["product_alignment"]) == {"de-en", "de-es", "de-fr", "de-it", "de-ja", "en-es", "en-fr",
                                               "en-it", "en-ja", "es-fr", "es-it", "es-ja", "fr-it", "fr-ja", "it-ja"}
    assert stats["pairs"]["ja"]["test"] > 0 and stats["cross_listed_products"] > 0
    card = (tmp_path / "card.md").read_text(encoding="utf-8")
    for lang in tiny.languages:
        assert f"### {lang}" in card
    assert "ベ" in card or "ー" in card  # Japanese examples are shown
    assert "How it was made" in card


def test_card_for_plain_pairs(tmp_path):
    pairs = pd.DataFrame({
        "lang": ["en"] * 3 + ["es"] * 3, "split": ["train", "valid", "test"] * 2,
        "query_id": ["q1", "q2", "q3", "q4", "q5", "q6"], "query": ["red shoe", "bag", "cat toy"] * 2,
        "product_id": list("abcdef"), "title": ["Red Shoe", "Blue Bag", "Cat Toy"] * 2, "label": [1, 0, 1] * 2,
    })
    ds = Dataset("pairs", ["en", "es"], pairs)
    stats = write_card(ds, tmp_path)
    assert KEYS <= set(stats)
    assert stats["cross_listed_products"] == 0 and stats["query_alignment"] == {"en-es": 0}
    assert stats["vocabulary_overlap"] == {"en-es": 1.0}
    assert (tmp_path / "card.md").exists()


def test_vocabulary_overlap_is_jaccard():
    pairs = pd.DataFrame({"lang": ["de", "fr"], "split": ["train"] * 2, "query_id": ["a", "b"],
                          "query": ["rote schuhe", "chaussures rouges"], "product_id": ["x", "y"],
                          "title": ["Nordvik Schuhe", "Nordvik chaussures"], "label": [1, 1]})
    # de {rote, schuhe, nordvik}, fr {chaussures, rouges, nordvik}: 1 shared of 5
    assert vocabulary_overlap(Dataset("x", ["de", "fr"], pairs)) == {"de-fr": 0.2}
