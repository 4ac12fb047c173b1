"""The paper's training procedure, model selection on validation, test evaluation, the run folder.

1. warm start: classification only, on one language drawn with ``random.Random(seed)`` (recorded);
2. ``epochs`` × [classification on every language's pairs (batches of all languages interleaved),
   then alignment over every language pair: titles of mapped products through the two title
   encoders, mapped queries through the two query encoders];
3. after each epoch: validation F1 (threshold chosen per language on validation), the best epoch's
   weights are kept; test metrics at the validation thresholds. With ``train.patience`` the run
   ends once validation has not improved for that many epochs.

The learning rate follows ``train.lr_schedule`` over every optimisation step (warm start included);
it is a function of the step number alone, so a resumed run needs no scheduler state.

Every shuffle comes from a generator seeded by (seed, epoch, phase), so a resumed run replays the
exact batches of an uninterrupted one. Under ``torchrun`` the model trains wrapped in
``DistributedDataParallel``: every rank steps through the same phases, languages and batches in the
same order and takes a disjoint shard of each batch's rows, so the averaged gradient is the
one-process gradient (see ``Trainer._step``); only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch.nn.parallel import DistributedDataParallel

from mlsearch import checkpoint, losses
from mlsearch.config import RunConfig
from mlsearch.data.dataset import Dataset
from mlsearch.errors import ConfigError, DataError, TrainingError
from mlsearch.evaluate import best_threshold
from mlsearch.kinds import apply_kind, get_kind
from mlsearch.model import SHARED, MatchModel, match_logits, n_parameters, vocab_tokens
from mlsearch.paths import run_dir as default_run_dir
from mlsearch.pretrain import pretrain_encoders, pretrain_steps
from mlsearch.pretrained import PrunedVocab, is_pretrained_param
from mlsearch.pretrained import load_tokenizer as load_pretrained_tokenizer
from mlsearch.runfolder import metrics_record, test_evaluation, write_run_folder
from mlsearch.runlock import run_lock
from mlsearch.text import PAD_ID, encode, load_tokenizer, save_tokenizer, train_tokenizer

PHASE_SALT = {"warm": 1, "classify": 2, "align": 3}


@dataclass
class Split:
    """One language's split as device tensors (+ the ids that predictions are reported by)."""

    query: torch.Tensor
    title: torch.Tensor
    label: torch.Tensor
    frame: pd.DataFrame  # query_id, product_id, label
    query_len: np.ndarray  # tokens per row, on the host: batches are cut to their longest row
    title_len: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


# --------------------------------------------------------------------------- text → tensors


def tokenizer_key(cfg: RunConfig, lang: str) -> str:
    """One tokenizer per language, or one for all (shared vocabulary; a pretrained checkpoint's
    tokenizer pruned once for a shared encoder)."""
    shared = cfg.model.shared_vocab or (cfg.model.pretrained and cfg.model.encoders == "shared")
    return SHARED if shared else lang


def build_model(cfg: RunConfig, toks: dict[str, Any], langs: list[str], ngrams: bool = True) -> MatchModel:
    """A fresh MatchModel with an encoder pair per encoder key of ``langs``, sized by ``toks``.

    ``ngrams=False`` leaves the n-gram tables empty (a checkpoint about to be loaded fills them); a
    pretrained copy keeps the token rows its tokenizer's file lists.
    """
    by_key = {SHARED if cfg.model.encoders == "shared" else lang: toks[tokenizer_key(cfg, lang)] for lang in langs}
    vocab = {k: t.get_vocab_size() for k, t in by_key.items()}
    tokens = {k: vocab_tokens(t) for k, t in by_key.items()} if ngrams and cfg.model.subword_buckets else None
    kept = {k: t.kept for k, t in by_key.items()} if cfg.model.pretrained else None
    return MatchModel(cfg.model, vocab, tokens, kept)


def _language_texts(ds: Dataset, labelled: list[str], splits: tuple[str, ...], members: list[str]) -> list[str]:
    """Queries and titles of ``labelled`` languages in ``splits``, and the alignment texts of ``members``
    (alignment tables are built from training data only)."""
    texts: list[str] = []
    for lang in labelled:
        for split in splits:
            df = ds.split(lang, split)
            texts += df["query"].astype(str).tolist() + df["title"].astype(str).tolist()
    for table in (ds.product_alignment, ds.query_alignment):
        for side in ("a", "b"):
            texts += table.loc[table[f"lang_{side}"].isin(members), f"text_{side}"].astype(str).tolist()
    return texts


