"""Layered YAML params: merging, strict keys and types, cross-field checks."""

import pytest

from mlsearch.config import load_config, profile_files
from mlsearch.errors import ConfigError


def test_profiles_load_and_layer():
    for name in ("tiny", "quick", "full"):
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
        ({"data.label_noise": 1.5}, "must be in [0, 1]"),
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
