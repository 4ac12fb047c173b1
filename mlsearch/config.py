"""Run configuration: dataclasses filled from layered YAML files, strictly validated.

``load_config(["params/base.yaml", "params/quick.yaml"], overrides={"seed": 1})`` reads each file in
order (a file's ``include: [other.yaml, …]`` first), deep-merges them (later wins), applies dotted overrides (``"train.epochs": 3``) and builds a
:class:`RunConfig`. Unknown keys and wrongly typed values are a :class:`ConfigError` naming the key
and the file, so a typo never silently falls back to a default.

Choices that the paper leaves open are ours. Each key below says in a line or two what it is and why
its default; the evidence behind a choice (measured numbers, what was tried, references) lives in
``docs/choices.md``, one section per key, which the key's comment links.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from mlsearch.errors import ConfigError

#: Language codes the package knows (the benchmark's six; ESCI uses en, es, ja).
KNOWN_LANGUAGES = ("en", "de", "fr", "it", "es", "ja")
#: The paper's five (European marketplaces); the default language pool of the grid.
PAPER_LANGUAGES = ("en", "de", "fr", "it", "es")


@dataclass
class DataConfig:
    """Where the pairs come from and, for the embedded benchmark, how it is generated."""

    #: ``benchmark`` (embedded, offline), ``esci`` (Shopping Queries Dataset files), ``pairs`` (own files).
    source: Literal["benchmark", "esci", "pairs"] = "benchmark"
    #: Languages the dataset holds (a model trains on a subset of them); default: all six known.
    languages: list[str] = field(default_factory=lambda: list(KNOWN_LANGUAGES))
    #: Seed of the benchmark generator (esci, pairs: of the validation carve-out / split by query); fixed
    #: across training seeds so every model sees the same data.
    seed: int = 0
    #: Folder for generated/downloaded data (cached parquet); relative to the working directory.
    cache_dir: str = "data_cache"
    # --- embedded benchmark sizes (set by the profiles in params/; see mlsearch/data/BENCHMARK.md) ---
    #: Training queries per language; unequal by default ("limited data per language").
    train_queries: dict[str, int] = field(
        default_factory=lambda: {"en": 240, "de": 200, "fr": 160, "it": 120, "es": 140, "ja": 120}
    )
    #: Validation queries per language (equal across languages, like the test queries).
    valid_queries: int = 60
    #: Test queries per language; equal, so test F1 is comparable across languages.
    test_queries: int = 120
    #: Products in the catalogue per language (before cross-listing).
    products_per_language: int = 800
    #: Share of products cross-listed in several languages (the source of product alignment).
    cross_listed_share: float = 0.3
    #: Labelled candidate products per query (positives + hard + easy negatives).
    candidates_per_query: int = 8
    #: Share of labels flipped (train and valid only), standing in for annotator disagreement.
    label_noise: float = 0.03
    # --- real data ---
    #: ESCI: folder holding the two official parquet files (or where to download them).
    esci_dir: str = "data_cache/esci"
    #: ESCI: use the 'small' version (task 1) instead of 'large'.
    esci_small_version: bool = True
    #: ESCI labels that count as a match: "E" (Exact, default) or "ES" (Exact + Substitute).
    esci_positive: Literal["E", "ES"] = "E"
    #: ESCI: allow downloading the files when they are missing (off: only files already there are read).
    esci_download: bool = False
    #: Pairs source: a CSV/TSV/parquet file with lang, query, title, label (see README).
    pairs_file: str = ""
    #: Pairs source, optional: a mapping file of the titles of one product in two languages.
    product_map_file: str = ""
    #: Pairs source, optional: a mapping file of queries in two languages that led to the same product.
    query_map_file: str = ""
    #: Pairs source: a ``product_id`` shared by titles of two languages is a product mapping, and two
    #: languages' training queries matching one ``product_id`` a query mapping (added to the files').
    id_mappings: bool = True
    #: Share of training queries carved out for validation when a source has no validation split.
    valid_share: float = 0.1
    # --- less data from the same dataset (any source; mlsearch/data/subsample.py), for the study ---
    #: Share of each language's training queries kept (whole queries, nested across shares; valid and
    #: test untouched); 1.0: all. ``train_share_by_language`` overrides it for single languages.
    train_share: float = 1.0
    #: ``train_share`` of single languages (language → share); empty: ``train_share`` for every language.
    train_share_by_language: dict[str, float] = field(default_factory=dict)
    #: Share of product mappings kept per language pair (nested across shares); 1.0: all.
    product_alignment_share: float = 1.0
    #: Share of query mappings kept per language pair (nested across shares); 1.0: all.
    query_alignment_share: float = 1.0


@dataclass
class ModelConfig:
    """Encoders and classifier. The paper gives no sizes; ours are small (limited data per language)."""

    #: ``two_tower``: the paper's query and title encoders; ``cross``: one encoder reads query and title as
    #: one sequence (kind ``cross``, a baseline; see mlsearch/model.py CrossModel).
    architecture: Literal["two_tower", "cross"] = "two_tower"
    #: ``per_language``: the paper's 2 encoders per language; ``shared``: one query and one title
    #: encoder for all languages (baseline 4).
    encoders: Literal["per_language", "shared"] = "per_language"
    #: Transformer width (BERT-style encoder from ``transformers``); the default sizes (64, 2 layers,
    #: 4 heads, ff 256) suit a few thousand pairs per language on a CPU (params/pairs.yaml).
    d_model: int = 64
    #: Transformer layers per encoder.
    layers: int = 2
    #: Attention heads per layer (must divide ``d_model``).
    heads: int = 4
    #: Feed-forward size of each transformer layer.
    ff_dim: int = 256
    #: Dropout in the encoders and the classifier; 0.2 did not help (docs/choices.md#modelterm_weights).
    dropout: float = 0.1
    #: Maximum token length of queries (longer text is truncated).
    query_len: int = 16
    #: Maximum token length of titles (longer text is truncated).
    title_len: int = 48
    #: Word-piece vocabulary size per tokenizer.
    vocab_size: int = 8000
    #: Default False: one tokenizer per language, as the paper's per-language encoders suggest;
    #: True trains one tokenizer on all training languages (used by the shared-encoder baseline).
    shared_vocab: bool = False
    # --- levers: ours, not the paper's (kind paper_strict turns them all off); see docs/choices.md#levers ---
    #: The query and title encoders of one language share their token table (their transformer layers
    #: stay separate): the same word starts from the same vector on both sides; see docs/choices.md#levers.
    tie_embeddings: bool = True
    #: Option (not the paper's): the query and title encoders of one language also share their final
    #: projection, so that with tied token tables the same text starts as the same vector on both sides.
    tie_projection: bool = True
    #: Hashed character n-grams (DSSM / fastText subword buckets) added to each token's vector, so typos,
    #: plurals and compounds share parameters; buckets, 0: off. See docs/choices.md#modelsubword_buckets.
    subword_buckets: int = 8192
    #: [min n, max n] of the hashed character n-grams of ``subword_buckets``.
    subword_ngrams: list[int] = field(default_factory=lambda: [3, 5])
    #: The cosine (or dot product) of q and t also reaches the logit, next to the MLP over q ⊙ t
    #: (``none``: the paper's classifier); see docs/choices.md#modelsimilarity.
    similarity: Literal["none", "dot", "cosine"] = "cosine"
    #: Late interaction (ColBERT MaxSim) next to the pooled vectors; see docs/choices.md#modelinteraction.
    interaction: Literal["none", "maxsim"] = "maxsim"
    #: Learned query-term weights (a contextual stand-in for IDF) for late interaction; only with
    #: ``interaction: maxsim``. See docs/choices.md#modelterm_weights.
    term_weights: bool = True
    #: Pooling over non-padding tokens (``mean``: ours, not the paper's).
    pooling: Literal["mean", "cls"] = "mean"
    #: Shared representation size after projection (the Hadamard product lives here).
    proj_dim: int = 64
    #: Classifier: first layer combines query and title (paper: Hadamard), then an MLP.
    combine: Literal["hadamard", "concat"] = "hadamard"
    #: Hidden layer widths of the classifier's MLP (an empty list: no hidden layer).
    classifier_hidden: list[int] = field(default_factory=lambda: [64])
    #: A pretrained encoder checkpoint (hub id or local folder) to start every encoder from; empty: from
    #: scratch. See docs/choices.md#modelpretrained.
    pretrained: str = ""
    #: With ``pretrained``: keep only the first k transformer layers (0: all). Fewer layers make a
    #: 12-layer checkpoint affordable on CPU; the lower layers carry most lexical knowledge.
    keep_layers: int = 0
    #: With ``pretrained``: freeze the token table (default: fine-tune it).
    freeze_embeddings: bool = False
    #: With ``pretrained``: freeze the first k transformer layers (0: none).
    freeze_layers: int = 0
    #: With ``pretrained``, ``freeze_embeddings`` and ``freeze_layers``: compute the frozen layers once per
    #: text and train only the layers above (mlsearch/prefix.py); false: run them every step.
    prefix_cache: bool = True
    #: Subtract a running mean of the encoder's output vectors (model.Centre): a pretrained encoder's
    #: upper layers share one large component that saturates the cosine paths; see docs/choices.md#kind-e5_full.
    centre: bool = False


@dataclass
class TrainConfig:
    """The paper's procedure: warm start, then epochs of classification + alignment."""

    #: Epochs of classification + alignment. Paper: "15–20 epochs were enough".
    epochs: int = 15
    #: Training pairs per classification step (a batch holds one language's pairs).
    batch_size: int = 64
    #: AdamW learning rate (with ``model.pretrained``: of the new weights); profiles set their own.
    lr: float = 1e-3
    #: AdamW weight decay; 0.05 did not help (docs/choices.md#modelterm_weights).
    weight_decay: float = 0.01
    #: Learning-rate schedule over all optimisation steps (warm start included): ``constant``, or a
    #: linear warm-up then cosine decay to 0 (``cosine``, a lever: see docs/choices.md#levers).
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    #: Share of the steps the ``cosine`` schedule warms up over.
    warmup_share: float = 0.1
    #: Learning rate of the pretrained encoders' weights (``model.pretrained``); 0: ``lr``. Pretrained
    #: weights are usually fine-tuned 10–100× slower than new ones (projections, classifier).
    pretrained_lr: float = 0.0
    #: Early stopping: end the run when validation has not improved for this many epochs (0: off;
    #: quick's 6 epochs are too few for it to pay).
    patience: int = 0
    #: Option (not the paper's): epochs of masked-token pre-training before the warm start; 0: off, as it
    #: did not help on validation. See docs/choices.md#trainpretrain_epochs.
    pretrain_epochs: int = 0
    #: Warm start on one randomly chosen (seeded, recorded) language, classification only.
    warm_start: bool = True
    #: Epochs of the warm start.
    warm_start_epochs: int = 1
    #: Which alignment data to use: both (paper), product only, query only, none (ablation).
    alignment: Literal["both", "product", "query", "none"] = "both"
    #: Alignment objective (the paper names none); ``contrastive`` because ``l2`` and ``cosine``
    #: collapsed the space. See docs/choices.md#trainalign_loss.
    align_loss: Literal["l2", "cosine", "contrastive"] = "contrastive"
    #: Weight of the alignment loss in the alignment phase (1.0: unscaled).
    align_weight: float = 1.0
    #: Mapped pairs per alignment step (the contrastive loss's in-batch negatives are the others).
    align_batch_size: int = 64
    #: Temperature of the contrastive (in-batch negatives) alignment loss.
    temperature: float = 0.1
    #: ``auto`` picks CUDA when present, else CPU.
    device: str = "auto"
    #: bf16 autocast on CUDA (ignored on CPU).
    bf16: bool = True
    #: ``torch.compile`` the encoders (dynamic shapes). Costs compile time in every process, so it
    #: pays only for long runs; off by default. Numbers may differ from eager in the last digits.
    compile: bool = False
    #: CPU threads for torch (0: leave torch's default).
    num_threads: int = 0
    #: Model selection on validation F1 of the match class, averaged over training languages (or loss).
    select_on: Literal["f1", "loss"] = "f1"
    #: Checkpoint every epoch, so a stopped run resumes (a NaN/inf loss stops a run either way).
    checkpoint: bool = True


