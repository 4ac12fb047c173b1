"""Model kinds: the method, its ablations and the baselines it is measured against, by name.

``cfg.kind`` names one entry of :data:`KINDS`. A neural kind is the method with a config overlay
(``no_align`` = ``train.alignment: none``); :func:`apply_kind` applies it, so the run's saved
``config.json`` shows what actually trained. A non-neural kind (``tfidf``, ``use``) is trained by
:mod:`mlsearch.baselines` instead of the transformer loop. Each kind also says which grid cells it
runs on (see :func:`mlsearch.experiments.grid_cells`): an alignment ablation changes nothing in a
monolingual model (there is no second language to align), so it runs on the pentalingual cell only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from mlsearch.config import RunConfig, TrainConfig, dotted_to_nested, find_params_dir, from_dict, merge, params_layers
from mlsearch.errors import ConfigError


@dataclass(frozen=True)
class Kind:
    """One model kind: what it changes, who trains it, and where in the grid it runs."""

    #: Dotted config overrides applied on top of the run's config (neural kinds only).
    overrides: dict[str, Any] = field(default_factory=dict)
    #: ``method``: the transformer loop of mlsearch.train; otherwise the baselines.py trainer of that name.
    trainer: Literal["method", "tfidf", "use", "e5"] = "method"
    #: Grid cells: ``all`` language sets, ``mono+full`` (each monolingual set and the set of all grid
    #: languages, ``full`` only, ``mono`` only, ``held_out``: for each grid language, the set of the
    #: others, evaluated on it (zero-shot); ``mono+pair+full``: as ``mono+full`` plus the paper's fr+de.
    cells: Literal["all", "mono+full", "mono+pair+full", "full", "mono", "held_out"] = "mono+full"
    description: str = ""


def overlay(name: str) -> dict[str, Any]:
    """The dotted keys of ``params/overlays/<name>.yaml``: a config overlay shared by a kind and a profile."""
    raw: dict[str, Any] = {}
    for _, layer in params_layers(find_params_dir() / "overlays" / f"{name}.yaml"):  # its includes first
        raw = merge(raw, layer)
    return _flat(raw)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


#: The method from a pretrained checkpoint on 2 CPU cores (kind ``e5``; profile ``pretrained_cpu``
#: includes the same file); see docs/choices.md#kind-e5.
E5_CPU: dict[str, Any] = overlay("e5_cpu")

KINDS: dict[str, Kind] = {
    "method": Kind(cells="all", description="the paper's method: per-language encoders, Hadamard, alignment"),
    # ---- baselines
    "tfidf": Kind(trainer="tfidf", cells="mono",
                  description="TF-IDF word+char n-grams of query, title and their product → logistic regression, per language"),
    "use": Kind(trainer="use", description="frozen Universal Sentence Encoder Multilingual + shared Hadamard→MLP classifier"),
    "e5_frozen": Kind(trainer="e5", description="frozen multilingual-e5-small sentence vectors + shared Hadamard→MLP classifier"),
    # sized for 2 CPU cores; `python -m mlsearch pretrained e5-small` makes models/e5-small (docs/choices.md#kind-e5)
    "e5": Kind(E5_CPU, description="the method, every encoder started from multilingual-e5-small (first 2 layers, token table frozen)"),
    # all 12 layers of e5-small, the bottom 10 cached (mlsearch/prefix.py); docs/choices.md#kind-e5_full
    "e5_full": Kind(overlay("e5_full"), cells="mono+pair+full", description="the method from the whole multilingual-e5-small (bottom 10 layers "
                                                    "frozen and cached, top 2 trained), joint recipe chosen on validation"),
    "cross": Kind(overlay("cross"), description="cross-encoder: query and title as one sequence through the whole "
                                                "multilingual-e5-small (top 2 layers trained), a head on the pooled vector"),
    "shared": Kind({"model.encoders": "shared", "model.shared_vocab": True},
                   description="one query and one title encoder for all languages, one vocabulary"),
    # ---- the paper's bare model, and each of the levers that make it learn, turned off one at a time
    "paper_strict": Kind({"model.tie_embeddings": False, "model.tie_projection": False, "model.subword_buckets": 0,
                          "model.similarity": "none", "model.interaction": "none", "model.term_weights": False, "train.lr_schedule": "constant", "train.warmup_share": 0.0},
                         description="the paper's model without our levers: separate token tables, no n-grams, "
                                     "MLP-only classifier (no cosine, no late interaction), constant learning rate"),
    "no_subword": Kind({"model.subword_buckets": 0}, description="no hashed character n-grams"),
    "untied": Kind({"model.tie_embeddings": False, "model.tie_projection": False},
                   description="separate token tables and projections for queries and titles"),
    "no_similarity": Kind({"model.similarity": "none"}, description="MLP over q ⊙ t only (no cosine path to the logit)"),
    "no_interaction": Kind({"model.interaction": "none"},
                           description="pooled vectors only (no late interaction: MaxSim of query and title tokens)"),
    "no_term_weights": Kind({"model.term_weights": False},
                            description="late interaction without learned query-term weights (mean and minimum only)"),
    # off by default: no gain in validation F1 (docs/choices.md#trainpretrain_epochs)
    "pretrain": Kind({"train.pretrain_epochs": 3},
                     description="+ masked-token pre-training of each language's encoders on its own training text (3 epochs)"),
    "constant_lr": Kind({"train.lr_schedule": "constant", "train.warmup_share": 0.0},
                        description="constant learning rate (no warm-up, no decay)"),
    # ---- ablations of the method
    "no_align": Kind({"train.alignment": "none"}, cells="full", description="joint training without the alignment phase"),
    "product_align": Kind({"train.alignment": "product"}, cells="full", description="product (title) alignment only"),
    "query_align": Kind({"train.alignment": "query"}, cells="full", description="query alignment only"),
    "no_warm": Kind({"train.warm_start": False}, description="no warm start"),
    "concat": Kind({"model.combine": "concat"}, description="concatenation instead of the Hadamard product"),
    "align_l2": Kind({"train.align_loss": "l2"}, cells="full", description="L2 alignment distance (default: contrastive)"),
    "align_cosine": Kind({"train.align_loss": "cosine"}, cells="full",
                         description="cosine alignment distance (default: contrastive)"),
    # ---- zero-shot: eval.languages = [a language not trained on]; its encoders and tokenizer learn
    # from alignment data only (mlsearch.train), its threshold is the training languages' mean
    "zeroshot": Kind(cells="held_out", description="trained on the other languages, evaluated through alignment only"),
}

#: The kinds from the WHOLE pretrained encoder (``make pretrained-kinds``, its own timing record).
PRETRAINED_KINDS = ("e5_full", "cross")


def get_kind(name: str) -> Kind:
    """The registry entry of ``name``; an unknown name is a ConfigError listing the known kinds."""
    if name not in KINDS:
        raise ConfigError(f"unknown model kind {name!r}", "kind", f"use one of {sorted(KINDS)}")
    return KINDS[name]


def apply_kind(cfg: RunConfig) -> RunConfig:
    """``cfg`` with its kind's overrides applied (a new, validated config; ``cfg`` is not changed).

    The kind wins over the same keys set elsewhere: ``kind=no_align`` always trains without alignment.
    """
    kind = get_kind(cfg.kind)
    if not kind.overrides:
        return dataclasses.replace(cfg)
    return from_dict(merge(cfg.to_dict(), dotted_to_nested(kind.overrides))).validate()


def check_kinds(names: list[str]) -> list[str]:
    """``names`` if every one is a known kind (no duplicates), else a ConfigError naming the bad ones."""
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ConfigError(f"unknown model kind(s) {unknown}", "grid.kinds", f"use names from {sorted(KINDS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicated kind(s) in {names}", "grid.kinds", "list each kind once")
    return list(names)


def alignment_kinds() -> dict[str, str]:
    """``{kind: train.align_loss}`` of the method and of every kind that changes only the alignment
    objective: what the study's objective sweep and its plots compare."""
    out = {"method": TrainConfig().align_loss}
    out |= {name: k.overrides["train.align_loss"] for name, k in KINDS.items() if set(k.overrides) == {"train.align_loss"}}
    return out
