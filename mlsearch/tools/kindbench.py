"""Cost of model kinds, trained for real: ``python -m mlsearch bench --kinds e5,e5_full,cross``.

For each kind, one ``train_and_evaluate`` of ``--profile`` (default quick) on ``--languages`` (default
de), seed 0, in a temporary folder; the clock is read at the end of the warm start and of every epoch:

- ``first_s``: start of training to the end of the warm start (a cached kind fills its store of the
  frozen layers' outputs here and in epoch 1, the first time each text is seen);
- ``epoch_s``: seconds per epoch after the first (classification, alignment, validation; every text
  already in the store): what each further epoch costs;
- ``run_s``: the whole training;
- ``score_pairs_per_s``: inference on the first language's test pairs, texts never seen (an empty
  store: the frozen layers run too). Two towers encode each distinct query and title once and score
  pairs from the vectors; a cross-encoder runs every pair through the encoder.

Writes ``<out>/<card>-kinds.json`` and ``.md`` (default ``results/perf``). CPU threads: ``--threads``.
"""

from __future__ import annotations

import datetime as dt
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mlsearch.config import load_config, profile_files
from mlsearch.data.load import load_dataset
from mlsearch.inference import Scorer, load_run
from mlsearch.io import write_json, write_text
from mlsearch.model import CrossModel, LanguageEncoders, token_match
from mlsearch.prefix import FrozenPrefix
from mlsearch.run import train_and_evaluate
from mlsearch.tables import to_markdown


def _fresh_stores(model: torch.nn.Module) -> None:
    """Empty every frozen-prefix store the model reads: inference on texts never seen."""
    for m in model.modules():
        if isinstance(getattr(m, "prefix", None), FrozenPrefix):
            m.prefix.store.clear()


@torch.no_grad()
def score_two_tower(scorer: Scorer, lang: str, queries: list[str], titles: list[str], batch: int = 256) -> torch.Tensor:
    """Match logits with each distinct query and title encoded once, then pairs scored from their vectors."""
    model = scorer.model
    k = model.key(lang)
    enc = LanguageEncoders(model.query[k], model.title[k])
    tokens = model.cfg.interaction != "none"

    def encode(side: str, texts: list[str]) -> tuple[dict[str, int], list[tuple]]:
        distinct = sorted(set(texts))
        ids = scorer._ids(lang, distinct, side)
        rows = [enc((side, ids[i : i + batch]), tokens=tokens)[0] for i in range(0, len(distinct), batch)]
        return {t: i for i, t in enumerate(distinct)}, rows

    def gather(rows: list[tuple], idx: torch.Tensor, part: int) -> torch.Tensor:
        flat = [r[part] for r in rows]
        if part:  # token vectors and masks: pad to a common width first
            width = max(f.shape[1] for f in flat)
            flat = [torch.nn.functional.pad(f, (0, 0, 0, width - f.shape[1]) if f.dim() == 3 else (0, width - f.shape[1])) for f in flat]
        return torch.cat(flat)[idx]

    qi, q_rows = encode("query", queries)
    ti, t_rows = encode("title", titles)
    q_idx = torch.tensor([qi[q] for q in queries])
    t_idx = torch.tensor([ti[t] for t in titles])
    q, t = gather(q_rows, q_idx, 0), gather(t_rows, t_idx, 0)
    if not tokens:
        return model.classifier(q, t)
    match = token_match(gather(q_rows, q_idx, 1), gather(q_rows, q_idx, 2), gather(t_rows, t_idx, 1), gather(t_rows, t_idx, 2))
    return model.classifier(q, t, match)


@torch.no_grad()
def score_pairs(scorer: Scorer, lang: str, queries: list[str], titles: list[str], batch: int = 256) -> torch.Tensor:
    """Match logits of every pair through the model (a cross-encoder's only way)."""
    out = [scorer.model(lang, scorer._ids(lang, queries[i : i + batch], "query"), scorer._ids(lang, titles[i : i + batch], "title"))
           for i in range(0, len(queries), batch)]
    return torch.cat(out)


def time_kind(kind: str, profile: str, languages: list[str], out: Path) -> dict[str, Any]:
    """Train one model of ``kind`` in a temporary folder under ``out``; its clock and scoring throughput."""
    cfg = load_config(profile_files(profile), {"languages": languages, "kind": kind, "seed": 0, "eval.bootstrap": 0,
                                               "eval.save_predictions": False})
    dataset = load_dataset(cfg, progress=False)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        t0 = time.perf_counter()
        metrics = train_and_evaluate(cfg, Path(tmp), dataset, progress=True, on_epoch_end=lambda e, s: stamps.append(time.perf_counter()))
        scorer = load_run(tmp)
    _fresh_stores(scorer.model)
    test = dataset.split(languages[0], "test")
    queries, titles = test["query"].astype(str).tolist(), test["title"].astype(str).tolist()
    cross = isinstance(scorer.model, CrossModel)
    t1 = time.perf_counter()
    (score_pairs if cross else score_two_tower)(scorer, languages[0], queries, titles)
    score_s = time.perf_counter() - t1
    epochs = [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]
    return {"kind": kind, "profile": profile, "languages": "+".join(languages), "epochs": len(stamps) - 1,
            "first_s": round(stamps[0] - t0, 1), "epoch1_s": round(stamps[1] - stamps[0], 1) if len(stamps) > 1 else None,
            "epoch_s": round(sum(epochs) / len(epochs), 1) if epochs else None, "run_s": round(stamps[-1] - t0, 1),
            "score_pairs": len(queries), "score_pairs_per_s": round(len(queries) / score_s, 1),
            "scoring": "every pair through the encoder" if cross else "each distinct text encoded once",
            "valid_f1": round(sum(v["f1"] for v in metrics["valid"].values()) / len(metrics["valid"]), 4)}


def main(kinds: list[str], profile: str, languages: list[str], out: Path, threads: int) -> int:
    if threads > 0:
        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    card = "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name().lower().replace(" ", "-")
    result: dict[str, Any] = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "card": card,
                              "machine": f"{platform.system()} {platform.machine()}, {torch.get_num_threads()} torch thread(s)",
                              "torch": torch.__version__, "rows": []}
    for kind in kinds:
        print(f"kind {kind}: training {profile} {'+'.join(languages)} …", flush=True)
        row = time_kind(kind, profile, languages, out)
        print(f"  {row}", flush=True)
        result["rows"].append(row)
        write_json(out / f"{card}-kinds.json", result)
    import pandas as pd

    md = (f"# Cost of model kinds, trained for real (`python -m mlsearch bench --kinds {','.join(kinds)} --profile {profile} "
          f"--languages {','.join(languages)}`)\n\n{result['date']}, {result['machine']}, torch {result['torch']}.\n\n"
          + to_markdown(pd.DataFrame(result["rows"]).astype({"valid_f1": str}), digits=1) + "\n")
    write_text(out / f"{card}-kinds.md", md)
    print(md)
    return 0
