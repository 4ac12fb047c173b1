"""One run's lifecycle around the loop: kind → lock → resume → fit → test → run folder.

:func:`train_and_evaluate` trains one config into its run folder (resuming from its checkpoint
when one is there) and returns the test metrics; :func:`train_set` is "train it if it is missing"
for every seed of a cell — what notebook 02, ``--inline`` grid and study cells, and notebooks 00
and 04 call. Under ``torchrun`` every rank runs the same lifecycle; rank 0 holds the run folder's
lock and writes its files.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mlsearch import checkpoint, distributed
from mlsearch.baselines import run_baseline
from mlsearch.batching import Prepared, Split
from mlsearch.config import RunConfig, load_config, profile_files
from mlsearch.data.dataset import Dataset
from mlsearch.data.load import load_dataset
from mlsearch.errors import ConfigError, DataError
from mlsearch.io import read_json
from mlsearch.kinds import apply_kind, get_kind
from mlsearch.model import TextEncoder, build_model, n_parameters
from mlsearch.paths import run_dir as default_run_dir
from mlsearch.runfolder import metrics_record, test_evaluation, write_run_folder
from mlsearch.runlock import run_lock
from mlsearch.text import save_tokenizer
from mlsearch.train import Selection, Trainer, fit

CURVE_COLUMNS = ["epoch", "phase", "language", "loss", "valid_f1"]


def train_and_evaluate(cfg: RunConfig, run_dir: Path | None = None, dataset: Dataset | None = None, progress: bool = True,
                       *, prepared: Prepared | None = None, on_epoch_end: Callable[[int, float | None], None] | None = None,
                       evaluate: bool = True) -> dict:
    """Train the model ``cfg`` describes, evaluate it on test, write its run folder, return metrics.

    ``cfg.kind`` selects the method, an ablation (a config overlay) or a baseline (mlsearch.baselines).
    Resumes from ``run_dir/checkpoints/last.*`` when that exists and ``metrics.json`` does not.
    ``prepared`` keeps tokenizers and tensors for the next seed of the same cell; ``on_epoch_end(epoch,
    validation score)`` runs after each epoch's checkpoint is written (epoch 0: the warm start, score None).
    ``evaluate=False`` (the tuner): the test split is not needed and never read; nothing but the
    tokenizers is written, and the result is ``{"score", "best_epoch", "valid"}`` of validation.
    """
    cfg = apply_kind(cfg)  # ablations and baselines are the method with a config overlay (mlsearch.kinds)
    if cfg.kind == "zeroshot" and set(cfg.eval.languages) <= set(cfg.languages):
        raise ConfigError("kind zeroshot evaluates on a language it does not train on", "eval.languages",
                          "set eval.languages to a language missing from languages")
    out = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    dataset = dataset if dataset is not None else load_dataset(cfg)
    ds = run_data(cfg, dataset, splits=("train", "valid", "test") if evaluate else ("train", "valid"))
    trainer = get_kind(cfg.kind).trainer
    if not evaluate and trainer != "method":
        raise ConfigError(f"kind {cfg.kind} is not trained by the method's loop: nothing to tune", "kind", "tune kind method")

    def run() -> dict:
        if trainer != "method":
            return run_baseline(cfg, out, ds, trainer)
        return _train(cfg, out, dataset, ds, progress, prepared, on_epoch_end, evaluate)

    if distributed.launch_rank() != 0:  # rank 0 holds the lock for all ranks
        return run()
    with run_lock(out):
        return run()


#: Fewer validation matches than this make thresholds and early stopping noisy (a warning, not an error).
FEW_VALID_POSITIVES = 10


def run_data(cfg: RunConfig, dataset: Dataset, splits: tuple[str, ...] = ("train", "valid", "test")) -> Dataset:
    """The run's languages (training and evaluation) of ``dataset``, checked before anything trains.

    Every split must have pairs; a training language's train and valid splits need both classes
    (one class gives a model and a threshold that say nothing); a test split of one class is
    warned about (F1 and ROC-AUC say nothing there; the tables mark it), and so is a validation
    split with fewer than :data:`FEW_VALID_POSITIVES` matches.
    """
    ds = dataset.subset(sorted(set(cfg.languages) | set(cfg.eval.languages)))
    for lang in ds.languages:
        for split in splits:
            labels = ds.split(lang, split)["label"]
            if labels.empty:
                raise DataError(f"language {lang!r} has no {split} pairs", ds.name, "add data or drop the language")
            if labels.nunique() < 2 and (split != "test" and lang in cfg.languages):
                raise DataError(f"language {lang!r}: every {split} pair has label {int(labels.iloc[0])}, so nothing can be "
                                "learned or thresholded", f"{ds.name}, {split} split",
                                "add pairs of the other class (non-matches as well as matches) or drop the language")
            if labels.nunique() < 2:
                warnings.warn(f"language {lang!r}: every test pair has label {int(labels.iloc[0])}; F1 and ROC-AUC say "
                              "nothing there (the tables mark it)", stacklevel=2)
        positives = int(ds.split(lang, "valid")["label"].sum())
        if lang in cfg.languages and positives < FEW_VALID_POSITIVES:
            warnings.warn(f"language {lang!r}: {positives} matches in the validation split; its threshold and early "
                          "stopping will be noisy", stacklevel=2)
    return ds


def _train(cfg: RunConfig, out: Path, dataset: Dataset, ds: Dataset, progress: bool, prepared: Prepared | None,
           on_epoch_end: Callable[[int, float | None], None] | None, evaluate: bool = True) -> dict:
    """The method's run: data on the device, model, resume, :func:`mlsearch.train.fit`, test, files."""
    t0 = time.perf_counter()
    train_langs = sorted(cfg.languages)
    eval_langs = list(cfg.eval.languages) or list(cfg.languages)
    unseen = [lang for lang in eval_langs if lang not in train_langs]
    device = distributed.pick_device(cfg)
    distributed.init(device.type)
    world, rank = distributed.world_rank()
    if device.type == "cpu" and cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    ckpt_dir, tok_dir = out / "checkpoints", out / "tokenizers"
    resume = checkpoint.exists(ckpt_dir) and not (out / "metrics.json").exists()
    distributed.barrier()  # every rank decides before rank 0 writes anything

    all_langs = sorted(train_langs + unseen)
    toks, splits, align = (prepared or Prepared()).get(cfg, dataset, ds, all_langs, tuple(unseen), tok_dir if resume else None, device)
    if rank == 0:
        for key, tok in toks.items():
            save_tokenizer(tok, tok_dir / f"{key}.json")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, toks, all_langs).to(device)
    if cfg.train.compile:
        # in place (state_dict keys unchanged, so checkpoints stay interchangeable with eager runs);
        # dynamic shapes because every batch is cut to its longest row
        for encoder in [m for m in model.modules() if isinstance(m, TextEncoder)]:
            encoder.compile(dynamic=True)
    warm_lang = random.Random(cfg.seed).choice(train_langs) if cfg.train.warm_start else None
    trainer = Trainer(cfg, model, splits, align, device)
    n_cls, n_align = trainer.epoch_steps(train_langs)
    n_warm = _warm_steps(cfg, splits, warm_lang)
    trainer.total_steps = max(n_warm + cfg.train.epochs * (n_cls + n_align), 1)

    best, curves = Selection(state=_clone(model)), []
    epoch = _resume(trainer, best, curves, ckpt_dir, n_warm, n_cls + n_align) if resume else -1

    def end_of_epoch(done: int, score: float | None) -> None:
        if rank == 0 and cfg.train.checkpoint and evaluate:
            meta = {"epoch": done, "best_epoch": best.epoch, "best_score": best.score if np.isfinite(best.score) else None,
                    "best_valid": best.valid, "curves": curves, "warm_start_language": warm_lang}
            checkpoint.save(ckpt_dir, cfg, model.state_dict(), best.state, trainer.opt.state_dict(), _rng_state(device), meta)
        distributed.barrier()
        if on_epoch_end is not None:
            on_epoch_end(done, score)

    with tqdm(total=0, disable=not (progress and rank == 0), desc="train", leave=False) as bar:
        last = fit(trainer, train_langs, warm_lang, best, curves, epoch + 1, bar, end_of_epoch)
    train_seconds = time.perf_counter() - t0
    if not evaluate:
        return {"score": best.score, "best_epoch": best.epoch, "valid": best.valid, "train_seconds": train_seconds}

    model.load_state_dict(best.state)  # the best epoch's weights; thresholds from validation
    evals, preds = _test(cfg, trainer, splits, eval_langs, best)
    result = metrics_record(cfg, ds, train_langs, eval_langs, evals, best.valid, warm_start_language=warm_lang,
                            best_epoch=best.epoch, epochs=cfg.train.epochs, n_params=n_parameters(model))
    if rank == 0:
        info = {"device": str(device), "train_seconds": train_seconds,
                "pairs_per_second": trainer.pairs_seen / max(train_seconds, 1e-9), "world_size": world,
                "resumed_from_epoch": epoch if resume else None, "epochs_trained": last}
        write_run_folder(out, cfg, result, preds, info, pd.DataFrame(curves, columns=CURVE_COLUMNS))
    return result


