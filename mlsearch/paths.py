"""Where results live: ``<results_dir>/<source>/<profile>/{data,runs,tables,figures,report.html}``.

Profiles and sources never share a folder. A run folder is ``runs/<model>/seed<k>`` for the method
and ``runs/<kind>/<model>/seed<k>`` for a baseline or ablation, where ``<model>`` joins the training
languages in the fixed order en, de, fr, it, es, ja (e.g. ``de+fr``). Runs of the study
(``mlsearch.study``) go under ``study/runs/<point>/`` instead of ``runs/``.
"""

from __future__ import annotations

from pathlib import Path

from mlsearch.config import KNOWN_LANGUAGES, RunConfig


def model_name(languages: list[str]) -> str:
    return "+".join(sorted(languages, key=KNOWN_LANGUAGES.index))


def results_root(cfg: RunConfig) -> Path:
    return Path(cfg.results_dir) / cfg.data.source / cfg.profile


def run_dir(cfg: RunConfig) -> Path:
    base = results_root(cfg) / "study" / "runs" / cfg.point if cfg.point else results_root(cfg) / "runs"
    if cfg.kind != "method":
        base = base / cfg.kind
    return base / model_name(cfg.languages) / f"seed{cfg.seed}"
