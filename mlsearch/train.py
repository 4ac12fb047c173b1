"""The paper's training procedure, one sitting's read.

1. warm start: classification only, on one language drawn with ``random.Random(seed)`` (recorded);
2. ``epochs`` × [classification on every language's pairs (batches of all languages interleaved),
   then alignment over every language pair: titles of mapped products through the two title
   encoders, mapped queries through the two query encoders (objective: ``losses.ALIGNMENT``)];
3. after each epoch: validation F1 (threshold chosen per language on validation); the best epoch's
   weights are kept (:class:`Selection`). With ``train.patience`` the run ends once validation has
   not improved for that many epochs.

The learning rate follows ``train.lr_schedule`` over every optimisation step (warm start included);
it is a function of the step number alone, so a resumed run needs no scheduler state. Batches,
tensors and shuffles: :mod:`mlsearch.batching`; several processes: :mod:`mlsearch.distributed`;
the run around the loop (kind, lock, resume, test, run folder): :mod:`mlsearch.run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mlsearch import distributed, losses
from mlsearch.batching import Alignment, Split, batches, generator, take
from mlsearch.config import RunConfig
from mlsearch.errors import TrainingError
from mlsearch.evaluate import best_threshold
from mlsearch.model import MatchModel
from mlsearch.pretrain import pretrain_encoders, pretrain_steps, pretrain_texts
from mlsearch.pretrained import is_pretrained_param

Curve = list[dict[str, Any]]  # rows of curves.csv: epoch, phase, language, loss, valid_f1


def param_groups(model: torch.nn.Module, cfg: RunConfig) -> list[dict[str, Any]]:
    """AdamW groups: everything at ``train.lr``; with ``train.pretrained_lr``, a pretrained checkpoint's
    weights in a group of their own at that rate. Frozen weights (``model.freeze_*``) are left out."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not (cfg.model.pretrained and cfg.train.pretrained_lr):
        return [{"params": [p for _, p in params]}]
    slow = [p for n, p in params if is_pretrained_param(n)]
    fast = [p for n, p in params if not is_pretrained_param(n)]
    return [{"params": fast, "base_lr": cfg.train.lr}, {"params": slow, "lr": cfg.train.pretrained_lr, "base_lr": cfg.train.pretrained_lr}]


def lr_factor(cfg: RunConfig, step: int, total_steps: int) -> float:
    """Multiplier of the learning rate at optimisation step ``step`` (0-based) of ``total_steps``."""
    t = cfg.train
    if t.lr_schedule == "constant":
        return 1.0
    warm = t.warmup_share * total_steps
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(total_steps - warm, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class Selection:
    """Model selection on validation: the best epoch so far, its scores and weights (also the frozen-
    encoder baselines select with it)."""

    score: float = -math.inf
    epoch: int | None = None
    valid: dict[str, dict[str, float]] = field(default_factory=dict)
    state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, score: float, valid: dict, model: torch.nn.Module) -> bool:
        """Keep ``model``'s weights if ``score`` beats the best so far (higher is better)."""
        if not score > self.score:  # a NaN score never wins
            return False
        self.score, self.epoch, self.valid = score, epoch, valid
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def stop(self, epoch: int, patience: int) -> bool:
        """Early stopping before ``epoch``: validation has not improved for ``patience`` epochs (0: never)."""
        return bool(patience) and self.epoch is not None and epoch - 1 - self.epoch >= patience


