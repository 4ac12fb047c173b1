"""Layered YAML params: merging, strict keys and types, cross-field checks."""

import pytest

from mlsearch.config import load_config, profile_files
from mlsearch.errors import ConfigError


def test_profiles_load_and_layer():
    for name in ("tiny", "quick", "full", "pretrained", "pretrained_cpu"):
        cfg = load_config(profile_files(name))
        assert cfg.profile == name
    tiny = load_config(profile_files("tiny"))
    assert tiny.model.d_model == 16  # tiny.yaml overrides the dataclass default
    assert tiny.model.combine == "hadamard"  # base.yaml value survives the layer


def test_later_files_win(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("train: {epochs: 3, lr: 0.5}\n")
    b.write_text("train: {epochs: 7}\n")
    cfg = load_config([a, b], {"seed": 4})
    assert (cfg.train.epochs, cfg.train.lr, cfg.seed) == (7, 0.5, 4)


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"train.epoch": 3}, "unknown parameter 'train.epoch'"),
        ({"train.epochs": "ten"}, "train.epochs must be an integer"),
        ({"train.bf16": "yes"}, "must be true or false"),
        ({"languages": ["en", "xx"]}, "unknown language code"),
        ({"languages": ["en", "en"]}, "duplicated language code"),
        ({"languages": []}, "empty language list"),
        ({"model.combine": "sum"}, "must be one of"),
        ({"model.heads": 3}, "not divisible"),
        ({"data.label_noise": 1.5}, "must be in [0, 0.5)"),
    ],
)
def test_bad_params_are_one_line_errors(override, needle):
    with pytest.raises(ConfigError) as info:
        load_config(profile_files("tiny"), override)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no profile named 'huge'"):
        profile_files("huge")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config([tmp_path / "nope.yaml"])
    with pytest.raises(ConfigError, match="is a directory"):
        load_config([tmp_path])


def _out_of_range(low, high):
    """A value just outside a range (below its low bound, or above its high one)."""
    if low is not None:
        return low[0] - 1 if low[1] else low[0]
    return high[0] + 1


@pytest.mark.parametrize("key", sorted(__import__("mlsearch.config", fromlist=["RANGES"]).RANGES))
def test_every_numeric_key_has_a_range_and_a_one_line_error(key):
    from mlsearch.config import RANGES

    low, high, _ = RANGES[key]
    bad = _out_of_range(low, high)
    current = load_config(profile_files("tiny"))
    obj = current
    for part in key.split("."):
        obj = getattr(obj, part)
    value = {k: bad for k in obj} if isinstance(obj, dict) and obj else [bad] if isinstance(obj, list) else bad
    if isinstance(obj, dict) and not obj:
        value = {"en": bad}
    with pytest.raises(ConfigError) as err:
        load_config(profile_files("tiny"), {key: value} if key != "seed" else {"seed": bad})
    msg = str(err.value)
    assert key in msg and "must be" in msg and "\n" not in msg, msg
    if high is not None:  # the upper bound too
        over = high[0] if not high[1] else high[0] + 0.5
        v2 = {"en": over} if isinstance(obj, dict) else [over] if isinstance(obj, list) else over
        with pytest.raises(ConfigError):
            load_config(profile_files("tiny"), {key: v2})


def test_every_numeric_config_field_is_in_the_range_table():
    import dataclasses
    import typing

    from mlsearch.config import RANGES, DataConfig, EvalConfig, GridConfig, ModelConfig, RunConfig, TrainConfig

    checked_elsewhere = {"model.subword_ngrams", "grid.max_languages"}  # pairs and bounds that depend on other keys
    missing = []
    for prefix, cls in [("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig), ("eval", EvalConfig),
                        ("grid", GridConfig), ("", RunConfig)]:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            t = str(hints[f.name])
            numeric = hints[f.name] in (int, float) or t in ("dict[str, int]", "dict[str, float]", "list[int]")
            key = f"{prefix}.{f.name}".lstrip(".")
            if numeric and key not in RANGES and key not in checked_elsewhere:
                missing.append(key)
    assert not missing, missing


@pytest.mark.parametrize("override", ["train.temperature=0", "model.vocab_size=0", "train.lr=-1", "model.dropout=2"])
def test_cli_bad_numbers_exit_2_with_one_line(tmp_path, override):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "mlsearch", "train", "--profile", "tiny", "--set", override,
                        "--set", f"results_dir={tmp_path}"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_profile_pretrained_cpu_is_quick_with_kind_e5():
    """The CPU pretrained profile and kind e5 train the same models (one definition could drift)."""
    from mlsearch.kinds import apply_kind

    a = load_config(profile_files("pretrained_cpu"), {"profile": "quick"}).to_dict()
    b = apply_kind(load_config(profile_files("quick"), {"kind": "e5"})).to_dict()
    a.pop("kind"), b.pop("kind")
    for d in (a, b):  # sizes of an encoder built from scratch: not used with model.pretrained
        for key in ("d_model", "layers", "heads", "ff_dim", "vocab_size"):
            d["model"].pop(key)
    assert a == b