def build_tokenizers(
    cfg: RunConfig, ds: Dataset, langs: list[str], folder: Path | None, align_only: tuple[str, ...] = ()
) -> dict[str, Tokenizer]:
    """One tokenizer per language (or one shared), trained on TRAINING texts only; reloaded if saved.

    Languages in ``align_only`` (zero-shot) contribute their alignment texts only, never labelled pairs.
    """
    groups: dict[str, list[str]] = {}
    for lang in langs:
        groups.setdefault(tokenizer_key(cfg, lang), []).append(lang)
    toks = {}
    for key, members in groups.items():
        saved = folder / f"{key}.json" if folder else None
        if saved is not None and saved.is_file():
            toks[key] = load_tokenizer(saved, cfg.model.pretrained or None)
        elif cfg.model.pretrained:
            # the checkpoint's tokenizer; the copy keeps the rows of the tokens these languages' texts use
            # (unlabelled text of every split: see mlsearch/pretrained.py)
            texts = _language_texts(ds, members, ("train", "valid", "test"), members)
            toks[key] = PrunedVocab.build(cfg.model.pretrained, load_pretrained_tokenizer(cfg.model.pretrained), texts)
        else:
            texts = _language_texts(ds, [m for m in members if m not in align_only], ("train",), members)
            toks[key] = train_tokenizer(texts, cfg.model.vocab_size, strip_accents="ja" not in members)
    return toks


def tensorize(cfg: RunConfig, ds: Dataset, toks: dict[str, Tokenizer], langs: list[str], device: torch.device):
    """All splits and alignment mappings as padded id tensors on ``device`` (tokenized once).

    Alignment covers every pair of ``langs`` (training languages plus zero-shot ones)."""
    m = cfg.model
    splits: dict[tuple[str, str], Split] = {}
    for lang in langs:
        tok = toks[tokenizer_key(cfg, lang)]
        for name in ("train", "valid", "test"):
            df = ds.split(lang, name)
            query = encode(tok, df["query"].astype(str).tolist(), m.query_len)
            title = encode(tok, df["title"].astype(str).tolist(), m.title_len)
            splits[lang, name] = Split(
                query=query.to(device),
                title=title.to(device),
                label=torch.tensor(df["label"].to_numpy(), dtype=torch.float32, device=device),
                frame=df[["query_id", "product_id", "label", *(["relevance"] if "relevance" in df.columns else [])]].reset_index(drop=True),
                query_len=row_lengths(query),
                title_len=row_lengths(title),
            )
    kinds = {"both": ["product", "query"], "product": ["product"], "query": ["query"], "none": []}[cfg.train.alignment]
    align: dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    for a, b in combinations(sorted(langs), 2):
        for kind in kinds:
            t = ds.alignment(kind, a, b)
            if t.empty:
                warnings.warn(f"no {kind} alignment data for {a}-{b}: that pair is not aligned", stacklevel=2)
                continue
            max_len = m.title_len if kind == "product" else m.query_len
            ids_a = encode(toks[tokenizer_key(cfg, a)], t["text_a"].astype(str).tolist(), max_len)
            ids_b = encode(toks[tokenizer_key(cfg, b)], t["text_b"].astype(str).tolist(), max_len)
            align[kind, a, b] = (ids_a.to(device), ids_b.to(device), row_lengths(ids_a), row_lengths(ids_b))
    return splits, align


_PREPARED: dict[str, Any] = {}


def _prepared(cfg: RunConfig, dataset: Dataset, ds: Dataset, langs: list[str], unseen: tuple[str, ...], saved, device):
    """Tokenizers and tensors of ``langs``, reused by the next run on the same dataset object.

    Seeds of one language set (a grid cell) share them: tokenizers are trained on the data alone
    (deterministically), never on the seed, so the reuse changes no number and saves the
    re-tokenization of every split per seed.
    """
    m, t = cfg.model, cfg.train
    key = (tuple(langs), unseen, m.vocab_size, m.shared_vocab, m.pretrained, m.encoders,
           m.query_len, m.title_len, t.alignment, str(device))
    if _PREPARED.get("key") == key and _PREPARED.get("dataset") is dataset:
        return _PREPARED["value"]
    toks = build_tokenizers(cfg, ds, langs, saved, unseen)
    value = (toks, *tensorize(cfg, ds, toks, langs, device))
    _PREPARED.clear()
    _PREPARED.update(key=key, dataset=dataset, value=value)
    return value


