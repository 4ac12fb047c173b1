"""The training procedure end to end on a tiny separable dataset (CPU, seconds)."""

import json

import pandas as pd
import pytest
import torch
from synthetic_pairs import make_dataset, tiny_config, train_killed_after

from mlsearch import losses
from mlsearch.errors import ConfigError, TrainingError
from mlsearch.run import train_and_evaluate

torch.set_num_threads(1)


@pytest.mark.slow  # about 4 s: 200 queries, 12 epochs
def test_learns_a_separable_task(tmp_path):
    ds = make_dataset(("en",), queries=200, n_words=6)
    over = {"train.epochs": 12, "train.batch_size": 32, "model.d_model": 32, "model.proj_dim": 32}
    cfg = tiny_config(["en"], **over)
    m = train_and_evaluate(cfg, tmp_path, ds, progress=False)
    assert m["eval"]["en"]["f1"] > 0.95, m["eval"]
    assert m["eval"]["en"]["f1_ci_low"] <= m["eval"]["en"]["f1"] <= m["eval"]["en"]["f1_ci_high"]
    assert m["warm_start_language"] == "en" and 1 <= m["best_epoch"] <= 12


@pytest.mark.slow  # three models
def test_run_folder_and_same_seed_gives_identical_metrics_bytes(tmp_path):
    ds = make_dataset(("en", "de"))
    cfg = tiny_config(["de", "en"], **{"model.dropout": 0.1})
    train_and_evaluate(cfg, tmp_path / "a", ds, progress=False)
    train_and_evaluate(cfg, tmp_path / "b", ds, progress=False)
    a = tmp_path / "a"
    for name in ("metrics.json", "run_info.json", "config.json", "curves.csv", "predictions.parquet",
                 "checkpoints/last.safetensors", "checkpoints/last.json", "tokenizers/en.json"):
        assert (a / name).is_file(), name
    assert (a / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    m = json.loads((a / "metrics.json").read_text())
    assert m["model"] == "en+de" and m["train_languages"] == ["de", "en"] and set(m["eval"]) == {"de", "en"}
    for key in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "threshold", "f1_ci_low", "n_pairs"):
        assert key in m["eval"]["en"]
    assert m["eval"]["en"]["threshold"] == m["valid"]["en"]["threshold"]  # threshold from validation
    curves = pd.read_csv(a / "curves.csv")
    assert {"warm", "classify", "align_product", "align_query", "valid"} <= set(curves["phase"])
    preds = pd.read_parquet(a / "predictions.parquet")
    assert list(preds.columns) == ["lang", "query_id", "product_id", "label", "score"]
    assert len(preds) == m["eval"]["en"]["n_pairs"] + m["eval"]["de"]["n_pairs"]
    # another seed: other warm-start draw sequence, other numbers
    m2 = train_and_evaluate(tiny_config(["de", "en"], seed=5), tmp_path / "c", ds, progress=False)
    assert m2["eval"] != m["eval"]


@pytest.mark.slow  # five models
def test_warm_start_language_is_seeded_and_recorded(tmp_path):
    ds = make_dataset(("en", "de", "fr"), queries=8)
    seen = set()
    for seed in range(4):
        cfg = tiny_config(["en", "de", "fr"], seed=seed, **{"train.epochs": 1, "train.alignment": "none"})
        m = train_and_evaluate(cfg, tmp_path / str(seed), ds, progress=False)
        curves = pd.read_csv(tmp_path / str(seed) / "curves.csv")
        assert curves.loc[curves["phase"] == "warm", "language"].tolist() == [m["warm_start_language"]]
        import random

        assert m["warm_start_language"] == random.Random(seed).choice(["de", "en", "fr"])
        seen.add(m["warm_start_language"])
    assert len(seen) > 1
    cfg = tiny_config(["en"], **{"train.epochs": 1, "train.warm_start": False})
    m = train_and_evaluate(cfg, tmp_path / "nowarm", make_dataset(("en",), queries=8), progress=False)
    assert m["warm_start_language"] is None


@pytest.mark.slow
@pytest.mark.parametrize("align_loss", ["cosine", "contrastive"])
def test_alignment_phase_pulls_mapped_encodings_together(tmp_path, align_loss):
    """Distance form: mapped titles get closer. Contrastive form: a title's mapped title becomes its
    nearest neighbour among the other language's titles (what the distance form cannot promise)."""
    from mlsearch.embeddings import retrieval_accuracy
    from mlsearch.inference import load_run

    ds = make_dataset(("en", "de"), queries=10)
    t = ds.alignment("product", "de", "en")
    dist, top1 = {}, {}
    for al in ("none", "both"):
        # term weights off: they weaken alignment on this tiny task (title top-1 0.17, 0.17, 0.92 for seeds
        # 0-2 against 0.75, 0.67, 1.0 without; on quick, five languages, 0.875 against 0.902); this test is
        # about the alignment objectives
        cfg = tiny_config(["en", "de"], **{"train.epochs": 20, "train.alignment": al, "train.align_loss": align_loss,
                                           "model.term_weights": False})
        train_and_evaluate(cfg, tmp_path / al, ds, progress=False)
        s = load_run(tmp_path / al)
        a = s.encode("de", t["text_a"].tolist(), "title")
        b = s.encode("en", t["text_b"].tolist(), "title")
        dist[al] = float(losses.cosine_alignment(torch.tensor(a), torch.tensor(b)))
        top1[al] = retrieval_accuracy(a, b)["top1"]
    if align_loss == "cosine":
        assert dist["both"] < 0.5 * dist["none"], dist
    else:
        assert top1["both"] >= 0.5 and top1["both"] > top1["none"] + 0.25, top1


