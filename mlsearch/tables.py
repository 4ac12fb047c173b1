"""Tables of a results root (``<results_dir>/<source>/<profile>``), as CSV and Markdown in ``tables/``.

- ``f1``: every run's evaluation (F1 … and the ranking metrics of mlsearch.ranking), one row per model ×
  evaluation language × seed;
- ``f1_summary``: per model and evaluation language, F1 and nDCG@10 mean ± std over seeds and the relative change
  against that language's monolingual model, ``100·(F1_model − F1_mono)/F1_mono`` of the seed means,
  with a paired bootstrap interval over seeds and a paired t-test;
- ``gain_by_size`` (F1) and ``gain_by_size_ndcg`` (nDCG@10): the average relative change by number of
  training languages, per evaluation language;
- ``paper``: the paper's published relative gains next to ours (different data: read as a shape, not a match);
- ``baselines`` (only when runs of other kinds exist): the method vs every baseline and ablation, with cost.

Pairing is by seed: seed *k* of a model and seed *k* of the monolingual model share the data, the
initialisation seed and the evaluation split. With 3 seeds the bootstrap has only 10 distinct resamples
and the t-test 2 degrees of freedom, so both intervals are rough; they show how much seeds move a
number, not a significance level to trust.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mlsearch.config import KNOWN_LANGUAGES
from mlsearch.errors import DataError
from mlsearch.io import read_json, write_text
from mlsearch.kinds import KINDS
from mlsearch.ranking import RANKING_METRICS, ranking_metrics

METRICS = ["f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "threshold", "f1_ci_low", "f1_ci_high", "n_pairs", "positives",
           *[f"{m}{s}" for m in RANKING_METRICS for s in ("", "_ci_low", "_ci_high")], "n_queries", "no_relevant_queries"]
#: The paper's published relative F1 gains (Ahuja et al., WSDM 2020), in %, on its proprietary data.
PAPER_GAINS = [
    ("de+fr", "fr", 11.0),
    ("de+fr", "de", 5.0),
    ("penta", "fr", 24.0),
    ("penta", "de", 19.0),
]
PENTA = "en+de+fr+it+es"
BOOTSTRAP_SAMPLES = 2000


def gather_runs(root: str | Path) -> pd.DataFrame:
    """Every complete run under ``<root>/runs`` (a folder with ``metrics.json``), one row per eval language.

    A run whose metrics name another source or profile than the folder is a DataError: results of
    different profiles must never be mixed into one table.
    """
    root = Path(root)
    rows = []
    for path in sorted((root / "runs").rglob("metrics.json")):
        m = read_json(path)
        for key in ("source", "profile"):
            if key in m and m[key] != _folder_part(root, key):
                raise DataError(
                    f"run of {key} {m[key]!r} inside the results folder of {_folder_part(root, key)!r}",
                    str(path),
                    "move the run to its own <results>/<source>/<profile> folder",
                )
        info_path = path.parent / "run_info.json"
        info = read_json(info_path) if info_path.is_file() else {}
        langs = sorted(m["train_languages"], key=KNOWN_LANGUAGES.index)
        ranked = _ranking_from_predictions(path.parent, m)
        for lang, ev in m["eval"].items():
            ev = ranked.get(lang, {}) | ev
            row = {
                "source": m.get("source", _folder_part(root, "source")),
                "profile": m.get("profile", _folder_part(root, "profile")),
                "kind": m.get("kind", "method"),
                "model": m.get("model", "+".join(langs)),
                "n_languages": len(langs),
                "train_languages": ",".join(langs),
                "eval_language": lang,
                "seed": int(m["seed"]),
                "warm_start_language": m.get("warm_start_language"),
                "best_epoch": m.get("best_epoch"),
                "n_parameters": m.get("n_parameters"),
                "train_seconds": info.get("train_seconds"),
                "device": info.get("device"),
                "run_dir": str(path.parent.relative_to(root)),
            }
            row.update({k: ev.get(k) for k in METRICS})
            if ev.get("single_class_test"):  # the column appears only where such a run exists
                row["single_class_test"] = True
            rows.append(row)
    cols = ["source", "profile", "kind", "model", "n_languages", "train_languages", "eval_language", "seed"]
    if not rows:
        return pd.DataFrame(columns=cols + METRICS)
    return _sorted_runs(pd.DataFrame(rows))


def _sorted_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in table order: kind, number of languages, model, evaluation language (benchmark order), seed."""
    order = {lang: i for i, lang in enumerate(KNOWN_LANGUAGES)}
    df = df.assign(_lang=df["eval_language"].map(order))
    df = df.sort_values(["kind", "n_languages", "model", "_lang", "seed"], kind="stable").drop(columns="_lang")
    return df.reset_index(drop=True)


