"""Each surgery object changes the model's output exactly as computed by hand, on every family."""

from __future__ import annotations

import pytest
import torch

from hooklab.errors import ConfigError, ModelError
from hooklab.hooks import Hooks, capture_activations, list_hooks
from hooklab.models import hook_points
from hooklab.surgery import (
    Add,
    ClipGrad,
    Patch,
    Replace,
    Scale,
    ScaleGrad,
    TransformWeights,
    ValidateWeights,
    Zero,
)
from hooklab.testing import FAMILIES, tiny_model

IDS = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 13, 14]])
OTHER = torch.tensor([[20, 21, 22, 23, 24], [30, 31, 32, 33, 34]])


@pytest.fixture(scope="module", params=FAMILIES)
def model(request):
    return tiny_model(request.param, num_layers=2)


def head(model, h):
    """Logits from the last block's output, by hand: final norm (+ OPT's projection), unembed."""
    hp = hook_points(model)
    x = hp.final_norm(h)
    project_out = getattr(getattr(getattr(model, "model", None), "decoder", None), "project_out", None)
    if project_out is not None:
        x = project_out(x)
    return hp.unembed(x)


def last_block(model, ids=IDS):
    with torch.no_grad(), capture_activations(model, "layers.-1") as cache:
        logits = model(ids).logits
    return cache["layers.1"], logits


def run(model, edit, point="layers.-1", ids=IDS):
    with torch.no_grad(), Hooks(model) as h:
        h.add(point, edit)
        return model(ids).logits


def test_scale(model):
    h, _ = last_block(model)
    with torch.no_grad():
        torch.testing.assert_close(run(model, Scale(2.0)), head(model, h * 2.0))


def test_zero_at_one_position(model):
    h, plain = last_block(model)
    out = run(model, Zero(positions=2))
    expected = h.clone()
    expected[:, 2] = 0
    with torch.no_grad():
        torch.testing.assert_close(out, head(model, expected))
    torch.testing.assert_close(out[:, [0, 1, 3, 4]], plain[:, [0, 1, 3, 4]])  # other positions untouched


def test_add_steering_vector_with_coeff(model):
    h, _ = last_block(model)
    v = torch.linspace(-1, 1, model.config.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(run(model, Add(v, coeff=3.0)), head(model, h + 3.0 * v))
        torch.testing.assert_close(run(model, Add(v, positions=[-1])),
                                   head(model, torch.cat([h[:, :-1], h[:, -1:] + v], dim=1)))


def test_replace(model):
    value = torch.full((model.config.hidden_size,), 0.25)
    with torch.no_grad():
        torch.testing.assert_close(run(model, Replace(value)), head(model, value.expand(2, 5, -1)))


def test_chain_applies_in_order(model):
    h, _ = last_block(model)
    v = torch.ones(model.config.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(run(model, Scale(2.0) | Add(v)), head(model, h * 2.0 + v))


def test_patch_from_another_run(model):
    # patching block 0's whole output from run A makes everything downstream equal run A
    _, logits_a = last_block(model, OTHER)
    patch = Patch.record(model, "layers.0", OTHER)
    torch.testing.assert_close(run(model, patch, "layers.0", IDS), logits_a)
    # patching only positions 0-1 of the last block: those positions come from A, the rest from B
    h_a, _ = last_block(model, OTHER)
    h_b, _ = last_block(model, IDS)
    out = run(model, Patch.record(model, "layers.-1", OTHER, positions=slice(0, 2)), "layers.-1", IDS)
    with torch.no_grad():
        torch.testing.assert_close(out, head(model, torch.cat([h_a[:, :2], h_b[:, 2:]], dim=1)))


def test_patch_shape_mismatch_is_a_model_error():
    model = tiny_model("llama")
    patch = Patch.record(model, "layers.0", IDS[:, :3])
    with pytest.raises(ModelError, match="recorded shape"):
        run(model, patch, "layers.0", IDS)
    with pytest.raises(ModelError, match="no recorded activation"):
        run(model, patch, "layers.1", IDS)
    assert list_hooks(model) == []


def test_edit_on_input_point_edits_the_block_input():
    model = tiny_model("gemma", num_layers=2)
    with torch.no_grad():
        a = run(model, Scale(0.5), "layers.1.input")
        b = run(model, Scale(0.5), "layers.0")
    torch.testing.assert_close(a, b)


def _block0_grads(model, edit=None):
    model.zero_grad(set_to_none=True)
    with Hooks(model) as h:
        if edit is not None:
            h.add("layers.1", edit)
        model(IDS).logits.pow(2).mean().backward()
    grads = [p.grad.clone() for p in hook_points(model)["layers.0"].module.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return grads


def test_scale_grad_scales_everything_upstream(model):
    # block 0 only reaches the loss through block 1's input: its gradients scale exactly
    plain = _block0_grads(model)
    scaled = _block0_grads(model, ScaleGrad(0.25))
    assert plain
    for a, b in zip(plain, scaled, strict=True):
        torch.testing.assert_close(b, a * 0.25)


def test_clip_grad_bounds_the_norm_passed_back(model):
    max_norm = 1e-4
    with capture_activations(model, "layers.0", retain_grad=True) as cache:
        with Hooks(model) as h:
            h.add("layers.1", ClipGrad(max_norm=max_norm))
            model(IDS).logits.pow(2).mean().backward()
    g = cache["layers.0"].grad
    model.zero_grad(set_to_none=True)
    torch.testing.assert_close(g.norm(), torch.tensor(max_norm))
    with capture_activations(model, "layers.0", retain_grad=True) as cache:
        with Hooks(model) as h:
            h.add("layers.1", ClipGrad(max_value=1e-6))
            model(IDS).logits.pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    assert cache["layers.0"].grad.abs().max() <= 1e-6
    with pytest.raises(ConfigError):
        ClipGrad()


def test_state_dict_post_hooks_validate_and_transform():
    model = tiny_model("llama")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    with Hooks(model) as h:
        h.load_state_dict_post(lambda module, keys: calls.append(list(keys.missing_keys)))
        h.add(None, TransformWeights(lambda name, t: t * 2 if name.endswith("norm.weight") else None))
        model.load_state_dict(state)
    assert calls == [[]]
    torch.testing.assert_close(model.model.norm.weight, state["model.norm.weight"] * 2)
    torch.testing.assert_close(model.lm_head.weight, state["lm_head.weight"])
    bad = dict(state)
    bad["model.layers.0.mlp.up_proj.weight"] = torch.full_like(state["model.layers.0.mlp.up_proj.weight"], float("nan"))
    with Hooks(model) as h:
        h.add(None, ValidateWeights())
        with pytest.raises(ModelError, match=r"model\.layers\.0\.mlp\.up_proj\.weight.*NaN"):
            model.load_state_dict(bad)
        model.load_state_dict(state)  # good weights pass
        h.add("layers.0", ValidateWeights(check=lambda name, t: "too large" if t.abs().max() > 100 else True))
        big = dict(state)
        big["model.layers.0.mlp.up_proj.weight"] = state["model.layers.0.mlp.up_proj.weight"] + 1000
        with pytest.raises(ModelError, match="too large"):
            model.load_state_dict(big)
    assert list_hooks(model) == []
