"""Canonical hook points resolve by probing on all eight test-kit families."""

from __future__ import annotations

import pytest
import torch

from hooklab.errors import HookPointError, ModelError
from hooklab.models import hook_points
from hooklab.testing import FAMILIES, tiny_model


@pytest.mark.parametrize("family", FAMILIES)
def test_every_canonical_point_resolves(family):
    model = tiny_model(family, num_layers=3)
    hp = hook_points(model)
    assert hp.num_layers == 3
    names = {p.name for p in hp.resolve("**")}
    expected = {"embed", "final_norm", "unembed"} | {
        f"layers.{i}{s}" for i in range(3) for s in ("", ".input", ".attn", ".mlp")
    }
    assert expected <= names
    assert hp.unembed is model.get_output_embeddings()
    assert hp.final_norm is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_final_norm_then_unembed_of_last_block_equals_logits(family):
    # The probed final_norm + unembed reproduce the model's own logits: proof they are the right modules.
    model = tiny_model(family, num_layers=2)
    hp = hook_points(model)
    seen = {}
    handle = hp["layers.1"].module.register_forward_hook(
        lambda m, i, o: seen.__setitem__("h", o[0] if isinstance(o, tuple) else o)
    )
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        logits = model(ids).logits
        handle.remove()
        h = hp.final_norm(seen["h"])
        if getattr(model.config, "model_type", "") == "opt" and getattr(model.model.decoder, "project_out", None):
            h = model.model.decoder.project_out(h)
        mine = hp.unembed(h)
    torch.testing.assert_close(mine, logits, rtol=1e-4, atol=1e-4)


def test_globs_sets_ranges_negative_and_paths():
    hp = hook_points(tiny_model("llama", num_layers=4))
    assert [p.name for p in hp.resolve("layers.*")] == [f"layers.{i}" for i in range(4)]
    assert [p.name for p in hp.resolve("layers.{0,2}.mlp")] == ["layers.0.mlp", "layers.2.mlp"]
    assert [p.name for p in hp.resolve("layers.{1..2}.attn")] == ["layers.1.attn", "layers.2.attn"]
    assert hp["layers.-1"].name == "layers.3"
    assert hp["layers.0.input"].io == "input"
    assert hp["model.layers.0.mlp.down_proj"].path == "model.layers.0.mlp.down_proj"
    # several specs at once, model order, no repeats
    assert [p.name for p in hp.resolve(["unembed", "embed", "embed"])] == ["embed", "unembed"]


def test_unknown_point_lists_valid_names_and_suggests():
    hp = hook_points(tiny_model("gpt2"))
    with pytest.raises(HookPointError) as err:
        hp.resolve("layer.1.mlp")
    assert "Did you mean: layers.1.mlp" in str(err.value)
    assert "layers.{0..1}" in str(err.value)


def test_model_without_block_list_is_a_model_error():
    with pytest.raises(ModelError, match="no list of decoder blocks"):
        hook_points(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_model_without_lm_head_raises_instead_of_skipping():
    from transformers import AutoModel

    from hooklab.testing import tiny_config

    base = AutoModel.from_config(tiny_config("llama"))
    hp = hook_points(base)
    with pytest.raises(ModelError, match="no LM head"):
        hp.unembed  # noqa: B018
