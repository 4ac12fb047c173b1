"""The language grid: every language set trained for every seed, then tables, figures and a report.

``run_grid`` is what ``python -m mlsearch grid`` (and ``make reproduce``) runs: it declares the
grid's cells (:func:`grid_cells`: every kind on its language sets) to the one cell executor
(:func:`mlsearch.cells.execute`), which skips complete cells (an interrupted grid resumes), runs the
rest ``jobs`` at a time as ``notebooks/02_train.ipynb``, and once every cell is complete runs the
analysis declared here: ``03_compare.ipynb`` (tables and figures), ``04_embeddings.ipynb`` (embedding
maps from the grid's runs) and ``report.html`` from both. ``<root>`` is
``<results_dir>/<source>/<profile>``: profiles and sources never share a folder.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from pathlib import Path
from typing import Any

from mlsearch.cells import NOTEBOOKS, Cell, Plan, RunOptions, execute, execute_notebook
from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.data.card import write_card
from mlsearch.data.load import load_dataset
from mlsearch.errors import ConfigError
from mlsearch.kinds import PRETRAINED_KINDS, check_kinds, get_kind
from mlsearch.paths import model_name, results_root, run_dir
from mlsearch.report import render_report_html

COMPARE_NOTEBOOK = NOTEBOOKS / "03_compare.ipynb"
EMBEDDINGS_NOTEBOOK = NOTEBOOKS / "04_embeddings.ipynb"


def language_sets(languages: list[str], max_languages: int) -> list[list[str]]:
    """All non-empty subsets of ``languages`` with at most ``max_languages`` members.

    Smallest first, each subset in the order of ``languages``: 31 sets for five languages, 63 for six.
    """
    if max_languages < 1:
        raise ConfigError(f"max_languages must be at least 1, got {max_languages}", "grid.max_languages", "set 1 or more")
    top = min(max_languages, len(languages))
    return [list(c) for k in range(1, top + 1) for c in combinations(languages, k)]


def grid_kinds(cfg: RunConfig) -> list[str]:
    """The kinds a grid runs: ``grid.kinds``, or just ``kind`` when that is set to a non-method kind
    (so ``--set kind=tfidf`` runs the tfidf baseline's cells)."""
    return check_kinds([cfg.kind] if cfg.kind != "method" else list(cfg.grid.kinds))


#: The paper's bilingual model (fr+de), which kinds with cells ``mono+pair+full`` also train.
PAPER_PAIR = ("de", "fr")


def kind_language_sets(cfg: RunConfig, kind: str) -> list[list[str]]:
    """The language sets ``kind`` runs on: every set for the method; for a baseline or ablation the
    monolingual sets and/or the set of all grid languages, as its registry entry says."""
    where = get_kind(kind).cells
    if where == "held_out":
        return [[lang for lang in cfg.grid.languages if lang != held] for held in cfg.grid.languages]
    if where == "all":
        return language_sets(cfg.grid.languages, cfg.grid.max_languages)
    sets = [[lang] for lang in cfg.grid.languages] if where in ("mono", "mono+full", "mono+pair+full") else []
    if where == "mono+pair+full" and set(PAPER_PAIR) <= set(cfg.grid.languages):
        sets.append([lang for lang in cfg.grid.languages if lang in PAPER_PAIR])
    if where in ("full", "mono+full", "mono+pair+full") and list(cfg.grid.languages) not in sets:
        sets.append(list(cfg.grid.languages))
    return sets


def grid_cells(cfg: RunConfig, params: dict[str, Any] | None = None) -> list[Cell]:
    """The grid's cells for ``cfg`` (its kinds, seeds and language pool), largest language set first.

    Largest first: the longest jobs start early, so parallel workers finish close together.
    ``params``: notebook 02's parameters common to every cell (:func:`notebook_params`).
    """
    params = params or {"profile": cfg.profile, "results_dir": cfg.results_dir, "extra_params": [], "overrides": {}}
    cells = []
    for kind in grid_kinds(cfg):
        for langs in kind_language_sets(cfg, kind):
            dirs = [run_dir(dataclasses.replace(cfg, languages=langs, seed=s, kind=kind)) for s in cfg.grid.seeds]
            held = [lang for lang in cfg.grid.languages if lang not in langs] if kind == "zeroshot" else []
            name = (model_name(langs) if kind == "method" else f"{kind}/{model_name(langs)}") + (f"→{model_name(held)}" if held else "")
            cell_params = {**params, "languages": langs, "seeds": list(cfg.grid.seeds), "kind": kind}
            if held:
                cell_params["overrides"] = {**params["overrides"], "eval.languages": held}
            cells.append(Cell(name, cell_params, dirs, dirs[0].parent / "02_train.ipynb", len(langs) * len(cfg.grid.seeds)))
    return sorted(cells, key=lambda c: -len(c.languages))


def notebook_params(cfg: RunConfig, files: list[Path], overrides: dict[str, Any]) -> dict[str, Any]:
    """The parameters that make a notebook rebuild exactly ``cfg``.

    Notebooks load ``profile_files(profile) + extra_params`` with ``overrides``; the grid's files are
    split into a profile and extra files accordingly, and the result is checked to give ``cfg`` back.
    """
    files = [Path(f) for f in files]
    profile, extra = cfg.profile, files
    if len(files) >= 2 and files[0].name == "base.yaml":
        try:
            if [p.resolve() for p in profile_files(files[1].stem)] == [p.resolve() for p in files[:2]]:
                profile, extra = files[1].stem, files[2:]
        except ConfigError:
            pass
    overrides = {k: v for k, v in overrides.items() if k != "results_dir"}
    params = {
        "profile": profile,
        "results_dir": cfg.results_dir,
        "extra_params": [str(f) for f in extra],
        "overrides": overrides,
    }
    rebuilt = load_config(profile_files(profile) + extra, {**overrides, "results_dir": cfg.results_dir})
    if rebuilt.to_dict() != cfg.to_dict():
        raise ConfigError(
            "the grid's params files cannot be passed to its notebooks",
            " ".join(str(f) for f in files),
            "name the profile with --profile and add other files with --params",
        )
    return params


def run_grid(cfg: RunConfig, files: list[Path], overrides: dict[str, Any], jobs: int | None,
             options: RunOptions | None = None) -> Path:
    """Run the whole grid for ``cfg``'s profile and source; returns the results root.

    Raises MlsearchError naming the failed cells (and their executed notebooks) if any failed.
    Tables, figures and the report follow only when every cell is complete and not ``train_only``.
    """
    root, params, kinds = results_root(cfg), notebook_params(cfg, files, overrides), grid_kinds(cfg)
    print(f"profile {cfg.profile}: kinds {', '.join(kinds)} × {len(cfg.grid.seeds)} seeds → {root}")

    def prepare() -> None:
        write_card(load_dataset(cfg, progress=True), root / "data")

    def analyse() -> float:
        compare_nb, embed_nb = root / "03_compare.ipynb", root / "04_embeddings.ipynb"
        seconds, report = execute_notebook(COMPARE_NOTEBOOK, compare_nb, params), [compare_nb]
        full_set = run_dir(dataclasses.replace(cfg, languages=list(cfg.grid.languages), seed=cfg.grid.seeds[0], kind="method"))
        if "method" in kinds and not (full_set / "checkpoints").is_dir():
            print(f"no checkpoints in {full_set} (run folders copied without them?): embedding maps (notebook 04) skipped")
        elif "method" in kinds:
            # the embedding maps reuse the grid's runs of the first seed (monolingual, en+it, all five)
            embed = {**{k: params[k] for k in ("profile", "results_dir", "extra_params", "overrides")}, "seed": cfg.grid.seeds[0]}
            seconds += execute_notebook(EMBEDDINGS_NOTEBOOK, embed_nb, embed)
            report.append(embed_nb)
        render_report_html(report, root / "report.html")
        return seconds

    timing = {"profile": cfg.profile, "source": cfg.data.source, "kind": cfg.kind, "kinds": kinds, "seeds": list(cfg.grid.seeds)}
    execute(Plan("grid", f"grid {cfg.profile}", grid_cells(cfg, params), root, Path(cfg.results_dir), root / timing_name(kinds),
                 timing, prepare, analyse, jobs=jobs or 0, default_jobs=cfg.grid.jobs), options)
    return root


def timing_name(kinds: list[str]) -> str:
    """``timing.json`` for the method's grid (``make reproduce``; the ``pairs`` profile's grid, which
    trains TF-IDF + LR beside it, too), ``timing-pretrained.json`` for a grid of the kinds that start
    from the whole pretrained encoder only (``make pretrained-kinds``), ``timing-baselines.json`` for
    any other grid with other kinds (``make baselines``), so no run's record overwrites another's."""
    if "method" in kinds and set(kinds) <= {"method", "tfidf"}:
        return "timing.json"
    return "timing-pretrained.json" if set(kinds) <= set(PRETRAINED_KINDS) else "timing-baselines.json"
