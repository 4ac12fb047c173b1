"""The study: when does multilingual training help? Sweeps of data size and alignment data.

A study file (``params/study/<profile>.yaml``) names a profile (model, training, default data
sizes) and four sweeps. Every sweep point is a set of grid cells, executed with papermill through
``notebooks/02_train.ipynb`` exactly like the language grid, into

    <results>/<source>/<profile>/study/runs/<point>/[<kind>/]<model>/seed<k>/

Points are named after their data (``x0.5``: half the default training queries per language;
``x1-it0.0625``: Italian at 1/16, the others at the default; ``x1-prod0.1``: 10% of the product
mappings), so a cell two sweeps share (the default-size method model, the monolingual references)
trains once. Every point draws from ONE dataset, generated at the largest factor and subsampled
(``data.train_share``; :mod:`mlsearch.data.subsample`): validation and test pairs are the same
everywhere, and smaller training sets are subsets of larger ones.

The relative gain of a multilingual model on language L is ``(F1 − F1_mono) / F1_mono`` against the
monolingual model of L trained on exactly the same L data, paired by seed; intervals are 95%
t-intervals over seeds. ``notebooks/05_when_it_helps.ipynb`` turns the runs into tables and figures
under ``study/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mlsearch.cells import NOTEBOOKS, Cell, Plan, RunOptions, execute, execute_notebook
from mlsearch.checkpoint import config_hash
from mlsearch.config import RunConfig, _build, find_params_dir, load_config, profile_files, read_yaml
from mlsearch.data.load import load_dataset
from mlsearch.errors import ConfigError, MlsearchError
from mlsearch.io import read_json
from mlsearch.kinds import alignment_kinds, apply_kind, check_kinds
from mlsearch.paths import model_name, results_root, run_dir
from mlsearch.plots import write_study_figures
from mlsearch.report import render_report_html
from mlsearch.run import train_set
from mlsearch.tables import write_table

STUDY_NOTEBOOK_NAME = "05_when_it_helps.ipynb"
SWEEPS = ("size", "alignment", "low_resource", "align_form")


# ----------------------------------------------------------------------------- the study file
@dataclass
class SizeSweep:
    """Training queries per language as multiples of the profile's default sizes."""

    factors: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 1.0, 2.0, 4.0])
    #: Models trained on all languages at each size (monolingual references always run).
    kinds: list[str] = field(default_factory=lambda: ["method", "no_align", "shared"])


@dataclass
class AlignmentSweep:
    """Shares of the mappings kept, at the default size (1.0, the default, is the size sweep's point)."""

    product_share: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.3, 0.6])
    query_share: list[float] = field(default_factory=lambda: [0.0, 0.3])


@dataclass
class LowResourceSweep:
    """One language at each of ``factors`` of its default training queries, the others at the default."""

    factors: list[float] = field(default_factory=lambda: [0.0625])
    #: Languages to rotate through (empty: all of ``grid.languages``).
    languages: list[str] = field(default_factory=list)


@dataclass
class AlignFormSweep:
    """Alignment objectives (kinds) next to the default contrastive one, at a few sizes."""

    factors: list[float] = field(default_factory=lambda: [0.5, 2.0])
    #: Default: every kind that changes only ``train.align_loss`` (mlsearch.kinds.alignment_kinds).
    kinds: list[str] = field(default_factory=lambda: [k for k, loss in alignment_kinds().items() if k != "method"])