def _warm_steps(cfg: RunConfig, splits: dict[tuple[str, str], Split], warm_lang: str | None) -> int:
    """Optimisation steps of the warm start (counted in the learning-rate schedule)."""
    if warm_lang is None:
        return 0
    return -(-len(splits[warm_lang, "train"]) // cfg.train.batch_size) * cfg.train.warm_start_epochs


def _resume(trainer: Trainer, best: Selection, curves: list, ckpt_dir: Path, n_warm: int, per_epoch: int) -> int:
    """Restore model, optimizer, random state and selection from the checkpoint; returns its epoch."""
    parts, meta = checkpoint.load(ckpt_dir, trainer.cfg)
    trainer.model.load_state_dict(parts["model"])
    trainer.opt.load_state_dict(checkpoint.unflatten_optimizer(parts["optim"], meta["param_groups"]))
    torch.set_rng_state(parts["rng"]["cpu"])
    if "cuda" in parts["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(parts["rng"]["cuda"], trainer.device)
    best.state, best.epoch, best.valid = parts["best"], meta["best_epoch"], meta["best_valid"]
    best.score = -float("inf") if meta["best_score"] is None else meta["best_score"]
    curves += meta["curves"]
    trainer.steps_done = n_warm + max(meta["epoch"], 0) * per_epoch
    return meta["epoch"]


def _test(cfg: RunConfig, trainer: Trainer, splits: dict[tuple[str, str], Split], eval_langs: list[str],
          best: Selection) -> tuple[dict, list[pd.DataFrame]]:
    """Test metrics of every evaluation language at its validation threshold, and the predictions."""
    evals, preds = {}, []
    for i, lang in enumerate(eval_langs):
        if lang in best.valid:
            thr = best.valid[lang]["threshold"]
        else:  # zero-shot: no labels of this language anywhere, so the training languages' mean threshold
            thr = float(np.mean([v["threshold"] for v in best.valid.values()]))
        evals[lang], pred = test_evaluation(cfg, i, lang, splits[lang, "test"].frame, trainer.predict(lang, "test"), thr)
        preds.append(pred)
    return evals, preds


def _clone(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


# --------------------------------------------------------------------------- train if missing


def set_config(profile: str, results_dir: str, extra_params: list[str], languages: list[str], kind: str,
               overrides: dict[str, Any], seed: int) -> RunConfig:
    """The run config of one seed of a cell, from notebook 02's parameters."""
    fixed = {"results_dir": results_dir, "languages": list(languages), "kind": kind, "seed": seed}
    return load_config(profile_files(profile) + [Path(f) for f in extra_params], {**overrides, **fixed})


def ensure_run(cfg: RunConfig, dataset: Dataset | None = None, progress: bool = True, rerun: bool = False,
               prepared: Prepared | None = None) -> dict:
    """The metrics of ``cfg``'s run: read back when its folder holds ``metrics.json`` (unless ``rerun``),
    else trained now (resuming a checkpoint if there is one)."""
    done = default_run_dir(apply_kind(cfg)) / "metrics.json"
    if done.is_file() and not rerun:
        print(f"seed {cfg.seed}: complete, read from {done}")
        return read_json(done)
    return train_and_evaluate(cfg, dataset=dataset if dataset is not None else load_dataset(cfg, progress=progress),
                              progress=progress, prepared=prepared)


def train_set(profile: str, results_dir: str = "results", extra_params: list[str] | None = None,
              languages: list[str] | None = None, seeds: list[int] | None = None, kind: str = "method",
              overrides: dict[str, Any] | None = None, rerun: bool = False, progress: bool = True) -> dict[int, dict]:
    """Train one language set for every seed (a grid or study cell) if missing; returns each seed's metrics.

    What notebook 02 runs and what ``--inline`` cells run. The dataset is loaded once (it does not
    depend on the training seed), and the seeds share tokenizers and tensors (:class:`Prepared`).
    """
    extra_params, overrides = list(extra_params or []), dict(overrides or {})
    languages, seeds = list(languages or ["en"]), list(seeds or [0])
    ds, prepared, metrics = None, Prepared(), {}
    for seed in seeds:
        cfg = set_config(profile, results_dir, extra_params, languages, kind, overrides, seed)
        if ds is None and not ((default_run_dir(apply_kind(cfg)) / "metrics.json").is_file() and not rerun):
            ds = load_dataset(cfg, progress=progress)
        metrics[seed] = ensure_run(cfg, ds, progress, rerun, prepared)
    return metrics
