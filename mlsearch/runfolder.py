"""The run folder every model kind writes: test evaluation, the ``metrics.json`` record, the files.

Shared by the method's loop (mlsearch.train) and the baselines (mlsearch.baselines), below both, so
neither imports the other to write its results.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlsearch import checkpoint, runinfo
from mlsearch.config import RunConfig
from mlsearch.data.dataset import Dataset
from mlsearch.evaluate import metrics
from mlsearch.io import atomic_write, write_json
from mlsearch.paths import model_name
from mlsearch.ranking import ranking_metrics


def _clean(x: Any) -> Any:
    """Round floats (stable, readable JSON) and turn NaN into null."""
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 6)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def test_evaluation(cfg: RunConfig, i: int, lang: str, frame: pd.DataFrame, scores: np.ndarray, threshold: float):
    """Test metrics of the ``i``-th evaluation language at a validation threshold (F1 …) and of the
    order it gives each query's candidates (nDCG, MRR, recall; mlsearch.ranking), and its predictions."""
    ev = metrics(frame["label"].to_numpy(), scores, threshold, frame["query_id"].to_numpy(), cfg.eval.bootstrap, cfg.seed * 100 + i)
    cols = ["lang", "query_id", "product_id", "label", *(["relevance"] if "relevance" in frame.columns else []), "score"]
    pred = frame.assign(lang=lang, score=scores)[cols]
    ev |= ranking_metrics(pred, cfg.eval.bootstrap, cfg.seed * 100 + i)
    if frame["label"].nunique() < 2:  # F1 and ROC-AUC say nothing on one class: recorded, and marked in the tables
        ev["single_class_test"] = True
    return ev, pred


def metrics_record(
    cfg: RunConfig, ds: Dataset, train_langs: list[str], eval_langs: list[str], evals: dict, valid: dict, *,
    warm_start_language: str | None, best_epoch: int | None, epochs: int | None, n_params: int,
) -> dict:
    """The content of ``metrics.json``, the same for every model kind (nothing time- or machine-dependent)."""
    return _clean(
        {
            "train_languages": train_langs,
            "eval_languages": eval_langs,
            "seed": cfg.seed,
            "kind": cfg.kind,
            "profile": cfg.profile,
            "source": cfg.data.source,
            "dataset": ds.name,
            "model": model_name(cfg.languages),
            "warm_start_language": warm_start_language,
            "best_epoch": best_epoch,
            "epochs": epochs,
            "n_parameters": n_params,
            "config_hash": checkpoint.config_hash(cfg),
            "eval": evals,
            "valid": valid,
        }
    )


def write_run_folder(
    out: Path, cfg: RunConfig, result: dict, preds: list[pd.DataFrame], info: dict, curves: pd.DataFrame | None = None
) -> None:
    """config.json, curves.csv, predictions.parquet, run_info.json, then metrics.json last: its presence
    marks a complete run."""
    write_json(out / "config.json", cfg.to_dict())
    if curves is not None:
        atomic_write(out / "curves.csv", lambda p: curves.to_csv(p, index=False))
    if cfg.eval.save_predictions:
        table = pd.concat(preds, ignore_index=True)
        atomic_write(out / "predictions.parquet", lambda p: table.to_parquet(p, index=False))
    write_json(out / "run_info.json", runinfo.collect(**info))
    write_json(out / "metrics.json", result)