class Trainer:
    """The loop's state (model, optimizer, data tensors) and one method per phase."""

    def __init__(self, cfg: RunConfig, model: MatchModel, splits: dict[tuple[str, str], Split], align: Alignment,
                 device: torch.device, total_steps: int = 1):
        self.cfg, self.model, self.splits, self.align, self.device = cfg, model, splits, align, device
        self.total_steps, self.steps_done, self.pairs_seen = max(total_steps, 1), 0, 0
        self.world, self.rank = distributed.world_rank()
        # fused kernels on CUDA; on CPU the multi-tensor (foreach) update: same numbers as the per-tensor
        # loop (checked byte for byte on metrics.json); 21.0 s vs 23.2 s on one quick it+es model
        self.opt = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                     **({"fused": True} if device.type == "cuda" else {"foreach": True}))
        self.amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and cfg.train.bf16 else nullcontext()
        # Every forward of a step goes through ``encoders`` (per encoder key) and ``classifier``: with
        # several ranks, DDP wrappers of the model's own modules (one per language, so a step all-reduces
        # only the 1-2 languages it used; measured faster than one wrapper, README "several GPUs").
        # An alignment step uses one side of a language's encoders, so DDP must find unused parameters;
        # its one-time warning that the first (classification) step used all of them is expected.
        self.encoders: dict[str, torch.nn.Module] = {**model.language_encoders()}
        self.classifier: torch.nn.Module = model.classifier
        if self.world > 1:
            self.encoders = {k: distributed.wrap(m, device, find_unused=True) for k, m in self.encoders.items()}
            self.classifier = distributed.wrap(model.classifier, device, find_unused=False)

    def step(self, loss: torch.Tensor) -> None:
        """One optimisation step on this rank's share of the loss.

        DDP averages gradients over ranks, so each rank backpropagates ``world`` × its share: the
        average is then the gradient of the sum of the shares, the one-process loss (× 2 and ÷ 2 are
        exact in floating point, so with 2 ranks the scaling itself changes no bit).
        """
        if self.cfg.train.lr_schedule != "constant":
            for group in self.opt.param_groups:
                group["lr"] = group.get("base_lr", self.cfg.train.lr) * lr_factor(self.cfg, self.steps_done, self.total_steps)
        self.steps_done += 1
        self.opt.zero_grad(set_to_none=True)
        (loss * self.world if self.world > 1 else loss).backward()
        self.opt.step()

    def classification_loss(self, lang: str, idx: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """This rank's share of the mean classification loss of training rows ``idx`` of ``lang``, and
        whether the rank had rows (see :func:`mlsearch.distributed.shard`)."""
        s = self.splits[lang, "train"]
        local, real = distributed.shard(idx, self.rank, self.world)
        with self.amp:
            logits = self.model.pair_logits(self.encoders[self.model.key(lang)], self.classifier,
                                            take(s.query, s.query_len, local), take(s.title, s.title_len, local))
        loss = losses.classification_loss(logits, s.label[local.to(self.device, non_blocking=True)], reduction="sum") / len(idx)
        return loss, real

    def classify(self, epoch: int, langs: list[str], phase: str, bar) -> Curve:
        """One pass over the training pairs of ``langs``, batches of all languages interleaved."""
        g = generator(self.cfg.seed, epoch, phase)
        plan = [(lang, b) for lang in sorted(langs) for b in batches(len(self.splits[lang, "train"]), self.cfg.train.batch_size, g)]
        sums = {lang: torch.zeros((), device=self.device) for lang in langs}
        counts, bad = dict.fromkeys(langs, 0), torch.full((), -1, device=self.device)
        self.model.train()
        for step, i in enumerate(torch.randperm(len(plan), generator=g).tolist()):
            lang, idx = plan[i]
            loss, real = self.classification_loss(lang, idx)
            if real:
                sums[lang] += loss.detach()
                bad = torch.where((bad < 0) & ~torch.isfinite(loss.detach()), step, bad)
            self.step(loss if real else loss * 0.0)
            counts[lang] += 1
            self.pairs_seen += len(idx)
            bar.update(1)
        return self._phase_rows(epoch, phase, sums, counts, bad, bar)

    def alignment_loss(self, side: str, key_a: str, key_b: str, a: torch.Tensor, b: torch.Tensor,
                       idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(loss to step on, this rank's share to report or None)`` of one batch ``idx`` of mapped texts
        ``a`` (through encoder ``key_a``) and ``b`` (``key_b``); ``a``, ``b`` are (ids, lengths)."""
        t = self.cfg.train
        objective = losses.ALIGNMENT[t.align_loss]
        local, real = distributed.shard(idx, self.rank, self.world)
        text_a, text_b = (side, take(*a, local)), (side, take(*b, local))
        with self.amp:  # one forward per wrapper (shared encoders: both texts in one)
            if key_a == key_b:
                (va, _, _), (vb, _, _) = self.encoders[key_a](text_a, text_b)
            else:
                ((va, _, _),) = self.encoders[key_a](text_a)
                ((vb, _, _),) = self.encoders[key_b](text_b)
        if self.world > 1 and objective.sharded is not None:
            # in-batch negatives: each rank scores its rows against the rows of all ranks, so every rank
            # holds the whole batch's loss (gradient to its own rows only) and reports 1/world of it; a
            # stand-in row (see distributed.shard) is left out of the batch
            n = len(local) if real else 0
            sizes = [len(idx[r :: self.world]) for r in range(self.world)]
            loss = t.align_weight * objective.sharded(va[:n], vb[:n], sizes, t.temperature)
            return loss, loss.detach() / self.world
        loss = t.align_weight * objective.loss(va, vb, len(idx), t.temperature)
        return (loss, loss.detach()) if real else (loss * 0.0, None)

    def align_phase(self, epoch: int, bar) -> Curve:
        """Pull mapped encodings of every language pair together (product: title encoders; query: query encoders)."""
        g = generator(self.cfg.seed, epoch, "align")
        rows: Curve = []
        self.model.train()
        for (kind, a, b), (ids_a, ids_b, len_a, len_b) in self.align.items():
            side = "title" if kind == "product" else "query"
            total, bad = torch.zeros((), device=self.device), torch.full((), -1, device=self.device)
            plan = batches(len(ids_a), self.cfg.train.align_batch_size, g)
            for step, idx in enumerate(plan):
                loss, share = self.alignment_loss(side, self.model.key(a), self.model.key(b), (ids_a, len_a), (ids_b, len_b), idx)
                if share is not None:
                    total += share
                    bad = torch.where((bad < 0) & ~torch.isfinite(share), step, bad)
                self.step(loss)
                bar.update(1)
            rows += self._phase_rows(epoch, f"align_{kind}", {f"{a}-{b}": total}, {f"{a}-{b}": len(plan)}, bad, bar)
        return rows

    def _phase_rows(self, epoch: int, phase: str, sums: dict, counts: dict, bad: torch.Tensor, bar) -> Curve:
        """Losses of one phase: the one host–device sync of the phase happens here (and the NaN check)."""
        keys = sorted(sums)
        values = distributed.all_reduce_sum(torch.stack([sums[k] for k in keys])).tolist()
        first_bad = float(bad)
        if first_bad >= 0 or not all(math.isfinite(v) for v in values):
            raise TrainingError(f"loss became NaN/inf in phase {phase}, epoch {epoch}, step {int(max(first_bad, 0))}",
                                "training", "lower train.lr or check the data; the last good checkpoint is kept")
        rows = [{"epoch": epoch, "phase": phase, "language": k, "loss": v / max(counts[k], 1), "valid_f1": None}
                for k, v in zip(keys, values, strict=True) if counts[k]]
        bar.set_postfix_str(" ".join(f"{r['language']} {r['loss']:.3f}" for r in rows)[:60], refresh=False)
        return rows

    @torch.no_grad()
    def predict(self, lang: str, split: str, batch_size: int = 1024) -> np.ndarray:
        """Match probabilities for every pair of a split (eval mode, no dropout)."""
        self.model.eval()
        s = self.splits[lang, split]
        out = []
        for i in range(0, len(s), batch_size):
            rows = torch.arange(i, min(i + batch_size, len(s)))
            with self.amp:
                logits = self.model(lang, take(s.query, s.query_len, rows), take(s.title, s.title_len, rows))
            out.append(torch.sigmoid(logits.float()))
        return torch.cat(out).cpu().numpy().astype(np.float64) if out else np.zeros(0)

    def validate(self, epoch: int, langs: list[str]) -> tuple[float, dict[str, dict[str, float]], Curve]:
        """``(selection score, {lang: {f1, threshold}}, curve rows)``; higher score is better."""
        valid, rows, vloss = {}, [], []
        for lang in sorted(langs):
            scores = self.predict(lang, "valid")
            labels = self.splits[lang, "valid"].frame["label"].to_numpy()
            thr, f1 = best_threshold(labels, scores)
            p = np.clip(scores, 1e-7, 1 - 1e-7)
            loss = float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())
            valid[lang] = {"f1": f1, "threshold": thr}
            vloss.append(loss)
            rows.append({"epoch": epoch, "phase": "valid", "language": lang, "loss": loss, "valid_f1": f1})
        if self.cfg.train.select_on == "loss":
            return -float(np.mean(vloss)), valid, rows
        return float(np.mean([v["f1"] for v in valid.values()])), valid, rows

    def epoch_steps(self, langs: list[str]) -> tuple[int, int]:
        """Optimisation steps of one epoch: ``(classification, alignment)``."""
        t = self.cfg.train
        n_cls = sum(math.ceil(len(self.splits[lang, "train"]) / t.batch_size) for lang in langs)
        return n_cls, sum(math.ceil(len(a) / t.align_batch_size) for a, *_ in self.align.values())


def fit(trainer: Trainer, langs: list[str], warm_lang: str | None, best: Selection, curves: Curve,
        first: int, bar, on_epoch_end: Callable[[int, float | None], None]) -> int:
    """The procedure from epoch ``first`` (0: pre-training and warm start first) to ``train.epochs``.

    ``best`` and ``curves`` are updated in place; ``on_epoch_end(epoch, validation score)`` runs after
    every epoch (epoch 0 is the warm start, score None), where the run writes its checkpoint. Returns
    the last epoch trained.
    """
    t, last = trainer.cfg.train, first - 1
    if first == 0:
        if t.pretrain_epochs:
            texts = pretrain_texts(trainer.model, trainer.splits, langs)
            bar.reset(pretrain_steps(texts, t.pretrain_epochs, t.batch_size))
            bar.set_description("pre-training")
            curves += pretrain_encoders(trainer.model, texts, t.pretrain_epochs, t.batch_size, t.lr, trainer.cfg.seed,
                                        weight_decay=t.weight_decay, bar=bar)
        for _ in range(t.warm_start_epochs if warm_lang is not None else 0):
            bar.reset(math.ceil(len(trainer.splits[warm_lang, "train"]) / t.batch_size))
            bar.set_description(f"warm start {warm_lang}")
            curves += trainer.classify(0, [warm_lang], "warm", bar)
        on_epoch_end(0, None)
        first, last = 1, 0
    for epoch in range(first, t.epochs + 1):
        if best.stop(epoch, t.patience):
            break  # checked here, so a resumed run stops where an uninterrupted one did
        bar.reset(sum(trainer.epoch_steps(langs)))
        bar.set_description(f"epoch {epoch}/{t.epochs}")
        curves += trainer.classify(epoch, langs, "classify", bar)
        curves += trainer.align_phase(epoch, bar)
        score, valid, rows = trainer.validate(epoch, langs)
        curves += rows
        best.update(epoch, score, valid, trainer.model)
        on_epoch_end(epoch, score)
        last = epoch
    return last