def pretrain_texts(model: MatchModel, splits: dict, langs: list[str]) -> dict[tuple[str, str], torch.Tensor]:
    """Unique training queries and titles per encoder (``(key, side)``) for masked-token pre-training.

    Languages that share an encoder (``model.encoders: shared``) pool their texts."""
    out: dict[tuple[str, str], list[torch.Tensor]] = {}
    for lang in sorted(langs):
        s = splits[lang, "train"]
        for side, ids in (("query", s.query), ("title", s.title)):
            out.setdefault((model.key(lang), side), []).append(ids)
    texts = {}
    for key, parts in out.items():
        width = max(p.shape[1] for p in parts)
        padded = torch.cat([F.pad(p, (0, width - p.shape[1]), value=PAD_ID) for p in parts])
        texts[key] = torch.unique(padded, dim=0)
    return texts


# --------------------------------------------------------------------------- helpers


def row_lengths(ids: torch.Tensor) -> np.ndarray:
    """Non-padding tokens per row (host array), so a batch can be cut without a device sync."""
    return (ids != PAD_ID).sum(1).numpy()


def take(ids: torch.Tensor, lengths: np.ndarray, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of ``ids``, cut to the longest of them: padding beyond it is masked anyway, so
    the model computes the same function on fewer positions (titles are padded to ``title_len``)."""
    width = max(int(lengths[idx.numpy()].max()), 1) if len(idx) else 1
    return ids[idx.to(ids.device, non_blocking=True), :width]


def _generator(seed: int, epoch: int, phase: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 101 + PHASE_SALT[phase])


def _batches(n: int, size: int, g: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=g)
    return [perm[i : i + size] for i in range(0, n, size)]


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _init_distributed(device_kind: str) -> None:
    """Join the process group that ``torchrun`` describes in the environment (no-op otherwise)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")


def pick_device(cfg: RunConfig) -> torch.device:
    if cfg.train.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(cfg.train.device)


def param_groups(model: torch.nn.Module, cfg: RunConfig) -> list[dict[str, Any]]:
    """AdamW groups: everything at ``train.lr``; with ``train.pretrained_lr``, a pretrained checkpoint's
    weights in a group of their own at that rate. Frozen weights (``model.freeze_*``) are left out."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not (cfg.model.pretrained and cfg.train.pretrained_lr):
        return [{"params": [p for _, p in params]}]
    slow = [p for n, p in params if is_pretrained_param(n)]
    fast = [p for n, p in params if not is_pretrained_param(n)]
    return [{"params": fast, "base_lr": cfg.train.lr}, {"params": slow, "lr": cfg.train.pretrained_lr, "base_lr": cfg.train.pretrained_lr}]


class Trainer:
    """The loop's state: model, optimizer, data tensors; one method per phase."""

    def __init__(
        self, cfg: RunConfig, model: MatchModel, splits, align, device: torch.device, progress: bool, total_steps: int = 1
    ):
        self.cfg, self.model, self.splits, self.align, self.device = cfg, model, splits, align, device
        self.total_steps, self.steps_done = max(total_steps, 1), 0
        self.world, self.rank = _dist()
        # fused kernels on CUDA; on CPU the multi-tensor (foreach) update: same numbers as the
        # per-tensor loop (checked byte for byte on metrics.json); 21.0 s vs 23.2 s on one quick it+es model
        fused = device.type == "cuda"
        self.opt = torch.optim.AdamW(
            param_groups(model, cfg), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
            **({"fused": True} if fused else {"foreach": True}),
        )
        self.amp = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda" and cfg.train.bf16
            else nullcontext()
        )
        self.progress = progress and self.rank == 0
        self.pairs_seen = 0
        # Every forward of a step goes through ``encoders`` (per encoder key) and ``classifier``: with
        # several ranks, DDP wrappers of the model's own modules; ``model`` is what is saved and
        # evaluated (no ``module.`` in its keys).
        # One wrapper per language, not one around the model: a step then all-reduces the 1-2 languages
        # it used instead of all N, and it measured faster (2 gloo CPU ranks, s/epoch, medians of 3 on a
        # busy 2-core machine: tiny en+de+fr+it+es 1.08 vs 1.45, quick 9.29 vs 10.71, quick en+de+fr 5.21 vs 5.44).
        self.encoders: dict[str, torch.nn.Module] = {**model.language_encoders()}
        self.classifier: torch.nn.Module = model.classifier
        if self.world > 1:
            # an alignment step uses one side of a language's encoders and not their token projection,
            # so DDP must find the unused parameters; one that no rank used keeps no gradient (AdamW
            # leaves it alone, as in one process); the classifier is used whole whenever it runs. DDP's
            # one-time warning that it found no unused parameter is expected: the first step (classification)
            # uses all of a language's encoders, alignment steps do not
            self.encoders = {k: self._ddp(m, find_unused=True) for k, m in self.encoders.items()}
            self.classifier = self._ddp(model.classifier, find_unused=False)

    def _ddp(self, module: torch.nn.Module, find_unused: bool) -> DistributedDataParallel:
        # buffers (n-gram ids, position ids) never change: no broadcast before each forward
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused, forward_sync_buffers=False)

    def lr_factor(self, step: int) -> float:
        """Multiplier of ``train.lr`` at optimisation step ``step`` (0-based) of ``total_steps``."""
        t = self.cfg.train
        if t.lr_schedule == "constant":
            return 1.0
        warm = t.warmup_share * self.total_steps
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(self.total_steps - warm, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def _step(self, loss: torch.Tensor) -> None:
        """One optimisation step on this rank's share of the loss.

        DDP averages gradients over ranks, so each rank backpropagates ``world`` × its share: the
        average is then the gradient of the sum of the shares, the one-process loss (× 2 and ÷ 2 are
        exact in floating point, so with 2 ranks the scaling itself changes no bit).
        """
        if self.cfg.train.lr_schedule != "constant":
            for group in self.opt.param_groups:
                group["lr"] = group.get("base_lr", self.cfg.train.lr) * self.lr_factor(self.steps_done)
        self.steps_done += 1
        self.opt.zero_grad(set_to_none=True)
        (loss * self.world if self.world > 1 else loss).backward()
        self.opt.step()

    def _shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """This rank's rows of a batch (host indices; ``take`` moves them to the device), and whether it has any.

        DDP needs every rank to run each step's forward and backward, and the encoders cannot run on
        zero rows, so a rank whose share is empty (a batch shorter than the world) runs the batch's
        first row with its loss multiplied by 0: zero gradients, nothing counted.
        """
        local = idx[self.rank :: self.world]
        return (local, True) if len(local) else (idx[:1], False)

    def classify(self, epoch: int, langs: list[str], phase: str, bar) -> list[dict[str, Any]]:
        """One pass over the training pairs of ``langs``, batches of all languages interleaved."""
        g = _generator(self.cfg.seed, epoch, phase)
        batches = [(lang, b) for lang in sorted(langs) for b in _batches(len(self.splits[lang, "train"]), self.cfg.train.batch_size, g)]
        order = torch.randperm(len(batches), generator=g).tolist()
        sums = {lang: torch.zeros((), device=self.device) for lang in langs}
        counts = dict.fromkeys(langs, 0)
        bad = torch.full((), -1, device=self.device)
        self.model.train()
        for step, i in enumerate(order):
            lang, idx = batches[i]
            s = self.splits[lang, "train"]
            local, real = self._shard(idx)
            with self.amp:
                logits = match_logits(
                    self.encoders[self.model.key(lang)], self.classifier, take(s.query, s.query_len, local),
                    take(s.title, s.title_len, local), self.cfg.model.interaction != "none",
                )
            labels = s.label[local.to(self.device, non_blocking=True)]
            loss = losses.classification_loss(logits, labels, reduction="sum") / len(idx)
            if real:
                sums[lang] += loss.detach()
                bad = torch.where((bad < 0) & ~torch.isfinite(loss.detach()), step, bad)
            self._step(loss if real else loss * 0.0)
            counts[lang] += 1
            self.pairs_seen += len(idx)
            bar.update(1)
        return self._phase_rows(epoch, phase, sums, counts, bad, bar)

    def align_phase(self, epoch: int, bar) -> list[dict[str, Any]]:
        """Pull mapped encodings of every language pair together (product: title encoders; query: query encoders)."""
        cfg = self.cfg.train
        g = _generator(self.cfg.seed, epoch, "align")
        rows = []
        self.model.train()
        for (kind, a, b), (ids_a, ids_b, len_a, len_b) in self.align.items():
            side = "title" if kind == "product" else "query"
            key_a, key_b = self.model.key(a), self.model.key(b)
            total = torch.zeros((), device=self.device)
            bad = torch.full((), -1, device=self.device)
            batches = _batches(len(ids_a), cfg.align_batch_size, g)
            for step, idx in enumerate(batches):
                local, real = self._shard(idx)
                text_a, text_b = (side, take(ids_a, len_a, local)), (side, take(ids_b, len_b, local))
                with self.amp:  # one forward per wrapper (shared encoders: both texts in one)
                    if key_a == key_b:
                        (va, _, _), (vb, _, _) = self.encoders[key_a](text_a, text_b)
                    else:
                        ((va, _, _),) = self.encoders[key_a](text_a)
                        ((vb, _, _),) = self.encoders[key_b](text_b)
                if cfg.align_loss == "contrastive" and self.world > 1:
                    # in-batch negatives: each rank scores its rows against the rows of all ranks, so
                    # every rank holds the whole batch's loss (gradient to its own rows only) and reports
                    # 1/world of it; a stand-in row (see _shard) is left out of the batch
                    n = len(local) if real else 0
                    sizes = [len(idx[r :: self.world]) for r in range(self.world)]
                    loss = cfg.align_weight * losses.gathered_contrastive_alignment(va[:n], vb[:n], sizes, cfg.temperature)
                    share: torch.Tensor | None = loss.detach() / self.world
                else:
                    if cfg.align_loss == "contrastive":
                        loss = cfg.align_weight * losses.contrastive_alignment(va, vb, cfg.temperature)
                    else:
                        loss = cfg.align_weight * (losses.ALIGNMENT[cfg.align_loss](va, vb, reduction="sum") / len(idx))
                    share = loss.detach() if real else None
                    loss = loss if real else loss * 0.0
                if share is not None:
                    total += share
                    bad = torch.where((bad < 0) & ~torch.isfinite(share), step, bad)
                self._step(loss)
                bar.update(1)
            rows += self._phase_rows(epoch, f"align_{kind}", {f"{a}-{b}": total}, {f"{a}-{b}": len(batches)}, bad, bar)
        return rows

    def _phase_rows(self, epoch, phase, sums, counts, bad, bar) -> list[dict[str, Any]]:
        """Losses of one phase: the one host–device sync of the phase happens here."""
        keys = sorted(sums)
        vec = torch.stack([sums[k] for k in keys] + [bad.float()])
        if self.world > 1:
            vec = vec.clone()
            dist.all_reduce(vec[:-1])
        values = vec.tolist()
        if values[-1] >= 0 or not all(math.isfinite(v) for v in values[:-1]):
            raise TrainingError(
                f"loss became NaN/inf in phase {phase}, epoch {epoch}, step {int(max(values[-1], 0))}",
                "training",
                "lower train.lr or check the data; the last good checkpoint is kept",
            )
        rows = [
            {"epoch": epoch, "phase": phase, "language": k, "loss": v / max(counts[k], 1), "valid_f1": None}
            for k, v in zip(keys, values[:-1], strict=True)
            if counts[k]
        ]
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

    def validate(self, epoch: int, langs: list[str]) -> tuple[float, dict[str, dict[str, float]], list[dict[str, Any]]]:
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


# --------------------------------------------------------------------------- the run


def _after_epoch(epoch: int) -> None:
    """Called after each epoch's checkpoint is written; tests replace it to simulate a killed run."""


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def train_and_evaluate(
    cfg: RunConfig, run_dir: Path | None = None, dataset: Dataset | None = None, progress: bool = True
) -> dict:
    """Train the model ``cfg`` describes, evaluate it on test, write its run folder, return metrics.

    ``cfg.kind`` selects the method, an ablation (a config overlay) or a baseline (mlsearch.baselines).

    Resumes from ``run_dir/checkpoints/last.*`` when that exists and ``metrics.json`` does not. Holds
    the run folder's lock (mlsearch.runlock) meanwhile, so two jobs never train the same folder; under
    ``torchrun`` rank 0 holds it for all ranks.
    """
    out = Path(run_dir) if run_dir is not None else default_run_dir(apply_kind(cfg))
    rank = _dist()[1] if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))
    if rank != 0:
        return _train_and_evaluate(cfg, out, dataset, progress)
    with run_lock(out):
        return _train_and_evaluate(cfg, out, dataset, progress)