@dataclass
class EvalConfig:
    """Evaluation: metrics of the match class; threshold chosen on validation only."""

    #: Languages to evaluate on; empty means the model's training languages.
    languages: list[str] = field(default_factory=list)
    #: Resamples (of queries) of the bootstrap 95% interval of F1; 0: no intervals.
    bootstrap: int = 1000
    #: Write each run's predictions (``predictions.parquet``) next to its metrics.
    save_predictions: bool = True


@dataclass
class GridConfig:
    """The language grid: every non-empty subset of ``languages`` up to ``max_languages``."""

    #: Languages of the grid; default the paper's five (add ja for all 63 subsets).
    languages: list[str] = field(default_factory=lambda: list(PAPER_LANGUAGES))
    #: Largest language set in the grid (5: up to all five).
    max_languages: int = 5
    #: Training seeds; every cell trains one model per seed.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: Model kinds the grid runs (``mlsearch.kinds.KINDS``): ``method`` on every language set, each
    #: other kind on the cells its registry entry names (monolingual sets and/or all grid languages).
    kinds: list[str] = field(default_factory=lambda: ["method"])
    #: Cells run at once (``-j`` overrides it; with several GPUs, one per GPU).
    jobs: int = 1


@dataclass
class RunConfig:
    """Everything one run needs. ``profile`` names the results folder (tiny, quick, full, esci…)."""

    #: Profile name (``params/<profile>.yaml``); names the results folder ``<results>/<source>/<profile>/``.
    profile: str = "quick"
    #: Training languages of this model (a subset of ``data.languages``).
    languages: list[str] = field(default_factory=lambda: ["en"])
    #: Training seed (initialisation, batch order, warm-start language); the data has ``data.seed``.
    seed: int = 0
    #: Model kind: the method, or a baseline/ablation name (see ``mlsearch.kinds``).
    kind: str = "method"
    #: Results root; run folders go under ``<results>/<source>/<profile>/``.
    results_dir: str = "results"
    #: Study runs only (mlsearch/study.py): the folder of this run's data point under
    #: ``<results>/<source>/<profile>/study/runs/``; empty for the language grid.
    point: str = ""
    #: Data source and, for the benchmark, its generation (:class:`DataConfig`).
    data: DataConfig = field(default_factory=DataConfig)
    #: Encoders and classifier (:class:`ModelConfig`).
    model: ModelConfig = field(default_factory=ModelConfig)
    #: Training procedure (:class:`TrainConfig`).
    train: TrainConfig = field(default_factory=TrainConfig)
    #: Evaluation (:class:`EvalConfig`).
    eval: EvalConfig = field(default_factory=EvalConfig)
    #: The language grid (:class:`GridConfig`).
    grid: GridConfig = field(default_factory=GridConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> RunConfig:
        """Cross-field checks that types alone cannot express."""
        _check_languages(self.data.languages, "data.languages")
        _check_languages(self.languages, "languages")
        _check_languages(self.grid.languages, "grid.languages")
        if self.eval.languages:
            _check_languages(self.eval.languages, "eval.languages")
        missing = [lang for lang in self.languages if lang not in self.data.languages]
        if missing:
            raise ConfigError(
                f"training languages {missing} are not in data.languages {self.data.languages}",
                "languages",
                "add them to data.languages or train on others",
            )
        for key, (low, high, hint) in RANGES.items():
            values = _values(self, key)
            for name, value in values.items():
                if not _in_range(value, low, high):
                    raise ConfigError(f"{name} must be {_range_text(low, high)}, got {value}", name, hint)
        if self.train.pretrain_epochs and self.model.pretrained:
            raise ConfigError(
                "train.pretrain_epochs pre-trains encoders built from scratch; model.pretrained names a pre-trained one",
                "train.pretrain_epochs", "set train.pretrain_epochs=0 or drop model.pretrained",
            )
        if self.model.architecture == "cross" and (self.train.alignment != "none" or self.train.pretrain_epochs):
            raise ConfigError(
                "a cross-encoder (model.architecture: cross) has no query or title vectors to align or pre-train",
                "model.architecture", "set train.alignment=none and train.pretrain_epochs=0, or use two_tower",
            )
        if self.model.pretrained and self.model.subword_buckets:
            raise ConfigError(
                "model.subword_buckets adds n-gram rows to a token table built from scratch; model.pretrained brings its own",
                "model.subword_buckets", "set model.subword_buckets=0 with model.pretrained",
            )
        if not self.model.pretrained and (self.model.keep_layers or self.model.freeze_layers or self.model.freeze_embeddings):
            raise ConfigError(
                "model.keep_layers, freeze_layers and freeze_embeddings apply to a pretrained encoder",
                "model.pretrained", "name a checkpoint in model.pretrained or leave those at 0/false",
            )
        if self.model.keep_layers and self.model.freeze_layers > self.model.keep_layers:
            raise ConfigError(
                f"model.freeze_layers ({self.model.freeze_layers}) exceeds model.keep_layers ({self.model.keep_layers})",
                "model.freeze_layers", "freeze at most the layers kept",
            )
        ngrams = self.model.subword_ngrams
        if len(ngrams) != 2 or not 1 <= ngrams[0] <= ngrams[1]:
            raise ConfigError(
                f"model.subword_ngrams must be [min n, max n] with 1 <= min <= max, got {ngrams}",
                "model.subword_ngrams", "write e.g. [3, 5]",
            )
        if self.model.d_model % self.model.heads:
            raise ConfigError(
                f"model.d_model ({self.model.d_model}) is not divisible by model.heads ({self.model.heads})",
                "model.heads",
                "choose heads that divide d_model",
            )
        self._check_zero_shot()
        if self.data.train_share_by_language:
            _check_languages(list(self.data.train_share_by_language), "data.train_share_by_language")
        if not 1 <= self.grid.max_languages <= len(self.grid.languages):
            raise ConfigError(
                f"grid.max_languages must be in 1..{len(self.grid.languages)}, got {self.grid.max_languages}",
                "grid.max_languages",
                "lower it or add languages to grid.languages",
            )
        return self

    def _check_zero_shot(self) -> None:
        """Evaluation languages outside the training languages are zero-shot, which kind ``zeroshot`` is for.

        (The converse, a zeroshot run without such a language, is refused by ``run.train_and_evaluate``:
        a grid's config names kind zeroshot before its cells add the held-out languages.)"""
        unseen = [lang for lang in self.eval.languages if lang not in self.languages]
        if unseen and self.kind != "zeroshot":
            raise ConfigError(
                f"evaluation on {unseen}, not among the training languages, is zero-shot", "eval.languages",
                "set kind=zeroshot (its encoders then learn from alignment data only) or evaluate on training languages",
            )
        if unseen and self.model.encoders == "shared":
            raise ConfigError("zero-shot needs per-language encoders", "model.encoders", "set model.encoders=per_language")
        if self.model.encoders == "shared" and not (self.model.shared_vocab or self.model.pretrained):
            raise ConfigError("model.encoders=shared needs one vocabulary for all languages", "model.shared_vocab",
                              "set model.shared_vocab=true")


#: Valid range of every numeric key: (low, high, what to do); a bound is ``(value, inclusive)`` or None.
#: Dict-valued keys (``data.train_queries``) and list-valued ones (``grid.seeds``) are checked per entry.
_POS = ((0, False), None)
_NONNEG = ((0, True), None)
_SHARE = ((0.0, True), (1.0, True))
RANGES: dict[str, tuple[tuple[float, bool] | None, tuple[float, bool] | None, str]] = {
    "seed": (*_NONNEG, "use a seed >= 0"),
    "data.seed": (*_NONNEG, "use a seed >= 0"),
    "data.train_queries": (*_POS, "give each language at least one training query"),
    "data.valid_queries": (*_POS, "use at least one validation query"),
    "data.test_queries": (*_POS, "use at least one test query"),
    "data.products_per_language": (*_POS, "use at least one product per language"),
    "data.candidates_per_query": ((2, True), None, "use at least 2 candidates (a match and a non-match)"),
    "data.cross_listed_share": (*_SHARE, "use a share"),
    "data.label_noise": ((0.0, True), (0.5, False), "use a share below 0.5 (at 0.5 labels carry no information)"),
    "data.valid_share": ((0.0, True), (1.0, False), "use a share of the training queries below 1"),
    "data.train_share": ((0.0, False), (1.0, True), "keep a positive share of the training queries"),
    "data.train_share_by_language": ((0.0, False), (1.0, True), "keep a positive share of the training queries"),
    "data.product_alignment_share": (*_SHARE, "use a share"),
    "data.query_alignment_share": (*_SHARE, "use a share"),
    "model.d_model": (*_POS, "set a value > 0"),
    "model.layers": (*_POS, "set a value > 0"),
    "model.heads": (*_POS, "set a value > 0"),
    "model.ff_dim": (*_POS, "set a value > 0"),
    "model.dropout": ((0.0, True), (1.0, False), "use a probability below 1"),
    "model.query_len": ((2, True), None, "allow at least [CLS] and one token"),
    "model.title_len": ((2, True), None, "allow at least [CLS] and one token"),
    "model.vocab_size": (*_POS, "set a value > 0"),
    "model.subword_buckets": (*_NONNEG, "set 0 (off) or a positive number"),
    "model.proj_dim": (*_POS, "set a value > 0"),
    "model.classifier_hidden": (*_POS, "use positive layer widths (an empty list: no hidden layer)"),
    "model.keep_layers": (*_NONNEG, "set 0 (all layers) or the number of layers to keep"),
    "model.freeze_layers": (*_NONNEG, "set 0 (none) or the number of lower layers to freeze"),
    "train.epochs": (*_POS, "set a value > 0"),
    "train.batch_size": (*_POS, "set a value > 0"),
    "train.lr": ((0.0, False), (1.0, True), "use a learning rate in (0, 1], e.g. 0.001"),
    "train.pretrained_lr": ((0.0, True), (1.0, True), "use 0 (same as train.lr) or a learning rate in (0, 1], e.g. 3e-5"),
    "train.weight_decay": (*_NONNEG, "use 0 or a small positive value"),
    "train.warmup_share": ((0.0, True), (1.0, False), "use a share of the steps"),
    "train.patience": (*_NONNEG, "set 0 (off) or a positive number"),
    "train.pretrain_epochs": (*_NONNEG, "set 0 (off) or a positive number"),
    "train.warm_start_epochs": (*_NONNEG, "set 0 or a positive number"),
    "train.align_weight": (*_NONNEG, "use 0 or a positive weight"),
    "train.align_batch_size": ((2, True), None, "use at least 2 (the contrastive loss needs in-batch negatives)"),
    "train.temperature": ((0.0, False), None, "use a positive temperature, e.g. 0.1"),
    "train.num_threads": (*_NONNEG, "set 0 (torch's default) or a positive number"),
    "eval.bootstrap": (*_NONNEG, "set 0 (no intervals) or a number of resamples"),
    "grid.seeds": (*_NONNEG, "use seeds >= 0"),
    "grid.jobs": (*_POS, "use 1 or more"),
}


def _values(cfg: RunConfig, key: str) -> dict[str, float]:
    """The value(s) of a dotted key, by full name (entries of dicts and lists are checked one by one)."""
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, dict):
        return {f"{key}.{k}": v for k, v in obj.items()}
    if isinstance(obj, list):
        return {f"{key}[{i}]": v for i, v in enumerate(obj)}
    return {key: obj}


