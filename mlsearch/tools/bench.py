"""Training-throughput benchmark of OUR model: ``python -m mlsearch bench``.

On a GPU machine, the one command to run (table printed last; rows not started within ``--budget``,
150 s by default, are skipped; compiled rows run last)::

    python -m mlsearch bench --configs small,base

What one timed step is: the training step of :class:`mlsearch.train.Trainer` itself
(``classification_loss`` + ``step``: query and title BERT encoders with SDPA attention, mean pooling,
Hadamard classifier, BCE loss, backward, AdamW fused on CUDA) for one language, on random token ids
with realistic padding (queries 2–16 tokens, titles 8–48, vocabulary 16,000; each batch cut to its
longest row, as in training). Every row is one (config, mode, batch); the fp32 eager reference at
batch 1024 runs in the same process on the same card, so each row is also a ratio measured side by side.

Modes (``--modes``, each optionally ``NAME@BATCH``):

- ``fp32``: the plain reference (fp32, eager);
- ``bf16``: bf16 autocast, eager (what ``train.bf16: true`` does on CUDA);
- ``bf16-compile``: the same step with the encoders compiled in place (``torch.compile``, default mode), as ``train.compile``;
- ``bf16-autotune``: ``torch.compile(mode="max-autotune-no-cudagraphs")`` (slow to compile);
- ``bf16-graphs``: ``torch.compile(mode="reduce-overhead")``, i.e. CUDA graphs (CUDA only);
- ``bf16-bucket``: CANDIDATE path, not what training does: batches of pairs sorted by length (each
  cut to its longest member, as every batch is). The model function is the same (padding is
  masked and excluded from pooling) but the batches are not random samples, so it measures what
  length bucketing could gain, not current training speed.

``--processes 1,2`` times something else: seconds per epoch of a real ``train_and_evaluate`` (profile
``--profile``, default tiny) in 1 and in 2 processes, data parallel over gloo on CPU (what ``torchrun``
runs), from the end of the warm start to the end of the last epoch (classification, alignment,
validation), divided by the epochs::

    python -m mlsearch bench --processes 1,2 --profile tiny --languages en,de,fr

Data lives on the device before timing (as ``train.py`` keeps it). Throughput comes from device
events (CUDA) or a wall clock (CPU) around the timed steps, warm-up excluded. TFLOP/s use the
analytical count of :func:`flops_per_pair` at padded lengths; the share of peak divides by a matrix
product timed in the same run (8192³ bf16 on CUDA; on CPU an fp32 product, labelled as such).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import transformers

from mlsearch.batching import Split, row_lengths, take
from mlsearch.config import ModelConfig, RunConfig, TrainConfig, load_config, profile_files
from mlsearch.errors import ConfigError
from mlsearch.io import read_json, write_json, write_text
from mlsearch.model import MatchModel, n_parameters
from mlsearch.run import train_and_evaluate
from mlsearch.specials import CLS_ID, PAD_ID
from mlsearch.train import Trainer

LANG = "xx"  # the one language key of the benchmarked model
REFERENCE_BATCH = 1024
BIG_BATCH = 8192
POOL_BATCHES = 8  # distinct input batches cycled through, so repeated steps do not reuse one buffer


@dataclass(frozen=True)
class BenchConfig:
    """One model size. ``cpu_batch`` is the batch used on CPU, where 1024 pairs per step is too slow."""

    name: str
    d_model: int
    layers: int
    heads: int
    ff_dim: int
    query_len: int = 16
    title_len: int = 48
    vocab_size: int = 16_000
    cpu_batch: int = 64

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            d_model=self.d_model,
            layers=self.layers,
            heads=self.heads,
            ff_dim=self.ff_dim,
            query_len=self.query_len,
            title_len=self.title_len,
            vocab_size=self.vocab_size,
            proj_dim=self.d_model,
            classifier_hidden=[self.d_model],
        )


CONFIGS: dict[str, BenchConfig] = {
    "tiny": BenchConfig("tiny", d_model=16, layers=1, heads=2, ff_dim=64, cpu_batch=32),
    "small": BenchConfig("small", d_model=128, layers=2, heads=4, ff_dim=512),
    "base": BenchConfig("base", d_model=256, layers=4, heads=4, ff_dim=1024),
}


@dataclass(frozen=True)
class Mode:
    """How one row trains: precision, compilation, batching. ``path`` says how it relates to training."""

    name: str
    bf16: bool = False
    compile: str | None = None  # torch.compile mode; "default" means mode=None
    bucket: bool = False
    cuda_only: bool = False
    path: str = "train"  # train: what train.py does | compiled: same step, compiled | candidate: changes batching


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("fp32"),
        Mode("bf16", bf16=True),
        Mode("bf16-compile", bf16=True, compile="default", path="compiled"),
        Mode("bf16-autotune", bf16=True, compile="max-autotune-no-cudagraphs", path="compiled"),
        Mode("bf16-graphs", bf16=True, compile="reduce-overhead", cuda_only=True, path="compiled"),
        Mode("bf16-bucket", bf16=True, bucket=True, path="candidate"),
    )
}
DEFAULT_MODES_CUDA = ["fp32", "bf16", "bf16-compile", "bf16-bucket"]
DEFAULT_MODES_CPU = ["fp32"]


# --------------------------------------------------------------------------- FLOPs


def encoder_flops(d: int, ff: int, layers: int, length: int) -> int:
    """Forward FLOPs of one encoder for one text of padded ``length``: projections + FFN + attention."""
    return layers * (length * (8 * d * d + 4 * d * ff) + 4 * length * length * d)


def flops_per_pair(cfg: BenchConfig) -> int:
    """Training FLOPs per query–title pair: 3 × forward (backward ≈ 2 × forward), padded lengths."""
    fwd = sum(encoder_flops(cfg.d_model, cfg.ff_dim, cfg.layers, n) for n in (cfg.query_len, cfg.title_len))
    return 3 * fwd


# --------------------------------------------------------------------------- device helpers


def card_slug(device: torch.device) -> str:
    """``NVIDIA H200`` → ``nvidia-h200``; ``cpu`` on CPU."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Timer:
    """Elapsed seconds of a region: CUDA events on a GPU, a wall clock (after sync) otherwise."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> _Timer:
        _sync(self.device)
        if self.device.type == "cuda":
            self._start, self._end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self._start.record()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self._end.record()
            torch.cuda.synchronize(self.device)
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            self.seconds = time.perf_counter() - self._t0


def measure_peak(device: torch.device, reps: int = 10) -> tuple[float, str]:
    """Matrix-product rate measured now on ``device`` (TFLOP/s) and what was timed."""
    if device.type == "cuda":
        n, dtype, what, reps = 8192, torch.bfloat16, "bf16 matmul 8192^3", 2 * reps
    else:
        n, dtype, what = 1024, torch.float32, "fp32 matmul 1024^3 (CPU: no bf16 matrix units)"
        reps = 5
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)  # random, never zeros (zeros run faster)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    for _ in range(3):
        a @ b
    with _Timer(device) as t:
        for _ in range(reps):
            a @ b
    return 2 * n**3 * reps / t.seconds / 1e12, what


# --------------------------------------------------------------------------- data


def make_pool(cfg: BenchConfig, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` random pairs: [CLS] + random ids, queries 2–16 tokens, titles 8–48, zero-padded; 0/1 labels."""
    g = torch.Generator().manual_seed(seed)

    def texts(lo: int, hi: int) -> torch.Tensor:
        lengths = torch.randint(lo, hi + 1, (n, 1), generator=g)
        ids = torch.randint(CLS_ID + 1, cfg.vocab_size, (n, hi), generator=g)
        ids[:, 0] = CLS_ID
        return ids.masked_fill(torch.arange(hi) >= lengths, PAD_ID)

    query = texts(min(2, cfg.query_len), cfg.query_len)
    title = texts(min(8, cfg.title_len), cfg.title_len)
    label = torch.randint(0, 2, (n,), generator=g).float()
    return query, title, label