def test_nan_loss_is_a_training_error_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    ds = make_dataset(("en",), queries=8)
    cfg = tiny_config(["en"])
    real = losses.classification_loss
    calls = {"n": 0}

    def flaky(logits, labels, reduction="mean"):
        calls["n"] += 1
        out = real(logits, labels, reduction)
        return out * float("nan") if calls["n"] > 3 else out

    monkeypatch.setattr(losses, "classification_loss", flaky)
    with pytest.raises(TrainingError, match=r"phase classify, epoch 1, step \d"):
        train_and_evaluate(cfg, tmp_path, ds, progress=False)
    meta = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert meta["epoch"] == 0 and not (tmp_path / "metrics.json").exists()


@pytest.mark.slow  # three trainings
def test_resume_after_kill_equals_uninterrupted(tmp_path, monkeypatch):
    ds = make_dataset(("en", "de"), queries=12)
    cfg = tiny_config(["en", "de"], **{"train.epochs": 4, "model.dropout": 0.1})
    full = train_and_evaluate(cfg, tmp_path / "full", ds, progress=False)
    train_killed_after(cfg, tmp_path / "killed", ds, 2)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = train_and_evaluate(cfg, tmp_path / "killed", ds, progress=False)
    info = json.loads((tmp_path / "killed" / "run_info.json").read_text())
    assert info["resumed_from_epoch"] == 2
    assert (tmp_path / "killed" / "metrics.json").read_bytes() == (tmp_path / "full" / "metrics.json").read_bytes()
    assert resumed == full


def test_zero_shot_and_shared_encoder_config_errors(tmp_path):
    ds = make_dataset(("en", "de"), queries=8)
    with pytest.raises(ConfigError, match="zero-shot"):
        train_and_evaluate(tiny_config(["en"], **{"eval.languages": ["de"]}), tmp_path, ds, progress=False)
    with pytest.raises(ConfigError, match="shared_vocab"):
        train_and_evaluate(tiny_config(["en"], **{"model.encoders": "shared"}), tmp_path, ds, progress=False)


@pytest.fixture(scope="module")
def three_languages(tmp_path_factory):
    """The default model on en+de+ja (1 epoch): what each ablation switch is compared with."""
    ds = make_dataset(("en", "de", "ja"), queries=8)
    out = tmp_path_factory.mktemp("default")
    return ds, out, train_and_evaluate(tiny_config(["en", "de", "ja"], **{"train.epochs": 1}), out, ds, progress=False)


def _phases(folder) -> set[str]:
    return set(pd.read_csv(folder / "curves.csv")["phase"])


@pytest.mark.parametrize(
    "over",
    [
        {"model.encoders": "shared", "model.shared_vocab": True},
        {"model.combine": "concat", "model.pooling": "cls", "train.align_loss": "contrastive"},
        {"train.align_loss": "l2", "train.alignment": "product", "model.shared_vocab": True},
    ],
)
def test_ablations_are_config_switches(tmp_path, three_languages, over):
    """Each override changes the model that trains (its shape, its phases) and its numbers."""
    from mlsearch.inference import load_run

    ds, default_dir, default = three_languages
    m = train_and_evaluate(tiny_config(["en", "de", "ja"], **({"train.epochs": 1} | over)), tmp_path, ds, progress=False)
    assert set(m["eval"]) == {"en", "de", "ja"}
    assert m["config_hash"] != default["config_hash"]
    assert [m["eval"][k]["roc_auc"] for k in m["eval"]] != [default["eval"][k]["roc_auc"] for k in m["eval"]]
    model = load_run(tmp_path).model
    tokenizers = {p.stem for p in (tmp_path / "tokenizers").glob("*.json")}
    if over.get("model.shared_vocab"):
        assert tokenizers == {"shared"}
    else:
        assert tokenizers == {"en", "de", "ja"}
    if over.get("model.encoders") == "shared":
        assert set(model.query) == {"shared"} and m["n_parameters"] < default["n_parameters"]
    if over.get("model.combine") == "concat":
        assert model.classifier.mlp[0].in_features == 2 * model.cfg.proj_dim and model.cfg.pooling == "cls"
    if over.get("train.alignment") == "product":
        assert "align_query" not in _phases(tmp_path) and "align_product" in _phases(tmp_path)
        assert {"align_query", "align_product"} <= _phases(default_dir)


