"""``python -m mlsearch tune``: the method's main settings searched on the VALIDATION split.

Optuna (optional extra ``tune``) drives the search: a TPE sampler seeded by ``seed``, a median pruner
fed the validation F1 of every epoch (a trial well below the others at the same epoch stops early),
and a SQLite study in the output folder, so a search stopped by ``--minutes`` or Ctrl-C resumes
where it was. Trial 0 is always the current settings, so the table shows what the search gained.

The test split is removed from the data before the first trial: no trial, and no choice, can read
it (``tests/test_tune.py`` puts garbage there and gets the same trials). Each trial trains one
model of the run's languages with ``train_and_evaluate(..., evaluate=False)``: the mean validation
F1 of its best epoch is the trial's value. The output folder gets ``best.yaml`` (a params file to
layer on the profile), ``trials.csv``/``trials.md`` and ``trials.png``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlsearch.config import RunConfig, load_config
from mlsearch.data.dataset import Dataset
from mlsearch.data.load import load_dataset
from mlsearch.errors import ConfigError
from mlsearch.io import write_text
from mlsearch.paths import model_name, results_root
from mlsearch.plots import plot_tune_trials, save
from mlsearch.run import train_and_evaluate
from mlsearch.tables import write_table


@dataclass(frozen=True)
class Setting:
    """One searched key: ``kind`` float (``log`` scale or not), int, or categorical ``choices``."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()
    multilingual_only: bool = False  #: searched only when the model trains on several languages

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        return trial.suggest_categorical(self.key, list(self.choices))


#: The method's main settings and their ranges (widths divisible by every head count used: 2 and 4).
SPACE = (
    Setting("train.lr", "float", 3e-4, 1e-2, log=True),
    Setting("model.d_model", "categorical", choices=(16, 32, 64)),
    Setting("model.layers", "int", 1, 2),
    Setting("model.proj_dim", "categorical", choices=(32, 64, 128)),
    Setting("model.dropout", "float", 0.0, 0.3),
    Setting("train.epochs", "int", 3, 12),
    Setting("train.patience", "categorical", choices=(0, 2)),
    Setting("train.align_weight", "float", 0.0, 2.0, multilingual_only=True),
)


def _optuna():
    try:  # optional extra: only this command needs it
        import optuna
    except ImportError:
        raise ConfigError("python -m mlsearch tune needs Optuna, which is not installed", "tune",
                          "pip install -c constraints.txt -e '.[tune]'") from None
    return optuna


