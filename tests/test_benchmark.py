"""The embedded benchmark: determinism, label rule, split hygiene, alignment coverage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mlsearch.config import load_config, profile_files
from mlsearch.data import benchmark as bm
from mlsearch.data.taxonomy import load_taxonomy
from mlsearch.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_cfg():
    return load_config(profile_files("tiny")).data


@pytest.fixture(scope="module")
def tiny(tiny_cfg):
    return bm.generate(tiny_cfg)


def test_same_seed_same_data_other_seed_other_data(tiny_cfg, tiny):
    again = bm.generate(tiny_cfg)
    pd.testing.assert_frame_equal(tiny.pairs, again.pairs)
    pd.testing.assert_frame_equal(tiny.product_alignment, again.product_alignment)
    pd.testing.assert_frame_equal(tiny.query_alignment, again.query_alignment)
    other = bm.generate(dataclasses.replace(tiny_cfg, seed=1))
    assert not tiny.pairs[["query", "title"]].equals(other.pairs[["query", "title"]])


def test_all_languages_and_sizes(tiny_cfg, tiny):
    assert tiny.name == "benchmark"
    assert tiny.languages == tiny_cfg.languages and "ja" in tiny.languages
    q = tiny.pairs.groupby(["lang", "split"])["query_id"].nunique()
    for lang in tiny_cfg.languages:
        assert q[(lang, "train")] == tiny_cfg.train_queries[lang]
        assert q[(lang, "test")] == tiny_cfg.test_queries
    assert (tiny.pairs.groupby("query_id").size() == tiny_cfg.candidates_per_query).all()
    assert {"category", "vertical"} <= set(tiny.pairs.columns)
    ja = tiny.split("ja", "train")
    assert ja["title"].str.contains(r"[\u3040-\u30ff]").mean() > 0.9


def test_label_rule_on_clean_labels(tiny):
    p = tiny.pairs
    assert (p.loc[p["candidate"].isin(["constraint", "sibling", "easy"]), "label_clean"] == 0).all()
    assert (p.loc[p["split"] == "test", "label"] == p.loc[p["split"] == "test", "label_clean"]).all()
    first = p.groupby("query_id").head(1)  # the purchased product is always a clean match
    assert (first["label_clean"] == 1).all()


def test_constraint_violation_is_never_a_match():
    tax = load_taxonomy()
    leaves = bm._leaves(tax)
    sandal = next(leaf for leaf in leaves["shoes"] if leaf.id == "aa-8-6")
    p = bm.Product("p0", sandal, "Nordvik", "women", "black", "leather", "38", ["en"], 1.0)
    assert bm.matches(p, bm.Intent("aa-8"), tax)
    assert bm.matches(p, bm.Intent("aa-8-6", group="women", colour="black"), tax)
    assert not bm.matches(p, bm.Intent("aa-8", group="boys"), tax)  # "boys' shoes" vs a women's sandal
    assert not bm.matches(p, bm.Intent("aa-8-6", colour="red"), tax)
    assert not bm.matches(p, bm.Intent("aa-8-6", brand="Corvo"), tax)
    assert not bm.matches(p, bm.Intent("aa-8-8"), tax)  # sibling category (sneakers)
    unisex = dataclasses.replace(p, group="unisex")
    assert bm.matches(unisex, bm.Intent("aa-8", group="men"), tax)
    assert not bm.matches(unisex, bm.Intent("aa-8", group="girls"), tax)


def test_titles_in_natural_order():
    tax = load_taxonomy()
    sandal = next(leaf for leaf in bm._leaves(tax)["shoes"] if leaf.id == "aa-8-6")
    p = bm.Product("p0", sandal, "Nordvik", "women", "black", "leather", "38", ["en", "it", "ja"], 1.0)

    class Fixed:  # keeps colour and material, no size
        def random(self):
            return 0.99

    assert bm.render_title(p, "en", tax, Fixed()) == "Nordvik Women's Leather Sandals, Black"
    assert bm.render_title(p, "it", tax, Fixed()) == "Sandali in pelle da donna Nordvik nero"
    assert bm.render_title(p, "ja", tax, Fixed()) == "Nordvik レディースレザーサンダル ブラック"


def test_split_hygiene(tiny):
    p = tiny.pairs
    assert (p.groupby(["lang", "query"])["split"].nunique() == 1).all()
    train_q = set(zip(p.loc[p["split"] == "train", "lang"], p.loc[p["split"] == "train", "query"], strict=True))
    qa = tiny.query_alignment
    for side in ("a", "b"):
        assert all((lang, q) in train_q for lang, q in zip(qa[f"lang_{side}"], qa[f"text_{side}"], strict=True))


def test_every_language_pair_has_alignment(tiny):
    assert (tiny.query_alignment["lang_a"] < tiny.query_alignment["lang_b"]).all()
    stats = tiny.stats()
    assert len(stats["product_alignment"]) == 15
    assert all(n > 0 for n in stats["product_alignment"].values())
    assert all(n > 0 for n in stats["query_alignment"].values())
    assert tiny.meta["cross_listed_products"] > 0


def test_cross_listed_share_zero_gives_no_alignment(tiny_cfg):
    ds = bm.generate(dataclasses.replace(tiny_cfg, cross_listed_share=0.0, languages=["en", "de"],
                                         train_queries={"en": 10, "de": 10}))
    assert ds.product_alignment.empty and ds.query_alignment.empty
    assert ds.meta["cross_listed_products"] == 0


def test_label_noise_only_on_train_and_valid(tiny_cfg):
    ds = bm.generate(dataclasses.replace(tiny_cfg, label_noise=0.3))
    p = ds.pairs
    flipped = p["label"] != p["label_clean"]
    assert flipped[p["split"] == "test"].sum() == 0
    assert 0.2 < flipped[p["split"] != "test"].mean() < 0.4


def test_bad_sizes_are_config_errors(tiny_cfg):
    with pytest.raises(ConfigError, match="train_queries"):
        bm.generate(dataclasses.replace(tiny_cfg, train_queries={"en": 5}))
    with pytest.raises(ConfigError, match="candidates_per_query"):
        bm.generate(dataclasses.replace(tiny_cfg, candidates_per_query=1))


def test_localization_quirks_are_kept():
    tax = load_taxonomy()
    assert tax.name("aa-8-1", "it") == tax.name("aa-8-8", "it") == "Scarpe da ginnastica"
    assert tax.name("aa-8-1", "fr") == "Chaussettes de sport"
    assert tax.covers("aa-8", "aa-8-2-4") and not tax.covers("aa-8-2", "aa-8-6")


def test_typos_change_text_deterministically():
    a = bm._typo("sandalen schwarz", np.random.default_rng(3))
    assert a != "sandalen schwarz" and a == bm._typo("sandalen schwarz", np.random.default_rng(3))


def test_monolingual_probe_is_the_tfidf_baseline_on_one_language(tiny):
    """The difficulty probe of BENCHMARK.md: deterministic, a share of the training queries when asked,
    and above the all-match F1 on the tiny data (its TF-IDF model sees word and character overlap)."""
    full, half = bm.monolingual_probe(tiny, "en"), bm.monolingual_probe(tiny, "en", train_fraction=0.5, seed=1)
    assert full == bm.monolingual_probe(tiny, "en")
    assert half["train_queries"] == round(full["train_queries"] / 2)
    test = tiny.split("en", "test")
    all_match = 2 * test["label"].mean() / (1 + test["label"].mean())
    assert 0.05 <= full["threshold"] <= 0.95 and full["test_f1"] > all_match


def test_pool_draw_is_generator_choice(tiny_cfg):
    """Pool.draw replaces rng.choice(n, p=weights) (which re-sums the weights on every call): same
    product and same random stream, so datasets generated before and after are identical."""
    products = bm._catalogue(tiny_cfg, np.random.default_rng(3), bm._leaves(load_taxonomy()))
    pool = bm.Pool.of(products)
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    assert [pool.draw(a) for _ in range(2000)] == [int(b.choice(len(products), p=pool.weights)) for _ in range(2000)]
    assert a.random() == b.random()
    assert pool.code("group", "no such group") == -1