def _trim(ids: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Drop padding columns beyond the longest text, keeping a width that is a multiple of ``multiple``."""
    longest = int((ids != PAD_ID).sum(1).max())
    return ids[:, : min(ids.shape[1], math.ceil(longest / multiple) * multiple)]


def make_batches(cfg: BenchConfig, batch: int, bucket: bool, device: torch.device, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """``POOL_BATCHES`` device-resident batches; ``bucket`` sorts the pool by length and trims padding."""
    q, t, y = make_pool(cfg, batch * POOL_BATCHES, seed)
    if bucket:
        key = (t != PAD_ID).sum(1) * (cfg.query_len + 1) + (q != PAD_ID).sum(1)
        order = torch.argsort(key, stable=True)
        q, t, y = q[order], t[order], y[order]
    out = []
    for i in range(POOL_BATCHES):
        sl = slice(i * batch, (i + 1) * batch)
        qb, tb = (_trim(q[sl]), _trim(t[sl])) if bucket else (q[sl], t[sl])
        out.append((qb.to(device), tb.to(device), y[sl].to(device)))
    return out


# --------------------------------------------------------------------------- one row


def bench_trainer(cfg: BenchConfig, mode: Mode, batch: int, device: torch.device, seed: int = 0) -> tuple[Trainer, list[torch.Tensor]]:
    """A :class:`mlsearch.train.Trainer` of one language on a device-resident random pool, and the row
    indices of its ``POOL_BATCHES`` batches (``bucket``: the pool sorted by length, batches of neighbours).

    What is timed is the trainer's own step: ``classification_loss`` (rows cut to the batch's longest,
    bf16 autocast on CUDA with ``train.bf16``) and ``step`` (backward, AdamW: fused on CUDA, foreach on CPU).
    """
    q, t, y = make_pool(cfg, batch * POOL_BATCHES, seed)
    if mode.bucket:
        order = torch.argsort((t != PAD_ID).sum(1) * (cfg.query_len + 1) + (q != PAD_ID).sum(1), stable=True)
        q, t, y = q[order], t[order], y[order]
    split = Split(q.to(device), t.to(device), y.to(device), pd.DataFrame(), row_lengths(q), row_lengths(t))
    run = RunConfig(model=cfg.model_config(), train=TrainConfig(lr=1e-4, lr_schedule="constant", warmup_share=0.0,
                                                                batch_size=batch, bf16=mode.bf16))
    torch.manual_seed(seed)
    model = MatchModel(run.model, {LANG: cfg.vocab_size}).to(device).train()
    if mode.compile:  # as train.compile does: the encoders in place
        for encoder in [*model.query.values(), *model.title.values()]:
            encoder.compile(mode=None if mode.compile == "default" else mode.compile, dynamic=False)
    trainer = Trainer(run, model, {(LANG, "train"): split}, {}, device)
    return trainer, [torch.arange(i * batch, (i + 1) * batch) for i in range(POOL_BATCHES)]


def train_step(trainer: Trainer, idx: torch.Tensor, graphs: bool = False) -> None:
    """One training step, the trainer's: loss of rows ``idx`` of the pool, backward, optimizer step."""
    if graphs:
        torch.compiler.cudagraph_mark_step_begin()
    loss, _ = trainer.classification_loss(LANG, idx)
    trainer.step(loss)