def _ranking_from_predictions(run: Path, m: dict) -> dict[str, dict]:
    """Ranking metrics of a run whose ``metrics.json`` predates them, from its saved test scores.

    The same function and bootstrap seeds as at training time (mlsearch.runfolder.test_evaluation),
    so the numbers equal what a new run records; nothing is retrained. Empty when the run has them.
    """
    preds = run / "predictions.parquet"
    if all("ndcg@10" in ev for ev in m["eval"].values()) or not preds.is_file():
        return {}
    cfg_path = run / "config.json"
    bootstrap = read_json(cfg_path)["eval"]["bootstrap"] if cfg_path.is_file() else 1000
    table = pd.read_parquet(preds)
    return {
        lang: ranking_metrics(table[table["lang"] == lang], bootstrap, int(m["seed"]) * 100 + i)
        for i, lang in enumerate(m["eval_languages"])
    }


def _folder_part(root: Path, key: str) -> str:
    return root.name if key == "profile" else root.parent.name


def relative_change(model_f1: np.ndarray, mono_f1: np.ndarray) -> float:
    """``100·(mean(model) − mean(mono))/mean(mono)``: relative change of the seed means, in %."""
    mono = float(np.mean(mono_f1))
    return math.nan if mono == 0 else 100.0 * (float(np.mean(model_f1)) - mono) / mono


