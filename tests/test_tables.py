"""Tables and figures from fake run folders, checked against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlsearch.errors import DataError
from mlsearch.plots import bilingual_gains, write_figures
from mlsearch.tables import f1_summary, gather_runs, paired_t_pvalue, to_markdown, write_tables

# Per-seed test F1 of each fake run: {model: {eval_language: [seed0, seed1]}}.
F1 = {
    "de": {"de": [0.50, 0.60]},
    "fr": {"fr": [0.40, 0.40]},
    "de+fr": {"de": [0.55, 0.66], "fr": [0.50, 0.46]},
}


def write_run(root: Path, model: str, seed: int, f1: dict[str, float], profile: str = "tiny", kind: str = "method") -> Path:
    """A run folder with the files train_and_evaluate writes (metrics.json last)."""
    langs = model.split("+")
    d = root / "runs" / (kind if kind != "method" else "") / model / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "run_info.json").write_text(json.dumps({"train_seconds": 1.5, "device": "cpu", "date": "2025-01-02T03:04:05"}))
    (d / "curves.csv").write_text(
        "epoch,phase,language,loss,valid_f1\n"
        + "".join(
            f"{e},classify,{lang},{1.0 / (e + 1)},\n{e},valid,{lang},,{0.5 + e / 10}\n" for e in range(3) for lang in langs
        )
        + "".join(f"{e},align_product,de-fr,{0.3 / (e + 1)},\n{e},align_query,de-fr,{0.2 / (e + 1)},\n" for e in range(3))
    )
    ev = {
        lang: {"f1": v, "precision": v + 0.1, "recall": v - 0.1, "accuracy": 0.8, "roc_auc": 0.7, "pr_auc": 0.6,
               "threshold": 0.5, "f1_ci_low": v - 0.05, "f1_ci_high": v + 0.05, "n_pairs": 100, "positives": 30}
        for lang, v in f1.items()
    }
    metrics = {
        "train_languages": langs, "eval_languages": list(f1), "seed": seed, "kind": kind, "profile": profile,
        "source": "benchmark", "model": model, "warm_start_language": langs[0], "best_epoch": 2,
        "n_parameters": 1234, "eval": ev, "valid": {lang: {"f1": 0.5, "threshold": 0.5} for lang in f1},
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "benchmark" / "tiny"
    for model, per_lang in F1.items():
        for seed in (0, 1):
            write_run(r, model, seed, {lang: vals[seed] for lang, vals in per_lang.items()})
    return r


def test_gather_runs_one_row_per_model_language_seed(root: Path) -> None:
    runs = gather_runs(root)
    assert len(runs) == 8
    row = runs[(runs["model"] == "de+fr") & (runs["eval_language"] == "fr") & (runs["seed"] == 1)].iloc[0]
    assert row["f1"] == 0.46 and row["n_languages"] == 2 and row["train_languages"] == "de,fr"
    assert row["kind"] == "method" and row["train_seconds"] == 1.5
    assert {"precision", "recall", "roc_auc", "pr_auc"} <= set(runs.columns)


def test_relative_gain_matches_hand_computation(root: Path) -> None:
    s = f1_summary(gather_runs(root)).set_index(["model", "eval_language"])
    # de: bilingual mean (0.55+0.66)/2 = 0.605, mono 0.55 → +10 %; fr: 0.48 vs 0.40 → +20 %.
    assert s.loc[("de+fr", "de"), "rel_change_pct"] == pytest.approx(10.0)
    assert s.loc[("de+fr", "fr"), "rel_change_pct"] == pytest.approx(20.0)
    assert s.loc[("de", "de"), "rel_change_pct"] == pytest.approx(0.0)
    assert s.loc[("de+fr", "de"), "f1_std"] == pytest.approx(math.sqrt(2 * 0.055**2))
    # fr: mono is 0.40 in every resample, model means ∈ {0.50, 0.48, 0.46} → gains ∈ {25, 20, 15} %.
    assert s.loc[("de+fr", "fr"), "rel_ci_low"] == pytest.approx(15.0)
    assert s.loc[("de+fr", "fr"), "rel_ci_high"] == pytest.approx(25.0)
    # de: differences 0.05, 0.06 → t = 0.055 / (0.00707/√2) = 11, df 1 → p = 1 − (2/π)·atan(11).
    assert s.loc[("de+fr", "de"), "p_value"] == pytest.approx(1 - 2 / math.pi * math.atan(11), rel=1e-6)


def test_t_test_needs_two_seeds_with_spread() -> None:
    import numpy as np

    assert math.isnan(paired_t_pvalue(np.array([0.5]), np.array([0.4])))
    assert math.isnan(paired_t_pvalue(np.array([0.5, 0.6]), np.array([0.4, 0.5])))


def test_gain_by_size_and_paper_table(root: Path) -> None:
    tables = write_tables(root)
    g = tables["gain_by_size"]
    assert g.loc["de", 2] == pytest.approx(10.0) and g.loc["fr", 2] == pytest.approx(20.0)
    assert g.loc["all", 2] == pytest.approx(15.0) and g.loc["all", 1] == pytest.approx(0.0)
    p = tables["paper"].set_index("comparison")
    assert p.loc["bilingual fr+de vs monolingual fr", "paper_rel_change_pct"] == 11.0
    assert p.loc["bilingual fr+de vs monolingual fr", "ours_rel_change_pct"] == pytest.approx(20.0)
    assert p.loc["bilingual fr+de vs monolingual de", "paper_rel_change_pct"] == 5.0
    assert p.loc["pentalingual vs monolingual de", "paper_rel_change_pct"] == 19.0
    assert math.isnan(p.loc["pentalingual vs monolingual de", "ours_rel_change_pct"])  # no pentalingual run
    for name in ("f1", "f1_summary", "gain_by_size", "paper"):
        assert (root / "tables" / f"{name}.csv").is_file() and (root / "tables" / f"{name}.md").is_file()
    f1 = pd.read_csv(root / "tables" / "f1.csv")
    assert list(f1.columns[:6]) == ["model", "kind", "n_languages", "train_languages", "eval_language", "seed"]
    assert len(f1) == 8
    assert "| de+fr |" in (root / "tables" / "f1_summary.md").read_text()


def test_baseline_compares_against_the_method_monolingual(root: Path) -> None:
    for seed, v in ((0, 0.44), (1, 0.44)):
        write_run(root, "fr", seed, {"fr": v}, kind="tfidf")
    s = f1_summary(gather_runs(root)).set_index(["kind", "model", "eval_language"])
    assert s.loc[("tfidf", "fr", "fr"), "rel_change_pct"] == pytest.approx(10.0)


def test_runs_of_another_profile_are_refused(root: Path) -> None:
    write_run(root, "en", 0, {"en": 0.5}, profile="full")
    with pytest.raises(DataError, match="profile 'full'"):
        gather_runs(root)


def test_empty_root_gives_empty_tables(tmp_path: Path) -> None:
    tables = write_tables(tmp_path / "benchmark" / "tiny")
    assert tables["f1"].empty and tables["gain_by_size"].empty
    assert write_figures(tmp_path / "benchmark" / "tiny") == {}


def test_markdown_renders_nan_as_blank() -> None:
    md = to_markdown(pd.DataFrame({"a": ["x"], "b": [float("nan")], "c": [0.12345]}))
    assert md.splitlines() == ["| a | b | c |", "|---|---|---|", "| x |  | 0.123 |"]


def test_figures_are_written(root: Path) -> None:
    figs = write_figures(root)
    assert set(figs) == {"f1_by_size", "bilingual_gain", "curves", "headline"}  # no ranking metrics here: no nDCG figure
    for path in figs.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = bilingual_gains(f1_summary(gather_runs(root)))
    assert m.loc["fr", "de"] == pytest.approx(20.0) and m.loc["de", "fr"] == pytest.approx(10.0)


def test_ranking_metrics_come_from_metrics_json_or_the_saved_predictions(root: Path) -> None:
    """Runs recorded before ranking metrics get them from predictions.parquet with the training-time
    function and seed; the summary compares nDCG@10 against the monolingual model like F1."""
    from mlsearch.ranking import ranking_metrics

    scores = {"de": [0.9, 0.1, 0.2], "fr": [0.1, 0.9, 0.8]}  # de ranks the match first, fr last
    for model in ("de", "fr", "de+fr"):
        for seed in (0, 1):
            d = root / "runs" / model / f"seed{seed}"
            m = json.loads((d / "metrics.json").read_text())
            rows = [{"lang": lang, "query_id": "q", "product_id": f"p{j}", "label": int(j == 0), "score": s}
                    for lang in m["eval_languages"] for j, s in enumerate(scores["de"] if model != "fr" else scores["fr"])]
            pd.DataFrame(rows).to_parquet(d / "predictions.parquet")
    (root / "runs" / "fr" / "seed1" / "config.json").write_text(json.dumps({"eval": {"bootstrap": 7}}))
    runs = gather_runs(root).set_index(["model", "eval_language", "seed"])
    assert runs.loc[("de", "de", 0), "mrr"] == 1.0 and runs.loc[("fr", "fr", 0), "mrr"] == pytest.approx(1 / 3)
    frame = pd.DataFrame({"query_id": ["q"] * 3, "label": [1, 0, 0], "score": scores["fr"]})
    expected = ranking_metrics(frame, 7, 1 * 100 + 0)
    assert runs.loc[("fr", "fr", 1), "ndcg@10_ci_low"] == pytest.approx(expected["ndcg@10_ci_low"])
    s = f1_summary(gather_runs(root)).set_index(["model", "eval_language"])
    gain = 100 * (1.0 - 0.5) / 0.5  # de+fr ranks fr's match first (nDCG 1), fr alone last (nDCG 0.5)
    assert s.loc[("de+fr", "fr"), "ndcg10_rel_change_pct"] == pytest.approx(gain)
    assert s.loc[("de+fr", "fr"), "f1_mean"] == pytest.approx(0.48)  # F1 columns as before
    # a value recorded in metrics.json wins over the predictions
    d = root / "runs" / "de" / "seed0"
    m = json.loads((d / "metrics.json").read_text())
    m["eval"]["de"]["ndcg@10"] = 0.25
    (d / "metrics.json").write_text(json.dumps(m))
    assert gather_runs(root).set_index(["model", "eval_language", "seed"]).loc[("de", "de", 0), "ndcg@10"] == 0.25
    assert "ndcg_by_size" in write_figures(root)


def test_headline_table_reads_as_text_with_dashes_for_what_did_not_run(root: Path) -> None:
    from mlsearch.report import provenance_markdown, show
    from mlsearch.tables import headline_table

    write_run(root, "de", 0, {"de": 0.45}, kind="tfidf")
    write_run(root, "de", 1, {"de": 0.55}, kind="tfidf")
    h = headline_table(f1_summary(gather_runs(root))).set_index(["language", "metric"])
    de = h.loc[("de", "F1")]
    assert de["monolingual"] == "0.550 ± 0.071" and de["TF-IDF + LR"] == "0.500 ± 0.071"
    assert de["best bilingual"].startswith("de+fr: 0.605") and de["best bilingual vs mono"].startswith("+10.0%")
    assert h.loc[("fr", "F1"), "TF-IDF + LR"] == "—" and h.loc[("de", "nDCG@10"), "monolingual"] == "—"
    html = show(pd.DataFrame({"seed": [0], "x": [float("nan")]})).to_html()
    assert "—" in html and "nan" not in html.lower().replace("nanoe", "")
    text = provenance_markdown(root)
    assert "no timing record" in text and "np." not in text


def test_a_rerun_keeps_rows_of_kinds_it_cannot_rebuild(root: Path) -> None:
    import shutil

    write_run(root, "de", 0, {"de": 0.45}, kind="tfidf")
    first = write_tables(root)
    assert set(first["f1"]["kind"]) == {"method", "tfidf"}
    shutil.rmtree(root / "runs" / "tfidf")  # a fresh clone: no baseline run folders
    write_run(root, "fr", 2, {"fr": 0.7})  # the method's grid is rerun (here: one more run)
    second = write_tables(root)
    f1 = pd.read_csv(root / "tables" / "f1.csv")
    kept = f1[f1["origin"] == "kept"]
    assert kept[["kind", "model", "seed"]].values.tolist() == [["tfidf", "de", 0]] and kept["f1"].tolist() == [0.45]
    assert "tfidf" in set(second["baselines"]["kind"])
    # rows of a kind with run folders here come from them alone: the method's are never taken from the old table
    assert (f1[f1["kind"] == "method"]["origin"] == "run").all() and len(f1[f1["kind"] == "method"]) == 9


def test_curves_of_a_kind_whose_rows_were_all_kept_are_not_looked_for(root: Path) -> None:
    """A fresh clone that runs one new kind keeps the method's rows, which have no run folder here."""
    import shutil

    from mlsearch.plots import curves_run, write_figures
    from mlsearch.tables import merge_kept_rows

    write_tables(root)
    shutil.rmtree(root / "runs")  # a fresh clone: no run folders of the method
    write_run(root, "de", 0, {"de": 0.45}, kind="tfidf")
    runs = merge_kept_rows(gather_runs(root), root / "tables" / "f1.csv")  # what the compare notebook plots
    assert runs[runs["kind"] == "method"]["origin"].eq("kept").all()
    assert curves_run(root, runs) is None
    assert "curves" not in write_figures(root, runs)