def _in_range(value: float, low, high) -> bool:
    if isinstance(value, float) and value != value:  # NaN is in no range
        return False
    if low is not None and (value < low[0] or (value == low[0] and not low[1])):
        return False
    return not (high is not None and (value > high[0] or (value == high[0] and not high[1])))


def _range_text(low, high) -> str:
    if high is None:
        return {(0, False): "positive", (0, True): "0 or positive"}.get(low, f">= {low[0]:g}" if low[1] else f"> {low[0]:g}")
    return f"in {'[' if low[1] else '('}{low[0]:g}, {high[0]:g}{']' if high[1] else ')'}"


def _check_languages(langs: list[str], key: str) -> None:
    if not langs:
        raise ConfigError("empty language list", key, f"name at least one of {list(KNOWN_LANGUAGES)}")
    unknown = [lang for lang in langs if lang not in KNOWN_LANGUAGES]
    if unknown:
        raise ConfigError(
            f"unknown language code(s) {unknown}", key, f"use codes from {list(KNOWN_LANGUAGES)}"
        )
    dupes = sorted({lang for lang in langs if langs.count(lang) > 1})
    if dupes:
        raise ConfigError(f"duplicated language code(s) {dupes}", key, "list each language once")


# --------------------------------------------------------------------------- loading