def _train_and_evaluate(cfg: RunConfig, run_dir: Path, dataset: Dataset | None, progress: bool) -> dict:
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    kind = get_kind(cfg.kind)
    cfg = apply_kind(cfg)  # ablations and baselines are the method with a config overlay (mlsearch.kinds)
    out = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    train_langs = sorted(cfg.languages)
    eval_langs = list(cfg.eval.languages) or list(cfg.languages)
    unseen = [lang for lang in eval_langs if lang not in train_langs]
    if unseen and cfg.kind != "zeroshot":
        raise ConfigError(
            f"evaluation on {unseen}, not among the training languages, is zero-shot",
            "eval.languages",
            "set kind=zeroshot (its encoders then learn from alignment data only) or evaluate on training languages",
        )
    if cfg.kind == "zeroshot" and not unseen:
        raise ConfigError(
            "kind zeroshot evaluates on a language it does not train on",
            "eval.languages",
            "set eval.languages to a language missing from languages",
        )
    if unseen and cfg.model.encoders == "shared":
        raise ConfigError("zero-shot needs per-language encoders", "model.encoders", "set model.encoders=per_language")
    if cfg.model.encoders == "shared" and not (cfg.model.shared_vocab or cfg.model.pretrained):
        raise ConfigError(
            "model.encoders=shared needs one vocabulary for all languages",
            "model.shared_vocab",
            "set model.shared_vocab=true",
        )
    if dataset is None:
        from mlsearch.data.load import load_dataset

        dataset = load_dataset(cfg)
    ds = dataset.subset(sorted(set(train_langs) | set(eval_langs)))
    for lang in ds.languages:
        for split in ("train", "valid", "test"):
            if ds.split(lang, split).empty:
                raise DataError(f"language {lang!r} has no {split} pairs", ds.name, "add data or drop the language")
    if kind.trainer != "method":
        from mlsearch.baselines import run_baseline

        return run_baseline(cfg, out, ds, kind.trainer)

    device = pick_device(cfg)
    _init_distributed(device.type)
    world, rank = _dist()
    if device.type == "cpu" and cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    ckpt_dir = out / "checkpoints"
    resume = checkpoint.exists(ckpt_dir) and not (out / "metrics.json").exists()
    if world > 1:
        dist.barrier()  # every rank decides before rank 0 writes anything

    tok_dir = out / "tokenizers"
    all_langs = sorted(train_langs + unseen)
    toks, splits, align = _prepared(cfg, dataset, ds, all_langs, tuple(unseen), tok_dir if resume else None, device)
    if rank == 0:
        for key, tok in toks.items():
            save_tokenizer(tok, tok_dir / f"{key}.json")

    torch.manual_seed(cfg.seed)
    model = build_model(cfg, toks, all_langs).to(device)
    if cfg.train.compile:
        # in place (state_dict keys unchanged, so checkpoints stay interchangeable with eager runs);
        # dynamic shapes because every batch is cut to its longest row
        for encoder in [*model.query.values(), *model.title.values()]:
            encoder.compile(dynamic=True)
    warm_lang = random.Random(cfg.seed).choice(train_langs) if cfg.train.warm_start else None
    n_align = sum(math.ceil(len(a) / cfg.train.align_batch_size) for a, *_ in align.values())
    n_cls = sum(math.ceil(len(splits[lang, "train"]) / cfg.train.batch_size) for lang in train_langs)
    n_warm = math.ceil(len(splits[warm_lang, "train"]) / cfg.train.batch_size) * cfg.train.warm_start_epochs if warm_lang else 0
    trainer = Trainer(cfg, model, splits, align, device, progress, n_warm + cfg.train.epochs * (n_cls + n_align))

    state: dict[str, Any] = {"epoch": -1, "best_epoch": None, "best_score": -math.inf, "best_valid": {}, "curves": []}
    best = _clone_state(model)
    if resume:
        parts, meta = checkpoint.load(ckpt_dir, cfg)
        model.load_state_dict(parts["model"])
        best = parts["best"]
        trainer.opt.load_state_dict(checkpoint.unflatten_optimizer(parts["optim"], meta["param_groups"]))
        torch.set_rng_state(parts["rng"]["cpu"])
        if "cuda" in parts["rng"] and device.type == "cuda":
            torch.cuda.set_rng_state(parts["rng"]["cuda"], device)
        state = {k: meta[k] for k in state}
        state["best_score"] = -math.inf if meta["best_score"] is None else meta["best_score"]
    resumed_from = state["epoch"] if resume else None
    if resume:
        trainer.steps_done = n_warm + max(state["epoch"], 0) * (n_cls + n_align)

    def save_checkpoint(epoch: int) -> None:
        state["epoch"] = epoch
        if rank == 0 and cfg.train.checkpoint:
            meta = dict(state, best_score=None if not math.isfinite(state["best_score"]) else state["best_score"])
            meta |= {"warm_start_language": warm_lang}
            checkpoint.save(ckpt_dir, cfg, model.state_dict(), best, trainer.opt.state_dict(), _rng_state(device), meta)
        if world > 1:
            dist.barrier()
        _after_epoch(epoch)

    first = state["epoch"] + 1
    epochs_trained = state["epoch"]
    with tqdm(total=0, disable=not trainer.progress, desc="train", leave=False) as bar:
        if first == 0:
            if cfg.train.pretrain_epochs:
                texts = pretrain_texts(model, splits, train_langs)
                bar.reset(pretrain_steps(texts, cfg.train.pretrain_epochs, cfg.train.batch_size))
                bar.set_description("pre-training")
                state["curves"] += pretrain_encoders(
                    model, texts, cfg.train.pretrain_epochs, cfg.train.batch_size, cfg.train.lr, cfg.seed, bar=bar
                )
            if warm_lang is not None:
                for _ in range(cfg.train.warm_start_epochs):
                    bar.reset(math.ceil(len(splits[warm_lang, "train"]) / cfg.train.batch_size))
                    bar.set_description(f"warm start {warm_lang}")
                    state["curves"] += trainer.classify(0, [warm_lang], "warm", bar)
            save_checkpoint(0)
            first = 1
        for epoch in range(first, cfg.train.epochs + 1):
            if cfg.train.patience and state["best_epoch"] is not None and epoch - 1 - state["best_epoch"] >= cfg.train.patience:
                break  # early stopping (checked here, so a resumed run stops where an uninterrupted one did)
            bar.reset(n_cls + n_align)
            bar.set_description(f"epoch {epoch}/{cfg.train.epochs}")
            state["curves"] += trainer.classify(epoch, train_langs, "classify", bar)
            state["curves"] += trainer.align_phase(epoch, bar)
            score, valid, rows = trainer.validate(epoch, train_langs)
            state["curves"] += rows
            if score > state["best_score"]:
                state.update(best_score=score, best_epoch=epoch, best_valid=valid)
                best = _clone_state(model)
            save_checkpoint(epoch)
            epochs_trained = epoch
    train_seconds = time.perf_counter() - t0

    # ---- evaluation with the best epoch's weights, thresholds from validation
    model.load_state_dict(best)
    evals, preds = {}, []
    for i, lang in enumerate(eval_langs):
        scores = trainer.predict(lang, "test")
        frame = splits[lang, "test"].frame
        if lang in state["best_valid"]:
            thr = state["best_valid"][lang]["threshold"]
        else:  # zero-shot: no labels of this language anywhere, so the training languages' mean threshold
            thr = float(np.mean([v["threshold"] for v in state["best_valid"].values()]))
        evals[lang], pred = test_evaluation(cfg, i, lang, frame, scores, thr)
        preds.append(pred)

    result = metrics_record(
        cfg, ds, train_langs, eval_langs, evals, state["best_valid"], warm_start_language=warm_lang,
        best_epoch=state["best_epoch"], epochs=cfg.train.epochs, n_params=n_parameters(model),
    )
    if rank == 0:
        info = {
            "device": str(device),
            "train_seconds": train_seconds,
            "pairs_per_second": trainer.pairs_seen / max(train_seconds, 1e-9),
            "world_size": world,
            "resumed_from_epoch": resumed_from,
            "epochs_trained": epochs_trained,
        }
        curves = pd.DataFrame(state["curves"], columns=["epoch", "phase", "language", "loss", "valid_f1"])
        write_run_folder(out, cfg, result, preds, info, curves)
    return result
