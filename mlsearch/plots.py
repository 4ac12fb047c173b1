"""Figures of a results root, PNG in ``<root>/figures`` (matplotlib Agg: no display needed).

- ``f1_by_size.png``: F1 against the number of training languages, one panel per evaluation language;
  one point per model (seed mean, bar = std over seeds) and the mean over models of each size;
- ``bilingual_gain.png``: relative F1 change of each bilingual model vs the monolingual one
  (evaluation language × partner language);
- ``curves.png``: losses per epoch of the largest model (seed 0): classification per language,
  alignment per phase, and validation F1.
- ``baselines.png``: the method vs baselines and ablations per evaluation language (when such runs exist).
A figure whose data is missing (e.g. no bilingual runs in a small grid) is skipped, not faked.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mlsearch.config import KNOWN_LANGUAGES  # noqa: E402
from mlsearch.io import atomic_write  # noqa: E402
from mlsearch.kinds import alignment_kinds  # noqa: E402
from mlsearch.losses import ALIGNMENT  # noqa: E402
from mlsearch.tables import baselines_table, f1_summary, gather_runs  # noqa: E402


def save(fig: plt.Figure, path: Path) -> Path:
    """Write a PNG atomically, without the (version-dependent) software tag, then close the figure."""
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None}))
    plt.close(fig)
    return path


def _langs(values: pd.Series) -> list[str]:
    return sorted(set(values), key=KNOWN_LANGUAGES.index)


METRIC_LABELS = {"f1": "F1 (match class, test)", "ndcg@10": "nDCG@10 (test queries)"}


def plot_f1_by_size(runs: pd.DataFrame, kind: str = "method", metric: str = "f1") -> plt.Figure | None:
    """``metric`` (F1, or nDCG@10) vs number of training languages, a panel per evaluation language
    (models that train on it)."""
    r = runs[runs["kind"] == kind]
    if metric not in r.columns or pd.to_numeric(r[metric], errors="coerce").isna().all():
        return None
    r = r[[lang in m.split("+") for m, lang in zip(r["model"], r["eval_language"], strict=True)]]
    if r.empty:
        return None
    langs = _langs(r["eval_language"])
    fig, axes = plt.subplots(1, len(langs), figsize=(3.2 * len(langs), 3.2), sharey=True, squeeze=False)
    for ax, lang in zip(axes[0], langs, strict=True):
        here = r[r["eval_language"] == lang].assign(value=lambda d: pd.to_numeric(d[metric], errors="coerce"))
        g = here.groupby(["model", "n_languages"])["value"].agg(["mean", "std"]).reset_index()
        # Spread the models of one size side by side so their bars do not overlap.
        rank = g.groupby("n_languages").cumcount().to_numpy()
        count = g.groupby("n_languages")["model"].transform("size").to_numpy()
        jitter = np.where(count > 1, (rank / np.maximum(count - 1, 1) - 0.5) * 0.3, 0.0)
        ax.errorbar(g["n_languages"] + jitter, g["mean"], yerr=g["std"].fillna(0), fmt="o", ms=4, alpha=0.6,
                    color="tab:blue", ecolor="tab:gray", capsize=2, label="one model (mean ± std over seeds)")
        by_size = g.groupby("n_languages")["mean"].mean()
        ax.plot(by_size.index, by_size.to_numpy(), "-s", color="tab:red", label="mean over models")
        mono = g[g["n_languages"] == 1]["mean"]
        if len(mono):
            ax.axhline(float(mono.iloc[0]), ls=":", color="black", lw=1, label=f"monolingual {lang}")
        ax.set_title(f"evaluated on {lang}")
        ax.set_xlabel("training languages")
        ax.set_xticks(sorted(g["n_languages"].unique()))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(METRIC_LABELS[metric])
    handles, labels = axes[0][0].get_legend_handles_labels()
    labels = ["monolingual model" if lab.startswith("monolingual") else lab for lab in labels]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def bilingual_gains(summary: pd.DataFrame, kind: str = "method") -> pd.DataFrame:
    """Matrix of relative change (%) of each bilingual model on language L (row) with partner P (column)."""
    s = summary[(summary["kind"] == kind) & (summary["n_languages"] == 2)].dropna(subset=["rel_change_pct"])
    rows = []
    for model, lang, gain in zip(s["model"], s["eval_language"], s["rel_change_pct"], strict=True):
        partner = [x for x in model.split("+") if x != lang]
        if len(partner) == 1:
            rows.append({"eval_language": lang, "partner": partner[0], "gain": gain})
    if not rows:
        return pd.DataFrame()
    m = pd.DataFrame(rows).pivot(index="eval_language", columns="partner", values="gain")
    langs = _langs(pd.Series(list(m.index) + list(m.columns)))
    return m.reindex(index=langs, columns=langs)


def plot_bilingual_heatmap(summary: pd.DataFrame, kind: str = "method") -> plt.Figure | None:
    m = bilingual_gains(summary, kind)
    if m.empty:
        return None
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(m.columns), 0.8 + 0.8 * len(m.index)))
    vals = m.to_numpy(dtype=float)
    lim = max(1.0, float(np.nanmax(np.abs(vals)))) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if not math.isnan(vals[i, j]):
                ax.text(j, i, f"{vals[i, j]:+.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(m.columns)), m.columns)
    ax.set_yticks(range(len(m.index)), m.index)
    ax.set_xlabel("partner language")
    ax.set_ylabel("evaluated on")
    ax.set_title("bilingual vs monolingual: F1 change (%)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def curves_run(root: Path, runs: pd.DataFrame, kind: str = "method") -> Path | None:
    """The run folder whose curves are shown: the largest model of ``kind`` at its lowest seed (0 if run).

    Rows kept from an earlier table (``origin: kept``) have no run folder here and are passed over."""
    r = runs[runs["kind"] == kind]
    if "run_dir" in r.columns:
        r = r[r["run_dir"].notna()]
    if r.empty:
        return None
    best = r.sort_values(["n_languages", "seed"], ascending=[False, True]).iloc[0]
    path = root / best["run_dir"] / "curves.csv"
    return path if path.is_file() else None


def plot_tune_trials(table: pd.DataFrame) -> plt.Figure:
    """Validation F1 of every tuning trial (pruned ones hollow) and the best so far."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    done = table[table["state"] == "complete"]
    pruned = table[table["state"] == "pruned"]
    ax.plot(done["trial"], done["valid_f1"], "o", color="tab:blue", label="trial")
    if len(pruned):
        ax.plot(pruned["trial"], pruned["valid_f1"], "o", mfc="none", color="tab:gray", label="pruned (best epoch so far)")
    best = done.set_index("trial")["valid_f1"].reindex(table["trial"]).ffill().cummax()
    ax.step(table["trial"], best.to_numpy(), where="post", color="tab:red", label="best so far")
    if (done["trial"] == 0).any():
        ax.axhline(float(done.loc[done["trial"] == 0, "valid_f1"].iloc[0]), color="black", lw=0.8, ls="--", label="trial 0 (current)")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation F1 (mean over languages)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(curves: pd.DataFrame, title: str = "") -> plt.Figure:
    """Classification loss per language, alignment losses per phase (mean over pairs), validation F1."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    c = curves.copy()
    c["loss"] = pd.to_numeric(c["loss"], errors="coerce")
    cls = c[c["phase"].isin(["warm", "classify"])]
    for lang, g in cls.groupby("language", sort=False):
        e = g.groupby("epoch")["loss"].mean()
        axes[0].plot(e.index, e.to_numpy(), "-o", ms=3, label=str(lang))
    axes[0].set_title("classification loss")
    al = c[c["phase"].str.startswith("align")]
    for phase, g in al.groupby("phase", sort=False):
        e = g.groupby("epoch")["loss"].mean()
        axes[1].plot(e.index, e.to_numpy(), "-o", ms=3, label=phase.replace("align_", "") + " mapping")
    axes[1].set_title("alignment loss (mean over language pairs)")
    if "valid_f1" in c.columns:
        v = c[c["phase"] == "valid"]
        v = v.assign(valid_f1=pd.to_numeric(v["valid_f1"], errors="coerce")).dropna(subset=["valid_f1"])
        for lang, g in v.groupby("language", sort=False):
            e = g.groupby("epoch")["valid_f1"].mean()
            axes[2].plot(e.index, e.to_numpy(), "-o", ms=3, label=str(lang))
    axes[2].set_title("validation F1")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_baselines(table: pd.DataFrame) -> plt.Figure | None:
    """F1 of the method, baselines and ablations: a panel per evaluation language (rows of
    :func:`mlsearch.tables.baselines_table`), bar = std over seeds, dotted line = the method's monolingual F1."""
    if table.empty:
        return None
    langs = _langs(table["eval_language"])
    height = max(len(g) for _, g in table.groupby("eval_language"))
    fig, axes = plt.subplots(1, len(langs), figsize=(3.2 * len(langs) + 1.5, 0.28 * height + 1.2), squeeze=False, sharex=True)
    for ax, lang in zip(axes[0], langs, strict=True):
        g = table[table["eval_language"] == lang].iloc[::-1]
        labels = [f"{k}: {m}" if k != "method" else f"method ({r})" for k, m, r in zip(g["kind"], g["model"], g["role"], strict=True)]
        colors = ["tab:red" if k == "method" else "tab:gray" for k in g["kind"]]
        ax.barh(range(len(g)), g["f1_mean"], xerr=g["f1_std"].fillna(0), color=colors, height=0.7)
        ax.set_yticks(range(len(g)), labels, fontsize=7)
        mono = g[(g["kind"] == "method") & (g["role"] == "monolingual")]["f1_mean"]
        if len(mono):
            ax.axvline(float(mono.iloc[0]), color="black", ls=":", lw=1)
        ax.set_title(f"evaluated on {lang}", fontsize=9)
        ax.set_xlabel("test F1")
    fig.tight_layout()
    return fig