def test_ablation_table_averages_each_kind_and_role_against_the_method():
    from mlsearch.tables import ablation_table

    rows = []
    for lang, mono, five in (("en", 0.7, 0.8), ("de", 0.5, 0.6)):
        rows += [
            {"eval_language": lang, "kind": "method", "model": lang, "role": "monolingual", "f1_mean": mono, "ndcg10_mean": mono},
            {"eval_language": lang, "kind": "method", "model": "de+en", "role": "best bilingual", "f1_mean": 0.9, "ndcg10_mean": 0.9},
            {"eval_language": lang, "kind": "method", "model": "de+en+fr", "role": "3 languages", "f1_mean": five, "ndcg10_mean": five},
            {"eval_language": lang, "kind": "no_align", "model": "de+en+fr", "role": "3 languages", "f1_mean": five - 0.1, "ndcg10_mean": five},
        ]
    rows.append({"eval_language": "en", "kind": "zeroshot", "model": "de+fr", "role": "zero-shot", "f1_mean": 0.4, "ndcg10_mean": 0.6})
    t = ablation_table(pd.DataFrame(rows)).set_index(["kind", "role"])
    assert list(t.index) == [("method", "monolingual"), ("method", "3 languages"), ("no_align", "3 languages"), ("zeroshot", "zero-shot")]
    assert t.loc[("method", "monolingual"), "f1"] == pytest.approx(0.6) and np.isnan(t.loc[("method", "monolingual"), "f1_vs_method"])
    assert t.loc[("no_align", "3 languages"), "f1_vs_method"] == pytest.approx(-0.1)
    assert t.loc[("no_align", "3 languages"), "ndcg10_vs_method"] == pytest.approx(0.0)
    # zero-shot against the method's monolingual model of the same (evaluation) language only
    z = t.loc[("zeroshot", "zero-shot")]
    assert z["n_languages"] == 1 and z["f1_vs_method"] == pytest.approx(-0.3) and "alignment" in z["description"]
    assert ablation_table(pd.DataFrame(rows[:0], columns=["role"])).empty


