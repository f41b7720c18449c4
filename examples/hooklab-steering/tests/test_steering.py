import pytest
import torch

import hooklab
from hooklab.errors import ConfigError
from hooklab.hooks import capture_activations
from hooklab.testing import tiny_model, tiny_tokenizer
from hooklab.testing.contracts import ProbeContract, no_hooks_left


class TestSteerProbe(ProbeContract):
    name = "steer"
    family = "llama"
    options = {"point": "layers.0", "plus": "love", "minus": "hate", "scale": 6.0}


def test_adds_exactly_scale_times_the_unit_direction():
    model, tok = tiny_model("qwen2"), tiny_tokenizer()
    probe = hooklab.get("probe", "steer", point="layers.0", direction=[1.0] * 64, scale=3.0)
    ids = tok("a short text", return_tensors="pt").input_ids
    from hooklab.hooks import Hooks

    unit = probe.direction(model, tok)
    with torch.no_grad(), capture_activations(model, "layers.0") as before:
        model(ids)
    with torch.no_grad(), Hooks(model) as h:
        h.forward("layers.0", lambda act, hook: act + 3.0 * unit)
        with capture_activations(model, "layers.0") as after:
            model(ids)
    torch.testing.assert_close(after["layers.0"] - before["layers.0"], (3.0 * unit).expand_as(before["layers.0"]))
    assert unit.norm().item() == pytest.approx(1.0)


def test_zero_scale_changes_nothing_and_large_scale_does():
    model, tok = tiny_model("gpt2"), tiny_tokenizer()
    zero = hooklab.get("probe", "steer", point="layers.1", plus="good", minus="bad", scale=0.0)
    df = zero.run(model, "the cat sat", tokenizer=tok).to_pandas()
    assert (df["kl"].abs() < 1e-6).all() and (df["top1_base"] == df["top1_steered"]).all()
    big = hooklab.get("probe", "steer", point="layers.1", plus="good", minus="bad", scale=50.0)
    res = big.run(model, "the cat sat", tokenizer=tok, max_new_tokens=4)
    assert (res.to_pandas()["kl"] > 1e-3).all()
    assert set(res.generations) == {"base", "steered"}
    assert no_hooks_left(model)


def test_needs_a_direction_source():
    with pytest.raises(ConfigError, match="plus and minus"):
        hooklab.get("probe", "steer", point="layers.0")