def paired_bootstrap(model_f1: np.ndarray, mono_f1: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the relative change, resampling seeds (pairs kept together)."""
    n = len(model_f1)
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    mono = mono_f1[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = 100.0 * (model_f1[idx].mean(axis=1) - mono) / mono
    rel = rel[np.isfinite(rel)]
    if not len(rel):
        return math.nan, math.nan
    lo, hi = np.percentile(rel, [2.5, 97.5])
    return float(lo), float(hi)


def paired_t_pvalue(model_f1: np.ndarray, mono_f1: np.ndarray) -> float:
    """Two-sided paired t-test on per-seed F1 differences (NaN below 2 seeds or with no spread)."""
    diff = model_f1 - mono_f1
    if len(diff) < 2 or np.ptp(diff) <= 1e-12 * max(1.0, float(np.abs(diff).max())):  # no spread (up to rounding)
        return math.nan
    from scipy import stats

    return float(stats.ttest_rel(model_f1, mono_f1).pvalue)


#: Summary column prefix of each metric compared against the monolingual model: F1 (the paper's metric,
#: unprefixed columns for compatibility) and nDCG@10 (the ranking view, mlsearch.ranking).
COMPARED = {"f1": "", "ndcg@10": "ndcg10_"}


def f1_summary(runs: pd.DataFrame, reference_kind: str = "method") -> pd.DataFrame:
    """Per kind, model and evaluation language: F1 and nDCG@10 over seeds and their change vs the
    monolingual model.

    The reference of language L is the ``reference_kind`` model trained on L alone. The relative
    change, its interval and the t-test use the seeds both models have (paired by seed). F1's columns
    are unprefixed (``f1_mean``, ``rel_change_pct`` …), nDCG@10's start with ``ndcg10_``.
    """
    cols = [
        "kind", "model", "n_languages", "eval_language", "n_seeds", "f1_mean", "f1_std", "roc_auc_mean", "pr_auc_mean",
        "mono_f1_mean", "rel_change_pct", "rel_ci_low", "rel_ci_high", "p_value", "paired_seeds",
        "ndcg10_mean", "ndcg10_std", "mrr_mean", "recall1_mean", "ndcg10_mono_mean", "ndcg10_rel_change_pct",
        "ndcg10_rel_ci_low", "ndcg10_rel_ci_high", "ndcg10_p_value",
    ]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    mono_runs = runs[(runs["kind"] == reference_kind) & (runs["n_languages"] == 1)]
    rows = []
    for (kind, model, lang), g in runs.groupby(["kind", "model", "eval_language"], sort=False):
        row = {"kind": kind, "model": model, "n_languages": int(g["n_languages"].iloc[0]), "eval_language": lang,
               "n_seeds": len(g)}
        ref_rows = mono_runs[mono_runs["eval_language"] == lang]
        for metric, prefix in COMPARED.items():
            name = "f1" if metric == "f1" else prefix.rstrip("_")
            v = _by_seed(g, metric)
            row[f"{name}_mean"] = v.mean() if v.notna().any() else math.nan
            row[f"{name}_std"] = v.std(ddof=1) if v.notna().sum() > 1 else math.nan
            ref = _by_seed(ref_rows, metric).dropna()
            seeds = sorted(set(v.dropna().index) & set(ref.index))
            mono_col = "mono_f1_mean" if metric == "f1" else f"{prefix}mono_mean"
            if seeds:
                a, b = v.loc[seeds].to_numpy(), ref.loc[seeds].to_numpy()
                lo, hi = paired_bootstrap(a, b)
                row.update({mono_col: b.mean(), f"{prefix}rel_change_pct": relative_change(a, b), f"{prefix}rel_ci_low": lo,
                            f"{prefix}rel_ci_high": hi, f"{prefix}p_value": paired_t_pvalue(a, b)})
            else:
                row.update({mono_col: math.nan, f"{prefix}rel_change_pct": math.nan, f"{prefix}rel_ci_low": math.nan,
                            f"{prefix}rel_ci_high": math.nan, f"{prefix}p_value": math.nan})
            if metric == "f1":
                row["paired_seeds"] = len(seeds)
        # threshold-free: F1 at a tuned cut can hide a model that ranks nothing
        for col, metric in (("roc_auc_mean", "roc_auc"), ("pr_auc_mean", "pr_auc"), ("mrr_mean", "mrr"), ("recall1_mean", "recall@1")):
            row[col] = _by_seed(g, metric).mean()
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _by_seed(g: pd.DataFrame, metric: str) -> pd.Series:
    """One metric of a group's runs, indexed by seed (NaN where a run lacks it)."""
    if metric not in g.columns:
        return pd.Series(math.nan, index=g["seed"].to_numpy(), dtype=float)
    return pd.Series(pd.to_numeric(g[metric], errors="coerce").to_numpy(float), index=g["seed"].to_numpy())


def gain_by_size(summary: pd.DataFrame, kind: str = "method", value: str = "rel_change_pct") -> pd.DataFrame:
    """Mean relative change (%) over the models of each size that train on the evaluation language.

    Rows: evaluation languages; columns: number of training languages (1 is 0 by construction);
    ``all`` averages the evaluation languages. ``value``: F1's ``rel_change_pct`` or nDCG@10's
    ``ndcg10_rel_change_pct``.
    """
    s = summary[(summary["kind"] == kind)].dropna(subset=[value])
    s = s[[lang in model.split("+") for model, lang in zip(s["model"], s["eval_language"], strict=True)]]
    if s.empty:
        return pd.DataFrame()
    table = s.pivot_table(index="eval_language", columns="n_languages", values=value, aggfunc="mean")
    table = table.reindex([lang for lang in KNOWN_LANGUAGES if lang in table.index])
    table.loc["all"] = s.groupby("n_languages")[value].mean()
    table.columns = [int(c) for c in table.columns]
    table.columns.name = "n_languages"
    return table


def paper_comparison(summary: pd.DataFrame, data_label: str, kind: str = "method") -> pd.DataFrame:
    """The paper's relative gains next to ours: fr+de vs fr and de; pentalingual vs every monolingual model."""
    s = summary[summary["kind"] == kind].set_index(["model", "eval_language"])
    wanted = [("de+fr", "fr"), ("de+fr", "de")] + [(PENTA, lang) for lang in ("fr", "de", "en", "it", "es")]
    paper = {("de+fr" if m == "de+fr" else PENTA, lang): gain for m, lang, gain in PAPER_GAINS}
    rows = []
    for model, lang in wanted:
        ours = s.loc[(model, lang)] if (model, lang) in s.index else None
        rows.append({
            "comparison": f"{'bilingual fr+de' if model == 'de+fr' else 'pentalingual'} vs monolingual {lang}",
            "paper_rel_change_pct": paper.get((model, lang), math.nan),
            "paper_data": "proprietary (paper)" if (model, lang) in paper else "not reported",
            "ours_rel_change_pct": math.nan if ours is None else ours["rel_change_pct"],
            "ours_ci_low": math.nan if ours is None else ours["rel_ci_low"],
            "ours_ci_high": math.nan if ours is None else ours["rel_ci_high"],
            "ours_seeds": 0 if ours is None else int(ours["paired_seeds"]),
            # the ranking view of the same comparison (the paper reports F1 only)
            "ours_ndcg10_rel_change_pct": math.nan if ours is None else ours["ndcg10_rel_change_pct"],
            "ours_ndcg10_ci_low": math.nan if ours is None else ours["ndcg10_rel_ci_low"],
            "ours_ndcg10_ci_high": math.nan if ours is None else ours["ndcg10_rel_ci_high"],
            "ours_data": data_label,
        })
    return pd.DataFrame(rows)


def baselines_table(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per evaluation language: the method (monolingual, best bilingual, largest) vs every other kind.

    One row per (evaluation language, kind, model); ``rel_change_pct`` is vs the METHOD's monolingual
    model of that language (from ``summary``); ``train_seconds`` is the mean over seeds of the run's
    recorded training time, ``n_parameters`` that of the model. Empty when no run of another kind exists.
    """
    cols = ["eval_language", "kind", "model", "role", "n_seeds", "f1_mean", "f1_std", "roc_auc_mean", "pr_auc_mean", "rel_change_pct",
            "rel_ci_low", "rel_ci_high", "ndcg10_mean", "mrr_mean", "ndcg10_rel_change_pct", "ndcg10_rel_ci_low", "ndcg10_rel_ci_high",
            "train_seconds", "n_parameters"]
    if runs.empty or set(runs["kind"]) <= {"method"}:
        return pd.DataFrame(columns=cols)
    cost = runs.groupby(["kind", "model", "eval_language"], sort=False).agg(
        train_seconds=("train_seconds", lambda x: pd.to_numeric(x, errors="coerce").mean()),
        n_parameters=("n_parameters", "first"),
    )
    s = summary.join(cost, on=["kind", "model", "eval_language"])
    rows = []
    for lang in [lang for lang in KNOWN_LANGUAGES if lang in set(s["eval_language"])]:
        here = s[s["eval_language"] == lang]
        method = here[here["kind"] == "method"]
        picks = [("monolingual", method[method["n_languages"] == 1])]
        bi = method[method["n_languages"] == 2]
        if len(bi):
            picks.append(("best bilingual", bi.loc[[bi["f1_mean"].idxmax()]]))
        if len(method) and method["n_languages"].max() > 2:
            picks.append((f"{int(method['n_languages'].max())} languages", method[method["n_languages"] == method["n_languages"].max()]))
        for role, part in picks:
            rows += [dict(r, role=role) for r in part.to_dict("records")]
        others = here[here["kind"] != "method"].sort_values(["kind", "n_languages"], kind="stable")
        rows += [dict(r, role="zero-shot" if r["kind"] == "zeroshot" else
                      "monolingual" if r["n_languages"] == 1 else f"{r['n_languages']} languages")
                 for r in others.to_dict("records")]
    return pd.DataFrame(rows, columns=cols)


def kind_gains(runs: pd.DataFrame) -> pd.DataFrame:
    """Per kind: each multilingual model against THAT KIND's monolingual model of the evaluation language.

    The paper's question asked of every kind that trains both (the method, and the pretrained starts
    e5, e5_full, cross): ``rel_change_pct`` with its paired bootstrap interval over seeds and t-test
    p-value, for F1 and nDCG@10 (``f1_summary`` with the kind as its own reference).
    """
    cols = ["kind", "model", "n_languages", "eval_language", "n_seeds", "f1_mean", "mono_f1_mean", "rel_change_pct", "rel_ci_low",
            "rel_ci_high", "p_value", "ndcg10_mean", "ndcg10_rel_change_pct", "ndcg10_rel_ci_low", "ndcg10_rel_ci_high"]
    parts = []
    for kind, g in runs.groupby("kind", sort=False):
        if (g["n_languages"] == 1).any() and (g["n_languages"] > 1).any():
            summary = f1_summary(g, reference_kind=kind)
            parts.append(summary[summary["n_languages"] > 1])
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    return out[[c for c in cols if c in out.columns]]


def ablation_table(base: pd.DataFrame) -> pd.DataFrame:
    """Each kind's effect in one line per role: means over evaluation languages of ``baselines_table``.

    Roles: ``monolingual`` and the largest model (``N languages``), each kind against the method's
    model of the same role (``*_vs_method``: difference of the means over the languages both have);
    ``zero-shot`` against the method's monolingual models. A lever's row says what turning it off (or,
    for ``pretrain``, on) costs; the per-language rows with intervals are in ``baselines``.
    """
    cols = ["kind", "role", "n_languages", "f1", "roc_auc", "pr_auc", "ndcg10", "f1_vs_method", "ndcg10_vs_method", "description"]
    base = base[base["role"] != "best bilingual"]
    if base.empty:
        return pd.DataFrame(columns=cols)
    metrics = {"f1": "f1_mean", "roc_auc": "roc_auc_mean", "pr_auc": "pr_auc_mean", "ndcg10": "ndcg10_mean"}
    method = base[base["kind"] == "method"].set_index(["role", "eval_language"])
    order = {k: i for i, k in enumerate(KINDS)}
    rows = []
    for (kind, role), g in sorted(base.groupby(["kind", "role"], sort=False), key=lambda x: (order.get(x[0][0], 99), x[0][1] != "monolingual", x[0][1])):
        ref_role = "monolingual" if role == "zero-shot" else role
        row = {"kind": kind, "role": role, "n_languages": g["eval_language"].nunique(),
               "description": KINDS[kind].description if kind in KINDS else ""}
        row.update({k: pd.to_numeric(g[c], errors="coerce").mean() if c in g else math.nan for k, c in metrics.items()})
        for k in ("f1", "ndcg10"):
            both = [(r[metrics[k]], method.loc[(ref_role, r["eval_language"]), metrics[k]])
                    for r in g.to_dict("records") if (ref_role, r["eval_language"]) in method.index]
            row[f"{k}_vs_method"] = (float(np.mean([a - b for a, b in both])) if both and kind != "method" else math.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _fmt_mean(mean: float, std: float) -> str:
    if mean is None or not np.isfinite(mean):
        return "—"
    return f"{mean:.3f}" + (f" ± {std:.3f}" if std is not None and np.isfinite(std) else "")


def _fmt_change(rel: float, lo: float, hi: float) -> str:
    if rel is None or not np.isfinite(rel):
        return "—"
    ci = f" [{lo:+.1f}, {hi:+.1f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{rel:+.1f}%{ci}"


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per evaluation language and metric (F1, nDCG@10): the method monolingual, its best bilingual and
    its largest model (mean ± std over seeds, and the change vs monolingual with its paired interval),
    next to TF-IDF + LR where it ran. Text cells, "—" where nothing was measured."""
    method = summary[summary["kind"] == "method"]
    if method.empty:
        return pd.DataFrame()
    tfidf = summary[summary["kind"] == "tfidf"].set_index("eval_language")
    largest = int(method["n_languages"].max())
    rows = []
    for lang in [lang for lang in KNOWN_LANGUAGES if lang in set(method["eval_language"])]:
        here = method[(method["eval_language"] == lang).to_numpy() & np.array([lang in m.split("+") for m in method["model"]], dtype=bool)]
        for metric, prefix in COMPARED.items():
            name = "f1" if metric == "f1" else prefix.rstrip("_")
            mono = here[here["n_languages"] == 1]
            bi = here[here["n_languages"] == 2].dropna(subset=[f"{name}_mean"])
            big = here[here["n_languages"] == largest] if largest > 1 else here.iloc[0:0]
            row = {"language": lang, "metric": "F1" if metric == "f1" else "nDCG@10"}
            row["monolingual"] = _fmt_mean(*mono[[f"{name}_mean", f"{name}_std"]].iloc[0]) if len(mono) else "—"
            if len(bi):
                best = bi.loc[bi[f"{name}_mean"].idxmax()]
                row["best bilingual"] = f"{best['model']}: {_fmt_mean(best[f'{name}_mean'], best[f'{name}_std'])}"
                row["best bilingual vs mono"] = _fmt_change(best[f"{prefix}rel_change_pct"], best[f"{prefix}rel_ci_low"], best[f"{prefix}rel_ci_high"])
            else:
                row["best bilingual"] = row["best bilingual vs mono"] = "—"
            if len(big):
                b = big.iloc[0]
                row[f"{largest} languages"] = _fmt_mean(b[f"{name}_mean"], b[f"{name}_std"])
                row[f"{largest} languages vs mono"] = _fmt_change(b[f"{prefix}rel_change_pct"], b[f"{prefix}rel_ci_low"], b[f"{prefix}rel_ci_high"])
            row["TF-IDF + LR"] = (_fmt_mean(tfidf.loc[lang, f"{name}_mean"], tfidf.loc[lang, f"{name}_std"])
                                  if lang in tfidf.index else "—")
            rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, digits: int = 3, index: bool = False) -> str:
    """A GitHub Markdown table (no extra dependency); NaN shows as an empty cell."""
    if index:
        df = df.reset_index()
    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if math.isnan(v) else f"{v:.{digits}f}"
        return "" if v is None else str(v)
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def write_table(df: pd.DataFrame, out: Path, name: str, title: str, note: str = "", index: bool = False, digits: int = 3) -> list[Path]:
    csv = write_text(out / f"{name}.csv", df.to_csv(index=index, float_format="%.6g"))
    md_text = f"# {title}\n\n{note + chr(10) + chr(10) if note else ''}{to_markdown(df, digits, index)}"
    return [csv, write_text(out / f"{name}.md", md_text)]