def test_the_headline_figure_draws_a_pretrained_kind_where_it_ran(root: Path) -> None:
    from mlsearch.plots import plot_headline

    def labels(runs):
        return [line.get_label() for line in plot_headline(runs).axes[0].get_lines()]

    assert not any("e5_full" in x for x in labels(gather_runs(root)))
    for seed in (0, 1):
        for model, f1 in (("de", {"de": 0.61}), ("fr", {"fr": 0.63}), ("de+fr", {"de": 0.7, "fr": 0.72})):
            write_run(root, model, seed, f1, kind="e5_full")
    fig = plot_headline(gather_runs(root))
    line = next(x for x in fig.axes[0].get_lines() if "e5_full" in x.get_label())
    assert list(line.get_xdata()) == [1, 2] and list(line.get_ydata()) == pytest.approx([0.62, 0.71])


def test_kind_gains_compare_each_kind_with_its_own_monolingual_models(root: Path) -> None:
    from mlsearch.tables import kind_gains

    for seed, (de, fr, pair_de) in enumerate(((0.60, 0.50, 0.66), (0.70, 0.50, 0.70))):
        write_run(root, "de", seed, {"de": de}, kind="e5_full")
        write_run(root, "fr", seed, {"fr": fr}, kind="e5_full")
        write_run(root, "de+fr", seed, {"de": pair_de, "fr": 0.45}, kind="e5_full")
    write_run(root, "fr", 0, {"fr": 0.9}, kind="tfidf")  # monolingual only: no row
    g = kind_gains(gather_runs(root)).set_index(["kind", "model", "eval_language"])
    assert set(g.index.get_level_values("kind")) == {"method", "e5_full"}
    # e5_full de+fr on de: (0.68 - 0.65) / 0.65, against e5_full's own de model (not the method's 0.55)
    assert g.loc[("e5_full", "de+fr", "de"), "rel_change_pct"] == pytest.approx(100 * 0.03 / 0.65)
    assert g.loc[("e5_full", "de+fr", "fr"), "rel_change_pct"] == pytest.approx(-10.0)
    assert g.loc[("method", "de+fr", "de"), "mono_f1_mean"] == pytest.approx(0.55)
    assert "kind_gains" in write_tables(root) and (root / "tables" / "kind_gains.md").is_file()