def _value(cfg: RunConfig, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def space_for(cfg: RunConfig) -> list[Setting]:
    """:data:`SPACE` for ``cfg``: each range widened to hold the current value (trial 0 must fit)."""
    out = []
    for s in SPACE:
        if s.multilingual_only and len(cfg.languages) < 2:
            continue
        now = _value(cfg, s.key)
        if s.kind == "categorical":
            s = dataclasses.replace(s, choices=tuple(sorted(set(s.choices) | {now})))
        else:
            s = dataclasses.replace(s, low=min(s.low, now), high=max(s.high, now))
        out.append(s)
    return out


def current(cfg: RunConfig, settings: list[Setting]) -> dict[str, Any]:
    """The values ``cfg`` has now for the searched keys (trial 0)."""
    return {s.key: _value(cfg, s.key) for s in settings}


def without_test(ds: Dataset) -> Dataset:
    """``ds`` with no test pairs: what every trial sees."""
    pairs = ds.pairs[ds.pairs["split"] != "test"].reset_index(drop=True)
    return Dataset(ds.name, ds.languages, pairs, ds.product_alignment, ds.query_alignment, meta=dict(ds.meta))


def tune_folder(cfg: RunConfig) -> Path:
    return results_root(cfg) / "tune" / model_name(cfg.languages)


def objective(cfg: RunConfig, files: list[Path], overrides: dict[str, Any], data: Dataset, out: Path,
              settings: list[Setting], optuna: Any) -> Callable[[Any], float]:
    """The trial function: the validation score of the model with the trial's settings."""

    def run(trial: Any) -> float:
        values = {s.key: s.suggest(trial) for s in settings}
        trial_cfg = load_config(files, {**overrides, **values, "train.checkpoint": False})

        def report(epoch: int, score: float | None) -> None:
            if score is None:
                return
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation F1 {score:.3f} at epoch {epoch}")

        result = train_and_evaluate(trial_cfg, out / "trials" / f"trial{trial.number}", data, progress=False,
                                    on_epoch_end=report, evaluate=False)
        trial.set_user_attr("best_epoch", result["best_epoch"])
        trial.set_user_attr("seconds", round(result["train_seconds"], 1))
        return result["score"]

    return run


def run_tune(cfg: RunConfig, files: list[Path], overrides: dict[str, Any], trials: int = 20,
             minutes: float | None = None, out: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the search until ``trials`` trials are finished or ``minutes`` have passed;
    write best.yaml, the trials table and plot; return a summary."""
    optuna = _optuna()
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}", "--trials", "give e.g. 20")
    if minutes is not None and minutes <= 0:
        raise ConfigError(f"--minutes must be positive, got {minutes:g}", "--minutes", "give e.g. 30")
    if cfg.kind != "method":
        raise ConfigError(f"tune searches the method's settings, not kind {cfg.kind!r}", "kind", "drop --set kind=…")
    out = Path(out) if out is not None else tune_folder(cfg)
    out.mkdir(parents=True, exist_ok=True)
    settings = space_for(cfg)
    data = without_test(load_dataset(cfg, progress=progress))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="tune", storage=f"sqlite:///{out / 'study.db'}", load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed), pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    if not study.trials:
        study.enqueue_trial(current(cfg, settings))  # trial 0: the settings as they are
    finished = [t for t in study.trials if t.state.is_finished()]
    todo = max(trials - len(finished), 0)
    t0 = time.perf_counter()
    if todo:
        try:
            study.optimize(objective(cfg, files, overrides, data, out, settings, optuna), n_trials=todo,
                           timeout=None if minutes is None else minutes * 60, show_progress_bar=progress, catch=())
        finally:  # wall time over every part of a resumed search, for the record
            study.set_user_attr("wall_seconds", study.user_attrs.get("wall_seconds", 0.0) + time.perf_counter() - t0)
    return write_outputs(study, cfg, files, settings, out, time.perf_counter() - t0)


def trials_table(study: Any, settings: list[Setting]) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        if not t.state.is_finished():
            continue
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "valid_f1": t.value if t.value is not None else (max(t.intermediate_values.values()) if t.intermediate_values else math.nan),
                     **{s.key: t.params.get(s.key) for s in settings},
                     "best_epoch": t.user_attrs.get("best_epoch"), "seconds": t.user_attrs.get("seconds")})
    return pd.DataFrame(rows)


def write_outputs(study: Any, cfg: RunConfig, files: list[Path], settings: list[Setting], out: Path,
                  seconds: float) -> dict[str, Any]:
    """best.yaml, trials.csv/.md and trials.png; the summary printed by the command."""
    table = trials_table(study, settings)
    complete = table[table["state"] == "complete"]
    if complete.empty:
        raise ConfigError("no trial finished", str(out), "give more --minutes or --trials")
    best = complete.loc[complete["valid_f1"].idxmax()]
    default = complete[complete["trial"] == 0]
    nested: dict[str, Any] = {}
    for s in settings:
        section, key = s.key.split(".")
        value = best[s.key].item() if hasattr(best[s.key], "item") else best[s.key]
        nested.setdefault(section, {})[key] = float(f"{value:.3g}") if isinstance(value, float) else value
    header = (f"# Chosen by `python -m mlsearch tune` on VALIDATION F1 (mean over {', '.join(cfg.languages)}), "
              f"{len(table)} trials, best trial {int(best['trial'])}: {best['valid_f1']:.4f}"
              + (f" (current settings, trial 0: {float(default['valid_f1'].iloc[0]):.4f})" if len(default) else "")
              + f".\n# Layer it on the profile: --profile {cfg.profile} --params {out / 'best.yaml'}\n")
    write_text(out / "best.yaml", header + yaml.safe_dump(nested, sort_keys=False))
    wall = study.user_attrs.get("wall_seconds", seconds)
    write_table(table, out, "trials", "Tuning trials (validation F1; the test split is never read)",
                f"Profile {cfg.profile}, languages {', '.join(cfg.languages)}, sampler seed {cfg.seed}; {len(table)} trials in "
                f"{wall / 60:.1f} min wall time on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"{datetime.now(timezone.utc):%Y-%m-%d}. Trial 0 holds the settings the search started from; pruned "
                "trials show their best epoch so far.", digits=4)
    save(plot_tune_trials(table), out / "trials.png")
    extra = " ".join(f"--params {f}" for f in files[2:]) if len(files) > 2 else ""
    command = f"python -m mlsearch grid --profile {cfg.profile} {extra} --params {out / 'best.yaml'}".replace("  ", " ")
    return {"best_trial": int(best["trial"]), "best_valid_f1": float(best["valid_f1"]),
            "default_valid_f1": float(default["valid_f1"].iloc[0]) if len(default) else None,
            "trials": len(table), "pruned": int((table["state"] == "pruned").sum()), "seconds": seconds, "wall_seconds": wall,
            "best": nested, "folder": out, "command": command}