def time_row(
    cfg: BenchConfig, mode: Mode, batch: int, steps: int, warmup: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    """Build the trainer, warm up (compilation included), time ``steps`` training steps; one result row."""
    # train.py ignores train.bf16 on CPU, so there a bf16 row is the fp32 step
    path = "candidate" if mode.bf16 and device.type != "cuda" and mode.path == "train" else mode.path
    row: dict[str, Any] = {"config": cfg.name, "mode": mode.name, "batch": batch, "path": path}
    trainer, batches = bench_trainer(cfg, mode, batch, device, seed)
    graphs = mode.compile == "reduce-overhead"
    if mode.bucket:  # whole passes over the sorted pool, so short and long batches weigh as in an epoch
        steps = math.ceil(steps / POOL_BATCHES) * POOL_BATCHES
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with _Timer(device) as w:
        for i in range(max(warmup, 1)):
            train_step(trainer, batches[i % POOL_BATCHES], graphs)
    with _Timer(device) as t:
        for i in range(steps):
            train_step(trainer, batches[i % POOL_BATCHES], graphs)
    pairs = steps * batch
    flops = flops_per_pair(cfg)
    split = trainer.splits[LANG, "train"]
    computed = [(take(split.query, split.query_len, i), take(split.title, split.title_len, i), None) for i in batches]
    row |= {
        "steps": steps,
        "warmup_s": w.seconds,
        "step_ms": 1000 * t.seconds / steps,
        "pairs_per_s": pairs / t.seconds,
        "tflops": pairs * flops / t.seconds / 1e12,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "n_parameters": n_parameters(trainer.model),
        "padded_fraction": _padding(computed, cfg),
    }
    return row


def _padding(batches: list[tuple[torch.Tensor, ...]], cfg: BenchConfig) -> float:
    """Share of the token positions the step computes that are padding (after any trimming)."""
    computed = sum(q.numel() + t.numel() for q, t, _ in batches)
    real = sum(int((q != PAD_ID).sum() + (t != PAD_ID).sum()) for q, t, _ in batches)
    return 1.0 - real / computed


# --------------------------------------------------------------------------- the run


def parse_modes(text: str | None, device: torch.device, quick: bool) -> list[tuple[Mode, int | None]]:
    """``"fp32,bf16@16384"`` → [(Mode, batch or None = default)]; unknown or impossible modes are ConfigErrors."""
    if text is None:
        names = DEFAULT_MODES_CUDA if device.type == "cuda" else DEFAULT_MODES_CPU
        if quick:
            names = [n for n in names if not MODES[n].compile]
        text = ",".join(names)
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, batch = item.partition("@")
        if name not in MODES:
            raise ConfigError(f"unknown bench mode {name!r}", "--modes", f"use some of {sorted(MODES)}, optionally NAME@BATCH")
        if MODES[name].cuda_only and device.type != "cuda":
            raise ConfigError(f"bench mode {name!r} needs a CUDA GPU", "--modes", "drop it on this machine")
        if batch and not (batch.isdigit() and int(batch) > 0):
            raise ConfigError(f"batch in {item!r} is not a positive integer", "--modes", "write e.g. bf16@8192")
        out.append((MODES[name], int(batch) if batch else None))
    if not out:
        raise ConfigError("no bench modes given", "--modes", f"use some of {sorted(MODES)}")
    return out


def parse_configs(text: str) -> list[BenchConfig]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise ConfigError(f"unknown bench config(s) {unknown or text!r}", "--configs", f"use some of {list(CONFIGS)}")
    return [CONFIGS[n] for n in names]


def default_batch(cfg: BenchConfig, mode: Mode, device: torch.device, override: int | None) -> int:
    """CUDA: the fp32 reference at 1024, optimized modes at 8192; CPU: the config's small batch."""
    if override:
        return override
    if device.type != "cuda":
        return cfg.cpu_batch
    return REFERENCE_BATCH if mode.name == "fp32" else BIG_BATCH


def headline(rows: list[dict[str, Any]], configs: list[BenchConfig]) -> dict[str, Any]:
    """The largest config's fastest non-candidate row, and its fp32 reference."""
    for cfg in sorted(configs, key=flops_per_pair, reverse=True):
        ok = [r for r in rows if r["config"] == cfg.name and r.get("pairs_per_s")]
        best = max((r for r in ok if r["path"] != "candidate"), key=lambda r: r["pairs_per_s"], default=None)
        if best is None:
            continue
        ref = next((r for r in ok if r["mode"] == "fp32"), None)
        return {
            "config": cfg.name,
            "mode": best["mode"],
            "batch": best["batch"],
            "pairs_per_s": best["pairs_per_s"],
            "reference_pairs_per_s": ref["pairs_per_s"] if ref else None,
            "tflops": best["tflops"],
        }
    return {"config": None, "mode": None, "batch": None, "pairs_per_s": None, "reference_pairs_per_s": None, "tflops": None}


def _fmt(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _num(v: float) -> str:
    """One decimal from 10 up, three significant digits below (CPU rates are small)."""
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table (one row per config × mode × batch) with a short header."""
    lines = [
        f"# Training throughput on {result['device']}",
        "",
        f"Peak: {_num(result['peak_tflops'])} TFLOP/s ({result['peak_what']}, measured in this run). "
        f"{result['date']}, torch {result['torch']}, transformers {result['transformers']}.",
        "",
        "| config | MFLOP/pair | mode | path | batch | step ms | pairs/s | × fp32 | TFLOP/s | % peak | padding | peak GiB |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        if r.get("error"):
            lines.append(f"| {r['config']} | {_num(r['mflop_per_pair'])} | {r['mode']} | {r['path']} | {r['batch']} | {r['error']} |||||||")
            continue
        lines.append(
            f"| {r['config']} | {_num(r['mflop_per_pair'])} | {r['mode']} | {r['path']} | {r['batch']} | {r['step_ms']:.1f} "
            f"| {r['pairs_per_s']:,.0f} | {_fmt(r.get('speedup'), '.2f')} | {_num(r['tflops'])} | {100 * r['share_of_peak']:.1f}% "
            f"| {100 * r['padded_fraction']:.0f}% | {_fmt(r['peak_mem_gib'], '.2f')} |"
        )
    if result.get("end_to_end"):
        e = result["end_to_end"]
        lines += ["", f"End to end (`train_and_evaluate`, profile {e['profile']}, languages {'+'.join(e['languages'])}): "
                  f"{e['train_seconds']:.1f} s, {e['pairs_per_s']:,.0f} pairs/s over all phases."]
    lines += ["", *(f"Note: {n}" for n in result["notes"])]
    return "\n".join(lines) + "\n"


def end_to_end(profile: str, languages: list[str], out: Path) -> dict[str, Any]:
    """Time one real ``train_and_evaluate`` (data, tokenizers, all phases, validation) in a temp folder."""
    cfg = load_config(profile_files(profile), {"languages": languages, "train.checkpoint": False})
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        t0 = time.perf_counter()
        train_and_evaluate(cfg, run_dir=Path(tmp), progress=False)
        wall = time.perf_counter() - t0
        info = read_json(Path(tmp) / "run_info.json")
    return {"profile": profile, "languages": languages, "wall_s": wall, "train_seconds": info["train_seconds"],
            "pairs_per_s": info["pairs_per_second"], "device": info["device"]}


def _epoch_worker(rank: int, world: int, port: int, cfg: RunConfig, out: str) -> None:
    """One rank of :func:`seconds_per_epoch`: trains, and rank 0 writes the clock at the end of every epoch."""
    stamps: list[float] = []
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        train_and_evaluate(cfg, Path(out) / "run", progress=False, on_epoch_end=lambda epoch, score: stamps.append(time.perf_counter()))
    finally:
        if world > 1:
            dist.destroy_process_group()
    if rank == 0:
        write_json(Path(out) / "stamps.json", stamps)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seconds_per_epoch(profile: str, languages: list[str], world: int) -> float:
    """Seconds per training epoch of one model trained by ``world`` gloo CPU processes (fresh processes)."""
    cfg = load_config(profile_files(profile), {"languages": languages, "train.checkpoint": False, "train.device": "cpu"})
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_epoch_worker, args=(world, _free_port(), cfg, tmp), nprocs=world, join=True)
        stamps = read_json(Path(tmp) / "stamps.json")
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def ddp_main(args: argparse.Namespace) -> int:
    """``--processes``: seconds per epoch for each process count, runs alternated, the median of ``--repeats``."""
    items = [n.strip() for n in args.processes.split(",") if n.strip()]
    if not items or not all(n.isdigit() and int(n) > 0 for n in items):
        raise ConfigError(f"bad --processes {args.processes!r}", "--processes", "pass process counts, e.g. 1,2")
    if args.repeats < 1:
        raise ConfigError(f"--repeats must be positive, got {args.repeats}", "--repeats", "pass e.g. --repeats 3")
    counts = [int(n) for n in items]
    profile = args.profile or "tiny"
    langs = [s.strip() for s in args.languages.split(",") if s.strip()]
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.repeats):
        for n in counts:
            times[n].append(seconds_per_epoch(profile, langs, n))
    median = {n: sorted(v)[len(v) // 2] for n, v in times.items()}
    for n in counts:
        runs = ", ".join(f"{t:.2f}" for t in times[n])
        print(f"profile {profile}, languages {'+'.join(langs)}, {n} process(es), gloo CPU: "
              f"{median[n]:.2f} s per epoch (median of {runs}; ×{median[counts[0]] / median[n]:.2f} vs {counts[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlsearch bench", description="Training-throughput benchmark of MatchModel.")
    p.add_argument("--configs", help=f"comma-separated, from {list(CONFIGS)} (default: small,base on CUDA, tiny on CPU)")
    p.add_argument("--modes", help=f"comma-separated NAME[@BATCH], from {list(MODES)}")
    p.add_argument("--batch", type=int, help="batch for every row without @BATCH (default: 1024 fp32 / 8192 others on CUDA)")
    p.add_argument("--steps", type=int, help="timed steps per row (default 30 on CUDA, 10 on CPU; 5 with --quick)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--quick", action="store_true", help="short run: 5 timed steps, no compiled modes unless --modes names them")
    p.add_argument("--budget", type=float, default=150.0, help="seconds; rows not started by then are skipped (default 150)")
    p.add_argument("--out", default="results/perf", help="folder for <card>.json and <card>.md (default results/perf)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument("--profile", help="also time one real train_and_evaluate with this profile (e.g. full)")
    p.add_argument("--languages", default="en", help="training languages of the end-to-end run (default en)")
    p.add_argument("--processes", help="instead: seconds per epoch of train_and_evaluate in N gloo CPU processes, e.g. 1,2")
    p.add_argument("--kinds", help="instead: train these kinds for real (--profile, default quick; --languages) and write "
                                   "<card>-kinds.md: seconds per epoch and scoring pairs/s (mlsearch/tools/kindbench.py)")
    p.add_argument("--repeats", type=int, default=3, help="with --processes: runs per count, alternated (median printed)")
    return p


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("no CUDA device is available", "--device", "use --device cpu or auto")
    if not name.startswith(("cuda", "cpu")):
        raise ConfigError(f"unknown device {name!r}", "--device", "use auto, cpu or cuda")
    return torch.device(name)


def plan_rows(
    configs: list[BenchConfig], modes: list[tuple[Mode, int | None]], device: torch.device, override: int | None
) -> list[tuple[BenchConfig, Mode, int]]:
    """Every (config, mode, batch); compiled modes last, so a time budget cuts compilation, not references."""
    rows = [(c, m, b or default_batch(c, m, device, override)) for c in configs for m, b in modes]
    return sorted(rows, key=lambda r: r[1].compile is not None)  # stable: config, then mode order kept


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; writes ``<out>/<card>.json`` after every row and ``<card>.md``; prints the table last.

    Long on purpose: one flat script of the run (arguments, record head, rows under a budget, the
    end-to-end row), read top to bottom, whose every row is saved as it finishes.
    """
    args = build_parser().parse_args(argv)
    if args.processes:
        return ddp_main(args)
    if args.kinds:
        from mlsearch.kinds import check_kinds
        from mlsearch.tools import kindbench

        kinds = check_kinds([k.strip() for k in args.kinds.split(",") if k.strip()])
        langs = [s.strip() for s in args.languages.split(",") if s.strip()]
        return kindbench.main(kinds, args.profile or "quick", langs, Path(args.out), args.threads)
    t_start = time.perf_counter()
    device = _device(args.device)
    if device.type == "cpu" and args.threads > 0:
        torch.set_num_threads(args.threads)
    notes: list[str] = []
    if args.configs:
        configs = parse_configs(args.configs)
    elif device.type == "cuda":
        configs = parse_configs("small,base")
    else:
        configs = parse_configs("tiny")
        notes.append("no CUDA GPU: ran the tiny config only (name others with --configs small,base)")
    if device.type == "cpu":
        notes.append(f"CPU run: batches are each config's CPU batch, not 1024/8192; peak is an fp32 matmul on {torch.get_num_threads()} thread(s)")
    modes = parse_modes(args.modes, device, args.quick)
    for opt, value in (("--steps", args.steps), ("--batch", args.batch)):
        if value is not None and value <= 0:
            raise ConfigError(f"{opt} must be positive, got {value}", opt, f"pass e.g. {opt} 10")
    steps = args.steps or (5 if args.quick else 30 if device.type == "cuda" else 10)
    warmup = 2 if args.quick and args.warmup == 3 else args.warmup

    out = Path(args.out)
    card = card_slug(device)
    peak, peak_what = measure_peak(device)
    print(f"bench on {device} ({card}): measured peak {_num(peak)} TFLOP/s, {peak_what}", flush=True)

    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "card": card,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "threads": torch.get_num_threads(),
        "peak_tflops": peak,
        "peak_what": peak_what,
        "steps": steps,
        "warmup": warmup,
        "notes": notes,
        "rows": [],
    }

    def save() -> None:
        result.update(headline(result["rows"], configs))
        write_json(out / f"{card}.json", result)
        write_text(out / f"{card}.md", markdown(result))

    for cfg, mode, batch in plan_rows(configs, modes, device, args.batch):
        base = {"config": cfg.name, "mode": mode.name, "batch": batch, "path": mode.path, "mflop_per_pair": flops_per_pair(cfg) / 1e6}
        row: dict[str, Any]
        if time.perf_counter() - t_start > args.budget:
            row = base | {"error": f"skipped: past the {args.budget:.0f} s budget"}
        else:
            try:
                row = base | time_row(cfg, mode, batch, steps, warmup, device)
            except torch.cuda.OutOfMemoryError:
                row = base | {"error": "out of memory"}
            except Exception as exc:  # one failing mode (e.g. a compiler error) must not lose the other rows
                row = base | {"error": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"}
            finally:
                if mode.compile:
                    torch._dynamo.reset()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        if row.get("pairs_per_s"):
            row["share_of_peak"] = row["tflops"] / peak
            ref = next((r for r in result["rows"] if r["config"] == cfg.name and r["mode"] == "fp32" and r.get("pairs_per_s")), None)
            ref = ref or (row if mode.name == "fp32" else None)  # the first fp32 row of a config is its reference
            row["speedup"] = row["pairs_per_s"] / ref["pairs_per_s"] if ref else None
            print(f"  {cfg.name:5s} {mode.name:13s} batch {batch:6d}: {row['pairs_per_s']:12,.0f} pairs/s  "
                  f"{_num(row['tflops'])} TFLOP/s  (warm-up {row['warmup_s']:.1f} s)", flush=True)
        else:
            print(f"  {cfg.name:5s} {mode.name:13s} batch {batch:6d}: {row['error']}", flush=True)
        result["rows"].append(row)
        save()

    if args.profile:
        langs = [s.strip() for s in args.languages.split(",") if s.strip()]
        print(f"end to end: train_and_evaluate, profile {args.profile}, languages {langs} …", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        result["end_to_end"] = end_to_end(args.profile, langs, out)
    result["wall_s"] = time.perf_counter() - t_start
    save()
    print(f"wrote {out / (card + '.json')} and {out / (card + '.md')} in {result['wall_s']:.0f} s\n")
    print(markdown(result), end="")
    return 0