def find_params_dir() -> Path:
    """The repository's ``params/`` folder (next to the package), or ``./params``."""
    here = Path(__file__).resolve().parent.parent / "params"
    return here if here.is_dir() else Path.cwd() / "params"


def profile_files(profile: str) -> list[Path]:
    """``params/base.yaml`` + ``params/<profile>.yaml``: the layered files of a named profile."""
    pdir = find_params_dir()
    path = pdir / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in pdir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"no profile named {profile!r}", str(path), f"use one of {known}")
    return [pdir / "base.yaml", path]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """One params file as a mapping; unreadable or non-mapping files are a ConfigError."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("params file does not exist", str(p), "check the path")
    if p.is_dir():
        raise ConfigError("params path is a directory, not a file", str(p), "name a .yaml file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse YAML: {str(exc).splitlines()[0]}", str(p), "fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("params file must hold a mapping of keys", str(p), "write `key: value` lines")
    return data


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def dotted_to_nested(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"train.epochs": 3}`` → ``{"train": {"epochs": 3}}``."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def load_config(
    files: list[str | Path] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Build a validated RunConfig from layered YAML files and dotted overrides."""
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f, layer in (pair for path in files or [] for pair in params_layers(Path(path))):
        for key in _flat_keys(layer):
            sources[key] = str(f)
        raw = merge(raw, layer)
    if overrides:
        layer = dotted_to_nested(overrides)
        for key in _flat_keys(layer):
            sources[key] = "override"
        raw = merge(raw, layer)
    return from_dict(raw, sources).validate()


