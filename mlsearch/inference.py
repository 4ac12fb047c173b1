"""Use a finished run: ``load_run(run_dir)`` → a :class:`Scorer` with the best epoch's weights.

>>> s = load_run("results/benchmark/quick/runs/de+fr/seed0")     # doctest: +SKIP
>>> s.score("de", ["rote schuhe"], ["Damen Sneaker rot"])        # doctest: +SKIP
array([0.93])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from mlsearch import checkpoint
from mlsearch.config import RunConfig, from_dict
from mlsearch.errors import CheckpointError
from mlsearch.io import read_json
from mlsearch.model import MatchModel, build_model, tokenizer_key
from mlsearch.text import encode, load_tokenizer


@dataclass
class Scorer:
    """A trained model with its tokenizers, in eval mode on CPU."""

    cfg: RunConfig
    model: MatchModel
    tokenizers: dict[str, Tokenizer]

    def _ids(self, lang: str, texts: list[str], side: str) -> torch.Tensor:
        if lang not in self.cfg.languages:
            raise CheckpointError(f"this model has no encoders for {lang!r}", f"languages {self.cfg.languages}", "use a training language")
        max_len = self.cfg.model.query_len if side == "query" else self.cfg.model.title_len
        return encode(self.tokenizers[tokenizer_key(self.cfg, lang)], list(texts), max_len)

    @torch.no_grad()
    def encode(self, lang: str, texts: list[str], side: str = "query") -> np.ndarray:
        """Projected vectors ``[N, proj_dim]`` of queries (``side="query"``) or titles (``"title"``)."""
        return self.model.encode(lang, side, self._ids(lang, texts, side)).numpy()

    @torch.no_grad()
    def score(self, lang: str, queries: list[str], titles: list[str]) -> np.ndarray:
        """Match probabilities of query–title pairs (same length lists)."""
        logits = self.model(lang, self._ids(lang, queries, "query"), self._ids(lang, titles, "title"))
        return torch.sigmoid(logits).numpy()


def load_run(run_dir: str | Path) -> Scorer:
    """The best epoch's model of a run folder (its config.json, tokenizers/ and checkpoints/)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise CheckpointError("not a finished run folder (no config.json)", str(run_dir), "train it first")
    cfg = from_dict(read_json(run_dir / "config.json"))
    parts, _ = checkpoint.load(run_dir / "checkpoints", None)
    # a pretrained run's files name the checkpoint it started from, which must still be reachable
    toks = {p.stem: load_tokenizer(p) for p in (run_dir / "tokenizers").glob("*.json")}
    model = build_model(cfg, toks, cfg.languages, ngrams=False)  # the checkpoint fills the n-gram tables
    model.load_state_dict(parts["best"])
    return Scorer(cfg, model.eval(), toks)