#: Kinds drawn as lines of the headline figure where they ran (the method first, with its range).
HEADLINE_KINDS = {"method": ("tab:blue", "method"), "e5_full": ("tab:green", "method from e5-small (e5_full)"),
                  "cross": ("tab:red", "cross-encoder on e5-small (cross)")}


def _by_size(r: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean over seeds per (model, language), then over models of a size; mean/min/max over languages."""
    r = r[[lang in m.split("+") for m, lang in zip(r["model"], r["eval_language"], strict=True)]]
    v = r.assign(value=pd.to_numeric(r[metric], errors="coerce"))
    per_lang = v.groupby(["eval_language", "model", "n_languages"])["value"].mean().groupby(["eval_language", "n_languages"]).mean()
    return per_lang.groupby("n_languages").agg(["mean", "min", "max"]).dropna()


def plot_headline(runs: pd.DataFrame) -> plt.Figure | None:
    """The headline: F1 and nDCG@10 against the number of training languages, averaged over the
    evaluation languages (each language's models that train on it), next to TF-IDF + LR where it ran,
    and the pretrained kinds of :data:`HEADLINE_KINDS` where they ran."""
    r = runs[runs["kind"] == "method"]
    metrics = [m for m in METRIC_LABELS if m in r.columns and pd.to_numeric(r[m], errors="coerce").notna().any()]
    if r.empty or not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    tfidf = runs[runs["kind"] == "tfidf"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for kind, (color, label) in HEADLINE_KINDS.items():
            by_size = _by_size(runs[runs["kind"] == kind], metric) if (runs["kind"] == kind).any() else pd.DataFrame()
            if by_size.empty:
                continue
            x = by_size.index.to_numpy()
            if kind == "method":
                ax.fill_between(x, by_size["min"], by_size["max"], color=color, alpha=0.15, label="range over languages")
            ax.plot(x, by_size["mean"], "-o", color=color, label=f"{label} (mean over languages)")
        if len(tfidf) and metric in tfidf.columns:
            level = pd.to_numeric(tfidf[metric], errors="coerce").groupby(tfidf["eval_language"]).mean().mean()
            ax.axhline(level, ls="--", color="tab:orange", label="TF-IDF + LR (monolingual, mean)")
        ax.set_xticks(sorted(set(_by_size(r, metric).index)))
        ax.set_xlabel("training languages")
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def write_figures(root: str | Path, runs: pd.DataFrame | None = None, summary: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write every figure whose data exists to ``<root>/figures``; returns them by name."""
    root = Path(root)
    out = root / "figures"
    runs = gather_runs(root) if runs is None else runs
    summary = f1_summary(runs) if summary is None else summary
    written: dict[str, Path] = {}
    fig = plot_f1_by_size(runs)
    if fig is not None:
        written["f1_by_size"] = save(fig, out / "f1_by_size.png")
    fig = plot_f1_by_size(runs, metric="ndcg@10")
    if fig is not None:
        written["ndcg_by_size"] = save(fig, out / "ndcg_by_size.png")
    fig = plot_headline(runs)
    if fig is not None:
        written["headline"] = save(fig, out / "headline.png")
    fig = plot_bilingual_heatmap(summary)
    if fig is not None:
        written["bilingual_gain"] = save(fig, out / "bilingual_gain.png")
    fig = plot_baselines(baselines_table(runs, summary))
    if fig is not None:
        written["baselines"] = save(fig, out / "baselines.png")
    path = curves_run(root, runs)
    if path is not None:
        rel = path.parent.relative_to(root / "runs")
        written["curves"] = save(plot_curves(pd.read_csv(path), f"training curves: {rel}"), out / "curves.png")
    return written


# --------------------------------------------------------------------------- embedding maps
_SIDE_MARKERS = {"query": "o", "title": "^"}


def plot_embedding_maps(coords: dict[str, np.ndarray], items: pd.DataFrame, title: str = "") -> plt.Figure:
    """The paper's embedding figure: a column per model (its 2-D map, e.g. from ``tsne_2d``), the top
    row coloured by language, the bottom row by topic (vertical); circles are queries, triangles titles.

    ``coords[model]`` holds one row per row of ``items`` (columns ``lang, side, topic``).
    """
    fig, axes = plt.subplots(2, len(coords), figsize=(4.6 * len(coords), 8.4), squeeze=False)
    langs = _langs(items["lang"])
    topics = sorted(set(items["topic"].astype(str)))
    palettes = {
        "lang": dict(zip(langs, plt.get_cmap("tab10").colors, strict=False)),
        "topic": dict(zip(topics, plt.get_cmap("Set2").colors, strict=False)),
    }
    for col, (model, xy) in enumerate(coords.items()):
        for row, key in enumerate(("lang", "topic")):
            ax = axes[row][col]
            for (value, side), g in items.groupby([items[key].astype(str), "side"], sort=True):
                pts = xy[items.index.get_indexer(g.index)]
                ax.scatter(pts[:, 0], pts[:, 1], s=14, alpha=0.7, marker=_SIDE_MARKERS.get(side, "o"),
                           color=palettes[key].get(value, "gray"), label=f"{value} {'queries' if side == 'query' else 'titles'}", linewidths=0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{model}\ncoloured by {'language' if key == 'lang' else 'topic'}", fontsize=10)
            if col == len(coords) - 1:
                ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the study (mlsearch.study)
KIND_STYLE = {"method": ("tab:red", "o", "method (alignment)"), "no_align": ("tab:blue", "s", "no alignment"),
              "shared": ("tab:green", "^", "shared encoder")}
#: Colours and markers of the kinds that change only the alignment objective, in registry order.
ALIGN_STYLES = [("tab:purple", "v"), ("tab:brown", "D"), ("tab:olive", "P"), ("tab:cyan", "*")]


def _kind_style(kind: str) -> tuple[str, str, str]:
    if kind in KIND_STYLE:
        return KIND_STYLE[kind]
    others = [k for k in alignment_kinds() if k != "method"]
    if kind in others:
        colour, marker = ALIGN_STYLES[others.index(kind) % len(ALIGN_STYLES)]
        return colour, marker, f"{alignment_kinds()[kind]} alignment"
    return "tab:gray", "x", kind


def _ci(g: pd.DataFrame) -> np.ndarray:
    """Asymmetric error bars (2 × n) from gain_low/high; zero where there is no interval."""
    lo = (g["gain_pct"] - g["gain_low"]).fillna(0).to_numpy()
    hi = (g["gain_high"] - g["gain_pct"]).fillna(0).to_numpy()
    return np.vstack([lo, hi])


def _panels(n: int, width: float = 3.0, height: float = 3.0):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


def plot_gain_vs_size(size: pd.DataFrame) -> plt.Figure | None:
    """Relative F1 gain over monolingual against training pairs per language, a panel per language
    (and one for the mean over languages, against the size factor); bars: 95% interval over seeds."""
    if size.empty:
        return None
    langs = [lang for lang in _langs(size.loc[size["eval_language"] != "mean", "eval_language"])] + ["mean"]
    fig, axes = _panels(len(langs))
    for ax, lang in zip(axes, langs, strict=True):
        part = size[size["eval_language"] == lang]
        for kind, g in part.groupby("kind", sort=False):
            g = g.sort_values("factor")
            x = g["factor"] if lang == "mean" else g["train_pairs"]
            color, marker, label = _kind_style(kind)
            ax.errorbar(x, g["gain_pct"], yerr=_ci(g), fmt=f"-{marker}", color=color, ms=4, capsize=2, label=label)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{lang} (mean over languages)" if lang == "mean" else lang, fontsize=10)
        ax.set_xlabel("× default training size" if lang == "mean" else "training pairs of this language")
    axes[0].set_ylabel("F1 change vs monolingual (%)")
    axes[-1].legend(fontsize=7)
    fig.suptitle("When does multilingual training help? Gain by training data per language", fontsize=11)
    fig.tight_layout()
    return fig


def plot_f1_vs_size(runs: pd.DataFrame) -> plt.Figure | None:
    """Absolute test F1 (mean over seeds) against the size factor: monolingual and each 5-language kind."""
    r = runs[(runs["low_language"] == "") & (runs["product_share"] == 1.0) & (runs["query_share"] == 1.0)]
    if r["factor"].nunique() < 2:  # the size sweep did not run (other sweeps sit at ×1 only)
        return None
    langs = _langs(r["eval_language"])
    fig, axes = _panels(len(langs))
    for ax, lang in zip(axes, langs, strict=True):
        part = r[r["eval_language"] == lang]
        mono = part[part["n_languages"] == 1].groupby("factor")["f1"].agg(["mean", "std"]).reset_index()
        ax.errorbar(mono["factor"], mono["mean"], yerr=mono["std"].fillna(0), fmt="-o", color="black", ms=4, capsize=2, label="monolingual")
        for kind, g in part[part["n_languages"] > 1].groupby("kind", sort=False):
            g = g.groupby("factor")["f1"].agg(["mean", "std"]).reset_index()
            color, marker, label = _kind_style(kind)
            ax.errorbar(g["factor"], g["mean"], yerr=g["std"].fillna(0), fmt=f"-{marker}", color=color, ms=4, capsize=2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_title(lang, fontsize=10)
        ax.set_xlabel("× default training size")
    axes[0].set_ylabel("test F1 (mean ± std over seeds)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_gain_vs_alignment(align: pd.DataFrame) -> plt.Figure | None:
    """Gain of the method at the default size against the share of product mappings kept (query
    mappings all kept); the point without query mappings is drawn apart."""
    if align.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    prod = align[align["query_share"] == 1.0]
    for lang, g in prod.groupby("eval_language", sort=False):
        g = g.sort_values("product_share")
        bold = lang == "mean"
        ax.errorbar(g["product_share"], g["gain_pct"], yerr=_ci(g) if bold else None, fmt="-o" if bold else "-",
                    color="black" if bold else None, lw=2 if bold else 1, alpha=1 if bold else 0.6, ms=4, capsize=3,
                    label="mean over languages (95% interval)" if bold else lang)
    noq = align[(align["query_share"] < 1.0) & (align["product_share"] == 1.0) & (align["eval_language"] == "mean")]
    for _, r in noq.iterrows():
        ax.errorbar([1.04], [r["gain_pct"]], yerr=_ci(r.to_frame().T), fmt="D", color="tab:orange", capsize=3,
                    label=f"all products, {r['query_share']:g} of query mappings (mean)")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("share of product mappings kept (query mappings: all)")
    ax.set_ylabel("F1 change vs monolingual (%)")
    ax.set_title("Gain by amount of alignment data (default size)", fontsize=11)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_low_resource(low: pd.DataFrame) -> plt.Figure | None:
    """Gain on one language when it has a small share of its data (others at the default), next to
    its gain at the default size; one bar per share; bars: 95% interval over seeds."""
    if low.empty:
        return None
    langs = _langs(low["eval_language"])
    factors = sorted(low.loc[low["setting"] == "low", "low_factor"].unique())
    bars = [(low["setting"] == "default", "all at ×1", "tab:gray")]
    reds = plt.get_cmap("Reds")
    bars += [((low["setting"] == "low") & (low["low_factor"] == f), f"this language at ×{f:g}",
              reds(0.9 - 0.5 * i / max(1, len(factors) - 1))) for i, f in enumerate(factors)]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x, width = np.arange(len(langs)), 0.8 / len(bars)
    for i, (sel, label, color) in enumerate(bars):
        g = low[sel].set_index("eval_language").reindex(langs)
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, g["gain_pct"], width, yerr=_ci(g.reset_index()), capsize=3,
               color=color, label=label)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, langs)
    ax.set_ylabel("F1 change vs monolingual (%)")
    ax.set_title("One low-resource language among four at the default size", fontsize=11)
    ax.legend(fontsize=8, ncols=min(4, len(bars)), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    return fig


def plot_align_form(form: pd.DataFrame) -> plt.Figure | None:
    """Gain (mean over languages) of each alignment objective at the sweep's sizes."""
    if form.empty:
        return None
    m = form[form["eval_language"] == "mean"]
    factors = sorted(m["factor"].unique())
    losses = [k for k in ALIGNMENT if k in set(m["align_loss"])]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    x = np.arange(len(factors))
    w = 0.8 / len(losses)
    for i, loss in enumerate(losses):
        g = m[m["align_loss"] == loss].set_index("factor").reindex(factors)
        ax.bar(x + (i - (len(losses) - 1) / 2) * w, g["gain_pct"], w, yerr=_ci(g.reset_index()), capsize=3, label=loss)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [f"×{f:g}" for f in factors])
    ax.set_xlabel("training size")
    ax.set_ylabel("F1 change vs monolingual (%), mean")
    ax.set_title("Alignment objective", fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_study_figures(tables: dict[str, pd.DataFrame], runs: pd.DataFrame, folder: str | Path, metric: str = "f1") -> dict[str, Path]:
    """The study's figures as PNG under ``folder`` (those whose sweep ran). With ``metric`` ``ndcg@10``
    the tables and ``runs`` carry nDCG@10 in their ``f1`` columns (mlsearch.study.analyze): the labels
    say so and the files end in ``_ndcg``."""
    folder = Path(folder)
    figures = {
        "gain_vs_size": plot_gain_vs_size(tables["size"]),
        "f1_vs_size": plot_f1_vs_size(runs),
        "gain_vs_alignment": plot_gain_vs_alignment(tables["alignment"]),
        "low_resource": plot_low_resource(tables["low_resource"]),
        "align_form": plot_align_form(tables["align_form"]),
    }
    suffix = "" if metric == "f1" else "_ndcg"
    if suffix:
        for fig in (f for f in figures.values() if f is not None):
            for ax in fig.axes:
                ax.set_ylabel(ax.get_ylabel().replace("F1", "nDCG@10"))
                ax.set_xlabel(ax.get_xlabel().replace("F1", "nDCG@10"))
                ax.set_title(ax.get_title().replace("F1", "nDCG@10"))
    return {name: save(fig, folder / f"{name}{suffix}.png") for name, fig in figures.items() if fig is not None}