@pytest.mark.slow  # three models
def test_rarely_set_training_keys_do_what_they_say(tmp_path, three_languages, monkeypatch):
    """train.select_on, warm_start_epochs, align_weight and weight_decay (no profile sets them)."""
    ds, default_dir, _ = three_languages
    langs = ["en", "de", "ja"]
    m = train_and_evaluate(tiny_config(langs, **{"train.epochs": 3, "train.select_on": "loss"}), tmp_path / "sel", ds, progress=False)
    valid = pd.read_csv(tmp_path / "sel" / "curves.csv").query("phase == 'valid'").groupby("epoch")["loss"].mean()
    assert m["best_epoch"] == int(valid.idxmin())  # selected on validation loss, not F1

    train_and_evaluate(tiny_config(langs, **{"train.epochs": 1, "train.warm_start_epochs": 2, "train.align_weight": 0.0}),
                       tmp_path / "w", ds, progress=False)
    curves = pd.read_csv(tmp_path / "w" / "curves.csv")
    assert (curves["phase"] == "warm").sum() == 2 and (pd.read_csv(default_dir / "curves.csv")["phase"] == "warm").sum() == 1
    align = curves[curves["phase"].str.startswith("align")]["loss"]
    assert len(align) and (align == 0.0).all()  # the alignment objective weighted by 0
    assert (pd.read_csv(default_dir / "curves.csv").query("phase.str.startswith('align')", engine="python")["loss"] > 0).all()

    decays = []
    real_adamw = torch.optim.AdamW
    monkeypatch.setattr(torch.optim, "AdamW", lambda *a, **k: decays.append(k["weight_decay"]) or real_adamw(*a, **k))
    train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1, "train.pretrain_epochs": 1, "train.weight_decay": 0.05}),
                       tmp_path / "wd", ds, progress=False)
    assert decays == [0.05, 0.05]  # the main optimizer and masked-token pre-training's


@pytest.mark.slow
def test_compiled_encoders_learn_the_same_task(tmp_path):
    """train.compile: torch.compile'd encoders (dynamic shapes) train and give eager's numbers closely."""
    ds = make_dataset(("en",), queries=60, n_words=6)
    eager = train_and_evaluate(tiny_config(["en"], **{"train.epochs": 2}), tmp_path / "e", ds, progress=False)
    compiled = train_and_evaluate(tiny_config(["en"], **{"train.epochs": 2, "train.compile": True}), tmp_path / "c", ds, progress=False)
    assert compiled["eval"]["en"]["roc_auc"] == pytest.approx(eager["eval"]["en"]["roc_auc"], abs=0.02)
    assert compiled["config_hash"] == eager["config_hash"]  # compile is how, not what, is trained


def _relabel(ds, lang: str, split: str, label: int):
    """``ds`` with every ``split`` pair of ``lang`` labelled ``label``."""
    from mlsearch.data.dataset import Dataset

    pairs = ds.pairs.copy()
    pairs.loc[(pairs["lang"] == lang) & (pairs["split"] == split), "label"] = label
    return Dataset(ds.name, ds.languages, pairs, ds.product_alignment, ds.query_alignment)


@pytest.mark.parametrize("split", ["train", "valid"])
def test_a_single_class_train_or_valid_split_is_refused_before_training(tmp_path, split):
    from mlsearch.errors import DataError

    ds = _relabel(make_dataset(("en", "de")), "de", split, 1)
    with pytest.raises(DataError, match=f"'de': every {split} pair has label 1") as err:
        train_and_evaluate(tiny_config(["en", "de"]), tmp_path, ds, progress=False)
    assert "non-matches" in err.value.one_line() and len(err.value.one_line().splitlines()) == 1
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "checkpoints").exists()


def test_a_single_class_test_split_warns_and_is_marked(tmp_path):
    from mlsearch.tables import gather_runs

    ds = _relabel(make_dataset(("en",)), "en", "test", 1)
    with pytest.warns(UserWarning, match="every test pair has label 1; F1 and ROC-AUC say nothing"):
        m = train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1}), tmp_path / "benchmark" / "tiny" / "runs" / "en" / "seed0", ds, progress=False)
    assert m["eval"]["en"]["single_class_test"] is True
    runs = gather_runs(tmp_path / "benchmark" / "tiny")
    assert runs["single_class_test"].tolist() == [True]
    ok = train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1}), tmp_path / "ok", make_dataset(("en",)), progress=False)
    assert "single_class_test" not in ok["eval"]["en"]  # normal runs' metrics.json unchanged


def test_few_validation_matches_warn(tmp_path):
    ds = make_dataset(("en",), queries=6)  # 3 validation queries, 2 matches each
    with pytest.warns(UserWarning, match="6 matches in the validation split; its threshold and early stopping will be noisy"):
        train_and_evaluate(tiny_config(["en"], **{"train.epochs": 1}), tmp_path, ds, progress=False)