def params_layers(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """A params file as ``(file, mapping)`` layers: first the files its ``include:`` list names
    (relative to its folder, in order, each with its own includes), then its own keys."""
    layer = read_yaml(path)
    includes = layer.pop("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError("include must be a list of params files", str(path), "write include: [quick.yaml, overlays/x.yaml]")
    if path.resolve() in seen:
        raise ConfigError("params files include each other in a circle", str(path), "remove one of the includes")
    out = []
    for name in includes:
        out += params_layers(path.parent / name, (*seen, path.resolve()))
    return [*out, (path, layer)]


def from_dict(raw: dict[str, Any], sources: dict[str, str] | None = None) -> RunConfig:
    """A RunConfig from a plain (nested) mapping, e.g. a saved ``config.json``."""
    return _build(RunConfig, raw, "", sources or {})


def _flat_keys(d: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for k, v in d.items():
        full = f"{prefix}{k}"
        keys.append(full)
        if isinstance(v, dict):
            keys.extend(_flat_keys(v, full + "."))
    return keys


def _build(cls: type, raw: Any, prefix: str, sources: dict[str, str]) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(raw).__name__}", sources.get(where))
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        full = f"{prefix}{key}"
        if key not in names:
            close = [n for n in names if n.startswith(str(key)[:3])]
            hint = f"did you mean {prefix + close[0]!r}?" if close else f"known keys: {sorted(names)}"
            raise ConfigError(f"unknown parameter {full!r}", sources.get(full, "params"), hint)
        kwargs[key] = _coerce(hints[key], value, full, sources)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, sources: dict[str, str]) -> Any:
    origin = get_origin(tp)
    where = sources.get(key, "params")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", sources)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(
                f"{key} must be one of {list(get_args(tp))}, got {value!r}", where, "pick an allowed value"
            )
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(arg, value, key, sources)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"{key} has a wrong type", where)
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}", where, "write [a, b, ...]")
        return [_coerce(item, v, f"{key}[{i}]", sources) for i, v in enumerate(value)]
    if origin is dict:
        kt, vt = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}", where, "write {k: v, ...}")
        return {_coerce(kt, k, key, sources): _coerce(vt, v, f"{key}.{k}", sources) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}", where, "write true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}", where, "write a whole number")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}", where, "write a number like 0.5")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}", where, "quote the value")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")