def merge_kept_rows(runs: pd.DataFrame, previous: Path) -> pd.DataFrame:
    """``runs`` plus the rows of an earlier ``f1.csv`` whose KIND has no run folder here.

    Run folders are local (not committed), so a fresh clone that reruns only the language grid would
    otherwise rewrite the tables without the baselines that ``make baselines`` added. Rows of a kind
    with any run folder here come from the run folders alone (never mixed with older rows of that
    kind); kept rows are marked ``origin: kept`` in ``f1.csv``, and what was kept is printed.
    """
    runs = runs.assign(origin="run")
    if not previous.is_file():
        return runs
    old = pd.read_csv(previous)
    if "kind" not in old.columns or old.empty:
        return runs
    kept = old[~old["kind"].isin(set(runs["kind"]))].copy()
    if kept.empty:
        return runs
    kept["origin"] = "kept"
    print(f"tables: kept {len(kept)} rows of kind(s) {sorted(set(kept['kind']))} from the existing {previous} "
          "(no run folders of them here; rerun `make baselines` to rebuild them)")
    return _sorted_runs(pd.concat([runs, kept], ignore_index=True))


def write_tables(root: str | Path) -> dict[str, pd.DataFrame]:
    """Gather the runs of ``root`` and write every table to ``<root>/tables``; returns them by name."""
    root = Path(root)
    out = root / "tables"
    runs = merge_kept_rows(gather_runs(root), out / "f1.csv")
    summary = f1_summary(runs)
    by_size = gain_by_size(summary)
    paper = paper_comparison(summary, f"{root.parent.name}/{root.name} (ours)")
    f1_cols = [c for c in ["model", "kind", "n_languages", "train_languages", "eval_language", "seed", "f1", "precision",
                           "recall", "accuracy", "roc_auc", "pr_auc", "threshold", "f1_ci_low", "f1_ci_high", "n_pairs",
                           "positives", *RANKING_METRICS, "ndcg@10_ci_low", "ndcg@10_ci_high", "mrr_ci_low", "mrr_ci_high",
                           "n_queries", "no_relevant_queries", "best_epoch", "warm_start_language", "train_seconds", "origin", "single_class_test"]
               if c in runs.columns]
    write_table(runs[f1_cols], out, "f1", "F1 and ranking metrics of every run",
           "One row per model × evaluation language × seed (test split). Ranking metrics (nDCG@k, MRR, Recall@k) are "
           "means over queries of the order a model gives each query's candidates (mlsearch/ranking.py).")
    write_table(summary, out, "f1_summary", "F1 and nDCG@10 per model and evaluation language",
           "Mean ± std over seeds (ROC-AUC, PR-AUC, MRR, Recall@1: means over seeds); `rel_change_pct` = 100·(F1 − F1_mono)/F1_mono of the seed means, vs the "
           "monolingual model of the evaluation language; interval: paired bootstrap over seeds (95%); "
           "`p_value`: paired t-test; `ndcg10_*`: the same for nDCG@10. With 3 seeds both are rough (10 distinct resamples, 2 degrees of freedom).")
    write_table(by_size, out, "gain_by_size", "Average relative F1 change (%) by number of training languages",
           "Mean over the models of each size that train on the evaluation language; `all` averages the languages.",
           index=True, digits=1)
    by_size_ndcg = gain_by_size(summary, value="ndcg10_rel_change_pct")
    write_table(by_size_ndcg, out, "gain_by_size_ndcg", "Average relative nDCG@10 change (%) by number of training languages",
           "As `gain_by_size`, for nDCG@10 instead of F1.", index=True, digits=1)
    write_table(paper, out, "paper", "The paper's relative gains next to ours",
           "Different data: the paper's numbers come from proprietary e-commerce data, ours from "
           f"`{root.parent.name}` with the `{root.name}` profile. Compare the direction and ordering, not the values.",
           digits=1)
    headline = headline_table(summary)
    write_table(headline, out, "headline", "Headline: monolingual, best bilingual and all languages against TF-IDF",
           "Test F1 and nDCG@10, mean ± std over seeds; changes vs the monolingual model of the language with a paired "
           "bootstrap interval over seeds (95%; rough with 3 seeds). TF-IDF + LR is monolingual (`make baselines`).")
    tables = {"f1": runs, "f1_summary": summary, "gain_by_size": by_size, "gain_by_size_ndcg": by_size_ndcg, "paper": paper,
              "headline": headline}
    base = baselines_table(runs, summary)
    if len(base):
        write_table(base, out, "baselines", "The method vs baselines and ablations, per evaluation language",
               "F1 mean ± std over seeds, ROC-AUC and PR-AUC means over seeds; `rel_change_pct` vs the method's monolingual model of the evaluation "
               "language (paired by seed, bootstrap interval over seeds); cost: mean training seconds per run "
               "(`run_info.json`) and `n_parameters` of the model. Kinds: see `mlsearch/kinds.py`.")
        tables["baselines"] = base
        ablations = ablation_table(base)
        write_table(ablations, out, "ablations", "Each kind in one line: means over the evaluation languages",
               "Test F1, ROC-AUC, PR-AUC and nDCG@10, means over seeds and then over evaluation languages, of the monolingual "
               "models and of the model of all languages; `*_vs_method`: difference from the method's model of the same role "
               "(zero-shot: from the method's monolingual models), over the languages both have. Intervals per language: "
               "`baselines`.")
        tables["ablations"] = ablations
    gains = kind_gains(runs)
    if (gains["kind"] != "method").any():
        write_table(gains, out, "kind_gains", "Each kind's multilingual models against its OWN monolingual models",
               "Test F1 and nDCG@10: `rel_change_pct` = 100·(F1 − F1_mono)/F1_mono of the seed means, where F1_mono is the "
               "same kind's model trained on the evaluation language alone; interval: paired bootstrap over seeds (95%); "
               "`p_value`: paired t-test. The paper's question for each start (from scratch, pretrained, cross-encoder).")
        tables["kind_gains"] = gains
    return tables
