from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict

from hooklab.config import apply_overrides, load, load_config, parse_value
from hooklab.errors import ConfigError


class Train(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr: float = 1e-3
    steps: int = 10
    name: str = "run"


class Run(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: Train = Train()
    tags: list[str] = []


@pytest.mark.parametrize("suffix,text", [
    (".toml", '[train]\nlr = 0.5\nsteps = 3\n'),
    (".yaml", 'train:\n  lr: 0.5\n  steps: 3\n'),
    (".json", json.dumps({"train": {"lr": 0.5, "steps": 3}})),
])
def test_toml_yaml_json_load_the_same(tmp_path, suffix, text):
    p = tmp_path / f"c{suffix}"
    p.write_text(text)
    assert load(Run, p).train == Train(lr=0.5, steps=3)


def test_overrides_are_typed_and_nested():
    out = apply_overrides({"train": {"lr": 1}}, ["train.lr=3e-4", "train.steps=7", "tags=[a, b]", "x.y=true"])
    assert out == {"train": {"lr": 3e-4, "steps": 7}, "tags": ["a", "b"], "x": {"y": True}}
    assert parse_value("hello") == "hello" and parse_value("null") is None


def test_override_without_equals_is_a_config_error():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["train.lr"])


def test_validation_errors_become_one_line(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[train]\nlr = "fast"\nbogus = 1\n')
    with pytest.raises(ConfigError) as err:
        load(Run, p)
    msg = str(err.value)
    assert "train.lr" in msg and "train.bogus: unknown option" in msg and "\n" not in msg


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="does not parse"):
        load_config(bad)
    other = tmp_path / "c.ini"
    other.write_text("x")
    with pytest.raises(ConfigError, match="unsupported extension"):
        load_config(other)