@dataclass
class StudyConfig:
    """A study file: profile, seeds, the shared dataset's extra settings and the four sweeps."""

    profile: str = "quick"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: Notebook cells run at once (0: the profile's ``grid.jobs``; one per GPU when there are several).
    jobs: int = 0
    #: ``data.*`` settings of the one dataset every point subsamples (e.g. larger test sets).
    data: dict[str, Any] = field(default_factory=dict)
    size: SizeSweep = field(default_factory=SizeSweep)
    alignment: AlignmentSweep = field(default_factory=AlignmentSweep)
    low_resource: LowResourceSweep = field(default_factory=LowResourceSweep)
    align_form: AlignFormSweep = field(default_factory=AlignFormSweep)
    #: Sweeps to run (a subset of size, alignment, low_resource, align_form).
    sweeps: list[str] = field(default_factory=lambda: list(SWEEPS))

    def max_factor(self) -> float:
        """The largest size any point asks for: the shared dataset is generated at this multiple."""
        return max([*self.size.factors, *self.align_form.factors, 1.0])


def study_file(profile: str) -> Path:
    return find_params_dir() / "study" / f"{profile}.yaml"


def load_study(path: str | Path, sweeps: list[str] | None = None) -> StudyConfig:
    """A validated StudyConfig from a study file (unknown keys and bad values are ConfigErrors)."""
    path = Path(path)
    raw = read_yaml(path)
    spec: StudyConfig = _build(StudyConfig, raw, "", {k: str(path) for k in _keys(raw)})
    if sweeps is not None:
        spec.sweeps = sweeps
    where = str(path)
    bad = [s for s in spec.sweeps if s not in SWEEPS]
    if bad or not spec.sweeps:
        raise ConfigError(f"unknown or no sweeps {bad or spec.sweeps}", where, f"choose from {list(SWEEPS)}")
    if not spec.seeds:
        raise ConfigError("a study needs at least one seed", where, "set seeds: [0, 1, 2]")
    for name, values in (("size.factors", spec.size.factors), ("align_form.factors", spec.align_form.factors)):
        if not values or any(v <= 0 for v in values):
            raise ConfigError(f"{name} must be positive multiples of the default size, got {values}", where, "e.g. [0.5, 1, 2]")
    if not spec.low_resource.factors or any(not 0 < v <= 1 for v in spec.low_resource.factors):
        raise ConfigError(f"low_resource.factors must be shares in (0, 1], got {spec.low_resource.factors}", where, "e.g. [0.0625, 0.25]")
    for name, values in (("alignment.product_share", spec.alignment.product_share), ("alignment.query_share", spec.alignment.query_share)):
        if any(not 0 <= v <= 1 for v in values):
            raise ConfigError(f"{name} values must be shares in [0, 1], got {values}", where, "e.g. [0, 0.1, 0.3]")
    if spec.jobs < 0:
        raise ConfigError(f"jobs must be 0 (profile default) or more, got {spec.jobs}", where, "use 0, 1, 2, …")
    check_kinds(list(dict.fromkeys(["method", *spec.size.kinds, *spec.align_form.kinds])))
    return spec


def _keys(raw: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in raw.items():
        out.append(prefix + str(k))
        if isinstance(v, dict):
            out += _keys(v, f"{prefix}{k}.")
    return out


# ----------------------------------------------------------------------------- points and cells
@dataclass(frozen=True)
class StudyCell:
    """One notebook execution: a model kind on a language set at one data point, all seeds."""

    point: str
    kind: str
    languages: tuple[str, ...]
    #: Data settings of the point, relative to the shared dataset (``data.*`` dotted keys).
    data: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        model = model_name(list(self.languages))
        return f"{self.point}/{model}" if self.kind == "method" else f"{self.point}/{self.kind}/{model}"


def _fmt(x: float) -> str:
    return f"{x:g}"


def base_overrides(spec: StudyConfig, cfg: RunConfig) -> dict[str, Any]:
    """Overrides that turn the profile into the study's shared dataset: default sizes × max factor."""
    scale = spec.max_factor()
    sizes = {lang: int(math.ceil(n * scale)) for lang, n in cfg.data.train_queries.items()}
    out = {f"data.{k}": v for k, v in spec.data.items()}
    out["data.train_queries"] = sizes
    return out


def _point(spec: StudyConfig, factor: float, low: str = "", low_factor: float = 1.0, product: float = 1.0, query: float = 1.0):
    """(folder name, data overrides) of one data point."""
    scale = spec.max_factor()
    name = f"x{_fmt(factor)}"
    data: dict[str, Any] = {"data.train_share": round(factor / scale, 8)}
    if low:
        name += f"-{low}{_fmt(low_factor)}"
        data["data.train_share_by_language"] = {low: round(low_factor * factor / scale, 8)}
    if product != 1.0:
        name += f"-prod{_fmt(product)}"
        data["data.product_alignment_share"] = product
    if query != 1.0:
        name += f"-query{_fmt(query)}"
        data["data.query_alignment_share"] = query
    return name, tuple(sorted(data.items(), key=lambda kv: kv[0]))


def study_cells(spec: StudyConfig, languages: list[str]) -> list[StudyCell]:
    """Every cell the selected sweeps need, each once, largest language sets first."""
    cells: dict[tuple, StudyCell] = {}
    langs = tuple(languages)

    def add(point, kind: str, train: tuple[str, ...]) -> None:
        name, data = point
        if len(train) == 1:  # alignment shares change nothing in a monolingual model
            data = tuple((k, v) for k, v in data if "alignment_share" not in k)
            name = name.split("-prod")[0].split("-query")[0]
        c = StudyCell(name, kind, train, data)
        cells.setdefault((c.point, c.kind, c.languages), c)

    def monos(point) -> None:
        for lang in langs:
            add(point, "method", (lang,))

    if "size" in spec.sweeps:
        for f in spec.size.factors:
            p = _point(spec, f)
            monos(p)
            for kind in spec.size.kinds:
                add(p, kind, langs)
    if "alignment" in spec.sweeps:
        monos(_point(spec, 1.0))
        add(_point(spec, 1.0), "method", langs)
        for share in spec.alignment.product_share:
            add(_point(spec, 1.0, product=share), "method", langs)
        for share in spec.alignment.query_share:
            add(_point(spec, 1.0, query=share), "method", langs)
    if "low_resource" in spec.sweeps:
        monos(_point(spec, 1.0))
        add(_point(spec, 1.0), "method", langs)
        for lang in spec.low_resource.languages or langs:
            if lang not in langs:
                raise ConfigError(f"low_resource language {lang!r} is not in grid.languages {list(langs)}", "low_resource.languages", "list grid languages")
            for low_factor in spec.low_resource.factors:
                p = _point(spec, 1.0, low=lang, low_factor=low_factor)
                add(p, "method", (lang,))
                add(p, "method", langs)
    if "align_form" in spec.sweeps:
        for f in spec.align_form.factors:
            p = _point(spec, f)
            monos(p)
            add(p, "method", langs)
            for kind in spec.align_form.kinds:
                add(p, kind, langs)
    return sorted(cells.values(), key=lambda c: (-_cost(c), c.point, c.kind))


def _cost(cell: StudyCell) -> float:
    """Relative training cost: the summed training shares of the cell's languages (longest first)."""
    data = dict(cell.data)
    by_lang = data.get("data.train_share_by_language", {})
    return sum(by_lang.get(lang, data["data.train_share"]) for lang in cell.languages)


def cell_config(spec: StudyConfig, cell: StudyCell, seed: int, results_dir: str, extra: dict[str, Any]) -> RunConfig:
    """The RunConfig of one run of ``cell`` (what notebook 02 rebuilds from the same overrides)."""
    return load_config(profile_files(spec.profile), _cell_overrides(spec, cell, results_dir, extra) | {"seed": seed})


def _cell_overrides(spec: StudyConfig, cell: StudyCell, results_dir: str, extra: dict[str, Any]) -> dict[str, Any]:
    base = load_config(profile_files(spec.profile), {**extra, "results_dir": results_dir})
    return {
        **extra,
        **base_overrides(spec, base),
        **dict(cell.data),
        "point": cell.point,
        "results_dir": results_dir,
        "languages": list(cell.languages),
        "kind": cell.kind,
    }


def cell_params(spec: StudyConfig, cell: StudyCell, results_dir: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`mlsearch.experiments.train_set` for ``cell`` (notebook 02's parameters):
    they rebuild exactly :func:`cell_config` for every seed."""
    overrides = {k: v for k, v in _cell_overrides(spec, cell, results_dir, extra).items() if k not in ("results_dir", "languages", "kind")}
    return {"profile": spec.profile, "results_dir": results_dir, "extra_params": [], "overrides": overrides,
            "languages": list(cell.languages), "seeds": list(spec.seeds), "kind": cell.kind}


def _complete(spec: StudyConfig, cell: StudyCell, results_dir: str, extra: dict[str, Any]) -> bool:
    """True when every seed has metrics.json; a run trained with other settings is an error (the
    study file changed under an existing results folder), never silently reused."""
    done = 0
    for seed in spec.seeds:
        cfg = cell_config(spec, cell, seed, results_dir, extra)
        path = run_dir(cfg) / "metrics.json"
        if path.is_file():
            if read_json(path).get("config_hash") != config_hash(apply_kind(cfg)):
                raise ConfigError(
                    "a study run was trained with other settings than the study file now asks for",
                    str(path.parent),
                    "move that study/ folder away (or restore the study file) and rerun",
                )
            done += 1
    return done == len(spec.seeds)


# ----------------------------------------------------------------------------- running
def study_plan(spec: StudyConfig, study_path: Path, results_dir: str = "results", jobs: int | None = None,
               extra: dict[str, Any] | None = None) -> Plan:
    """The study as a :class:`mlsearch.cells.Plan`: its cells, the shared dataset, notebook 05 and the report."""
    extra = dict(extra or {})
    base = load_config(profile_files(spec.profile), {**extra, "results_dir": results_dir})
    base = load_config(profile_files(spec.profile), {**extra, **base_overrides(spec, base), "results_dir": results_dir})
    root = results_root(base) / "study"
    cells = []
    for c in study_cells(spec, list(base.grid.languages)):
        dirs = [run_dir(cell_config(spec, c, s, results_dir, extra)) for s in spec.seeds]
        cells.append(Cell(c.name, cell_params(spec, c, results_dir, extra), dirs, dirs[0].parent / "02_train.ipynb", _cost(c)))
    by_name = {c.name: c for c in study_cells(spec, list(base.grid.languages))}

    def analyse() -> float:
        nb = root / STUDY_NOTEBOOK_NAME
        params = {"profile": spec.profile, "results_dir": results_dir, "study": str(study_path)}
        seconds = execute_notebook(NOTEBOOKS / STUDY_NOTEBOOK_NAME, nb, params)
        render_report_html([nb], root / "report.html")
        return seconds

    timing = {"profile": spec.profile, "source": base.data.source, "sweeps": list(spec.sweeps), "seeds": list(spec.seeds)}
    return Plan("study", f"study {spec.profile}", cells, root, Path(results_dir), root / "timing.json", timing,
                lambda: load_dataset(base, progress=True), analyse, jobs=jobs or spec.jobs, default_jobs=base.grid.jobs,
                is_complete=lambda cell: _complete(spec, by_name[cell.name], results_dir, extra))


def run_study(spec: StudyConfig, study_path: Path, results_dir: str = "results", jobs: int | None = None,
              extra: dict[str, Any] | None = None, dry_run: bool = False, options: RunOptions | None = None) -> Path:
    """Run every missing cell of the selected sweeps, then notebook 05; returns ``<root>/study``.

    ``options`` as for the grid: ``--inline`` cells, ``--train-only``, a ``--budget`` to run in parts.
    """
    plan = study_plan(spec, study_path, results_dir, jobs, extra)
    print(f"study {spec.profile}: sweeps {', '.join(spec.sweeps)} × {len(spec.seeds)} seeds")
    execute(plan, options, dry_run)
    return plan.root


def train_missing(spec: StudyConfig, results_dir: str = "results", extra: dict[str, Any] | None = None) -> int:
    """Train every missing run of the study in this process (no papermill); returns runs trained.

    For small studies and tests (``notebooks/05_when_it_helps.ipynb`` with ``train_missing=True``);
    ``run_study`` is the parallel, resumable way for real ones.
    """
    plan = study_plan(spec, Path(), results_dir, None, extra)
    todo = [c for c in plan.cells if not plan.is_complete(c)]
    trained = 0
    for cell in tqdm(todo, desc="study runs", unit="cell", disable=not todo):
        trained += len(cell.pending_seeds())
        train_set(**cell.params, progress=False)  # the same call as an --inline cell
    return trained


def find_study(profile: str | None, path: str | None) -> Path:
    """The study file of ``--study FILE``, else ``params/study/<profile>.yaml``; a ConfigError if absent."""
    file = Path(path) if path else study_file(profile or "quick")
    if not file.is_file():
        known = sorted(p.stem for p in (find_params_dir() / "study").glob("*.yaml"))
        raise ConfigError("no study file", str(file), f"use --study FILE or --profile with one of {known}")
    return file


# ----------------------------------------------------------------------------- analysis
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, std, low, high): a 95% t-interval over seeds (nan bounds for one seed)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan"), float("nan")
    sd = float(v.std(ddof=1))
    half = T95.get(len(v) - 1, 1.96) * sd / math.sqrt(len(v))
    return mean, sd, mean - half, mean + half


def collect(root: str | Path) -> pd.DataFrame:
    """One row per study run × evaluation language: point settings, kind, model, seed, metrics.

    ``root`` is ``<results>/<source>/<profile>/study``. Columns: point, factor, low_language,
    low_factor, product_share, query_share, kind, model, n_languages, eval_language, seed, f1,
    precision, recall, roc_auc, ndcg@10, mrr (None for runs recorded before ranking metrics), train_share
    (of the evaluation language).
    """
    rows = []
    runs = Path(root) / "runs"
    for metrics_path in sorted(runs.glob("*/**/seed*/metrics.json")):
        m = read_json(metrics_path)
        cfg = read_json(metrics_path.parent / "config.json")
        data, point = cfg["data"], cfg.get("point", "")
        by_lang = data.get("train_share_by_language") or {}
        factor, low, low_factor = _parse_point(point)
        for lang, ev in m["eval"].items():
            share = by_lang.get(lang, data.get("train_share", 1.0))
            rows.append({
                "point": point, "factor": factor, "low_language": low, "low_factor": low_factor,
                "product_share": data.get("product_alignment_share", 1.0), "query_share": data.get("query_alignment_share", 1.0),
                "kind": m["kind"], "model": m["model"], "n_languages": len(m["train_languages"]),
                "eval_language": lang, "seed": m["seed"], "f1": ev["f1"], "precision": ev["precision"],
                "recall": ev["recall"], "roc_auc": ev.get("roc_auc"), "ndcg@10": ev.get("ndcg@10"), "mrr": ev.get("mrr"),
                "train_share": share,
            })
    if not rows:
        raise MlsearchError("no study runs found", str(runs), "run `python -m mlsearch study` (or `make study`) first")
    return pd.DataFrame(rows)


def _parse_point(point: str) -> tuple[float, str, float]:
    """``x1-it0.0625-prod0.1`` → (1.0, "it", 0.0625)."""
    parts = point.split("-")
    factor = float(parts[0][1:])
    for part in parts[1:]:
        if part[:2].isalpha() and not part.startswith(("prod", "query")):
            return factor, part[:2], float(part[2:])
    return factor, "", 1.0


def paired_gains(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of multilingual runs with ``f1_mono`` (the same language, seed and training data of that
    language, monolingual) and ``gain_pct`` = 100·(f1 − f1_mono)/f1_mono."""
    mono = df[(df["kind"] == "method") & (df["n_languages"] == 1)]
    ref = mono.set_index(["eval_language", "seed", "train_share"])["f1"]
    ref = ref[~ref.index.duplicated()]
    multi = df[df["n_languages"] > 1].copy()
    keys = list(zip(multi["eval_language"], multi["seed"], multi["train_share"], strict=True))
    multi["f1_mono"] = [ref.get(k, np.nan) for k in keys]
    multi["gain_pct"] = 100.0 * (multi["f1"] - multi["f1_mono"]) / multi["f1_mono"]
    return multi.dropna(subset=["f1_mono"]).reset_index(drop=True)


def summarize(gains: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean gain, std and 95% t-interval over seeds per group; ``eval_language`` "mean" is the
    per-seed average over languages (then the interval over seeds)."""
    per_lang = gains.copy()
    mean_lang = gains.groupby([*by, "seed"], dropna=False)[["gain_pct", "f1", "f1_mono"]].mean().reset_index()
    mean_lang["eval_language"] = "mean"
    both = pd.concat([per_lang, mean_lang], ignore_index=True)
    rows = []
    for key, g in both.groupby([*by, "eval_language"], dropna=False, sort=False):
        mean, sd, lo, hi = _interval(g["gain_pct"].to_numpy())
        rows.append(dict(zip([*by, "eval_language"], key, strict=True)) | {
            "f1": g["f1"].mean(), "f1_mono": g["f1_mono"].mean(), "gain_pct": mean, "gain_sd": sd,
            "gain_low": lo, "gain_high": hi, "seeds": len(g),
        })
    return pd.DataFrame(rows)


def size_table(df: pd.DataFrame, pairs_per_language: dict[str, int], kinds: list[str]) -> pd.DataFrame:
    """Sweep 1: gain by factor, kind (of ``kinds``) and language; ``train_pairs`` = training pairs of that language."""
    sel = df[(df["low_language"] == "") & (df["product_share"] == 1.0) & (df["query_share"] == 1.0)]
    g = paired_gains(sel[(sel["n_languages"] == 1) | sel["kind"].isin(kinds)])
    if g.empty or g["factor"].nunique() < 2:  # the other sweeps sit at ×1 only: no size sweep ran
        return pd.DataFrame()
    out = summarize(g, ["factor", "kind"])
    out["train_pairs"] = [
        pairs_per_language.get(f"{lang}@{f:g}", np.nan) if lang != "mean" else np.nan
        for lang, f in zip(out["eval_language"], out["factor"], strict=True)
    ]
    return out.sort_values(["kind", "eval_language", "factor"]).reset_index(drop=True)


def alignment_table(df: pd.DataFrame) -> pd.DataFrame:
    """Sweep 2: gain of the method at the default size by product- and query-mapping share."""
    sel = df[(df["factor"] == 1.0) & (df["low_language"] == "") & (df["kind"] == "method")]
    g = paired_gains(sel)
    if g.empty or ((g["product_share"] == 1.0) & (g["query_share"] == 1.0)).all():
        return pd.DataFrame()  # only the default point: the alignment sweep did not run
    return summarize(g, ["product_share", "query_share"]).sort_values(["query_share", "product_share", "eval_language"]).reset_index(drop=True)


def low_resource_table(df: pd.DataFrame) -> pd.DataFrame:
    """Sweep 3: gain on the low-resource language (at ``low_factor``) next to its gain at the default size."""
    g = paired_gains(df[(df["kind"] == "method") & (df["factor"] == 1.0) & (df["product_share"] == 1.0) & (df["query_share"] == 1.0)])
    low = g[(g["low_language"] != "") & (g["eval_language"] == g["low_language"])]
    if low.empty:
        return pd.DataFrame()
    rows = summarize(low, ["low_factor"])
    rows = rows[rows["eval_language"] != "mean"].assign(setting="low")
    default = summarize(g[g["low_language"] == ""], ["low_factor"])
    default = default[default["eval_language"].isin(rows["eval_language"])].assign(setting="default")
    return pd.concat([rows, default], ignore_index=True).sort_values(["eval_language", "low_factor"]).reset_index(drop=True)


def align_form_table(df: pd.DataFrame, factors: list[float], kinds: list[str]) -> pd.DataFrame:
    """Sweep 4: gain of each alignment objective (method = contrastive) at the sweep's sizes."""
    sel = df[df["factor"].isin(factors) & (df["low_language"] == "") & (df["product_share"] == 1.0)
             & (df["query_share"] == 1.0) & df["kind"].isin(["method", *kinds])]
    g = paired_gains(sel)
    if g.empty or not g["kind"].isin(kinds).any():
        return pd.DataFrame()
    out = summarize(g, ["factor", "kind"])
    out["align_loss"] = out["kind"].map(lambda k: alignment_kinds().get(k, k))
    return out.sort_values(["factor", "eval_language", "kind"]).reset_index(drop=True)


def training_pairs(spec: StudyConfig, results_dir: str = "results") -> dict[str, int]:
    """``{"<lang>@<factor>": training pairs}`` for every size factor (from the shared dataset)."""
    base = load_config(profile_files(spec.profile), {"results_dir": results_dir})
    out = {}
    for f in sorted(set([*spec.size.factors, *spec.align_form.factors, 1.0])):
        _, data = _point(spec, f)
        cfg = load_config(profile_files(spec.profile), {**base_overrides(spec, base), **dict(data)})
        ds = load_dataset(cfg, progress=False)
        for lang in base.grid.languages:
            out[f"{lang}@{f:g}"] = len(ds.split(lang, "train"))
    return out


def analyze(spec: StudyConfig, results_dir: str = "results", metric: str = "f1") -> tuple[pd.DataFrame, dict[str, pd.DataFrame], Path]:
    """Gather the study's runs, write ``study/tables`` and ``study/figures``; returns (runs, tables, study folder).

    ``metric``: ``f1`` (the study's tables and figures) or ``ndcg@10``: the same gains for nDCG@10, written
    next to them with a ``_ndcg`` suffix (their ``f1``/``f1_mono`` columns are named ``ndcg10``/``ndcg10_mono``);
    the returned tables then hold nDCG@10 in their ``f1`` columns.
    """
    if metric not in ("f1", "ndcg@10"):
        raise ConfigError(f"unknown study metric {metric!r}", "metric", "use f1 or ndcg@10")
    base = load_config(profile_files(spec.profile), {"results_dir": results_dir})
    root = results_root(base) / "study"
    runs = collect(root)
    if metric != "f1":
        values = pd.to_numeric(runs[metric], errors="coerce")
        if values.isna().all():
            raise MlsearchError(f"the study's runs record no {metric}", str(root / "runs"),
                                "rerun those runs with this version (older runs recorded F1 only), or use metric f1")
        runs = runs.assign(f1=values)
    tables = {
        "size": size_table(runs, training_pairs(spec, results_dir), spec.size.kinds),
        "alignment": alignment_table(runs),
        "low_resource": low_resource_table(runs),
        "align_form": align_form_table(runs, spec.align_form.factors, spec.align_form.kinds),
    }
    label = "F1" if metric == "f1" else "nDCG@10"
    note = (f"Relative {label} change of the multilingual model vs the monolingual model of the evaluation language trained "
            "on the same data of that language, paired by seed; `gain_low`/`gain_high`: 95% t-interval over seeds; "
            "`mean`: average over languages per seed, then over seeds.")
    titles = {"size": "Gain by training size", "alignment": "Gain by amount of alignment data",
              "low_resource": "One low-resource language", "align_form": "Gain by alignment objective"}
    if metric == "f1":
        write_tables({"runs": (runs, "Every study run", "One row per run × evaluation language (test split).")}
                     | {f"gain_{k}": (t, titles[k], note) for k, t in tables.items() if not t.empty}, root / "tables")
    else:
        rename = {"f1": "ndcg10", "f1_mono": "ndcg10_mono"}
        write_tables({f"gain_{k}_ndcg": (t.rename(columns=rename), f"{titles[k]} (nDCG@10)", note)
                      for k, t in tables.items() if not t.empty}, root / "tables")
    write_study_figures(tables, runs, root / "figures", metric)
    return runs, tables, root


def fmt_gain(row: pd.Series) -> str:
    """``+12.3% [+4.0, +20.6]`` (or without the interval for one seed)."""
    if np.isnan(row["gain_low"]):
        return f"{row['gain_pct']:+.1f}%"
    return f"{row['gain_pct']:+.1f}% [{row['gain_low']:+.1f}, {row['gain_high']:+.1f}]"


def findings(size: pd.DataFrame, align: pd.DataFrame, low: pd.DataFrame, form: pd.DataFrame) -> list[str]:
    """Plain sentences computed from the tables (for the report): measured values, no judgement words
    beyond whether the interval excludes zero."""
    out = []

    def verdict(r: pd.Series) -> str:
        if np.isnan(r["gain_low"]):
            return "one seed, no interval"
        if r["gain_low"] > 0:
            return "helps"
        if r["gain_high"] < 0:
            return "hurts"
        return "no clear difference"

    if not size.empty:
        m = size[(size["kind"] == "method") & (size["eval_language"] == "mean")].sort_values("factor")
        parts = [f"×{r['factor']:g}: {fmt_gain(r)} ({verdict(r)})" for _, r in m.iterrows()]
        out.append("Method vs monolingual, mean over languages, by training size (×default): " + "; ".join(parts) + ".")
        for kind in [k for k in size["kind"].unique() if k != "method"]:
            m = size[(size["kind"] == kind) & (size["eval_language"] == "mean")].sort_values("factor")
            parts = [f"×{r['factor']:g}: {fmt_gain(r)}" for _, r in m.iterrows()]
            out.append(f"{kind} vs monolingual: " + "; ".join(parts) + ".")
    if not align.empty:
        m = align[align["eval_language"] == "mean"]
        parts = [f"products {r['product_share']:g}, queries {r['query_share']:g}: {fmt_gain(r)}" for _, r in m.iterrows()]
        out.append("Method at the default size by share of alignment mappings kept: " + "; ".join(parts) + ".")
    if not low.empty:
        m = low[low["setting"] == "low"]
        for f, rows in m.groupby("low_factor"):
            parts = [f"{r['eval_language']}: {fmt_gain(r)}" for _, r in rows.iterrows()]
            out.append(f"One language at ×{f:g} of its data (others at the default size), gain on that language: " + "; ".join(parts) + ".")
    if not form.empty:
        m = form[form["eval_language"] == "mean"]
        parts = [f"{r['align_loss']} ×{r['factor']:g}: {fmt_gain(r)}" for _, r in m.iterrows()]
        out.append("Alignment objective vs monolingual: " + "; ".join(parts) + ".")
    return out


def write_tables(tables: dict[str, tuple[pd.DataFrame, str, str]], folder: Path) -> None:
    """Each ``name: (table, title, note)`` as CSV and Markdown under ``folder``."""
    for name, (table, title, note) in tables.items():
        write_table(table, folder, name, title, note)


def run_provenance(root: Path) -> dict[str, Any]:
    """timing.json of the study (command, machine, date), or {} when the study has not run here."""
    path = Path(root) / "timing.json"
    return read_json(path) if path.is_file() else {}
