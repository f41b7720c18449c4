"""The hook API: every kind fires on every family, hooks never leak, user hooks are never touched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hooklab.errors import HookPointError
from hooklab.hooks import Hooks, StopForward, capture_activations, count_hooks, list_hooks
from hooklab.models import hook_points
from hooklab.testing import FAMILIES, tiny_model

IDS = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 13, 14]])
POINTS = ("embed", "layers.0.input", "layers.0", "layers.1.attn", "layers.1.mlp", "final_norm", "unembed")


@pytest.fixture(scope="module", params=FAMILIES)
def model(request):
    return tiny_model(request.param, num_layers=2)


def test_every_hook_kind_fires_on_every_point(model):
    fired: dict[str, list[str]] = {"forward": [], "forward_pre": [], "backward": [], "load": []}
    with Hooks(model) as h:
        for p in POINTS:
            h.forward(p, lambda act, hook: fired["forward"].append(hook.name))
        h.forward_pre("layers.*", lambda act, hook: fired["forward_pre"].append(hook.name))
        h.backward("layers.*", lambda gin, gout, hook: fired["backward"].append(hook.name))
        h.load_state_dict_post(lambda module, keys: fired["load"].append(type(module).__name__))
        model(IDS).logits.sum().backward()
        model.load_state_dict(model.state_dict())
    model.zero_grad(set_to_none=True)
    assert sorted(fired["forward"]) == sorted(POINTS)
    assert fired["forward_pre"] == ["layers.0", "layers.1"]
    assert sorted(fired["backward"]) == ["layers.0", "layers.1"]
    assert fired["load"] == [type(model).__name__]
    assert list_hooks(model) == []


def test_hook_sees_a_tensor_of_the_residual_shape(model):
    with capture_activations(model, ["layers.*", "layers.0.input", "unembed"]) as cache:
        with torch.no_grad():
            logits = model(IDS).logits
    hidden = model.config.hidden_size
    for name in ("layers.0", "layers.1", "layers.0.input"):
        assert isinstance(cache[name], torch.Tensor)
        assert cache[name].shape == (2, 5, hidden)
    torch.testing.assert_close(cache["unembed"], logits)


def test_forward_edit_replaces_the_block_output(model):
    # zeroing the last block's output: logits are unembed(final_norm(0)) at every position
    hp = hook_points(model)
    with torch.no_grad(), Hooks(model) as h:
        h.forward("layers.-1", lambda act, hook: torch.zeros_like(act))
        logits = model(IDS).logits
        expected = hp.unembed(hp.final_norm(torch.zeros(2, 5, model.config.hidden_size)))
    if getattr(model.config, "model_type", "") == "opt":
        expected = hp.unembed(model.model.decoder.project_out(hp.final_norm(torch.zeros(2, 5, model.config.hidden_size)))) \
            if model.model.decoder.project_out is not None else expected
    torch.testing.assert_close(logits, expected)


def test_forward_pre_edit_replaces_the_block_input(model):
    # the input of block 1 is the output of block 0: editing either gives the same logits
    with torch.no_grad():
        with Hooks(model) as h:
            h.forward_pre("layers.1", lambda act, hook: act * 0.5)
            a = model(IDS).logits
        with Hooks(model) as h:
            h.forward("layers.1.input", lambda act, hook: act * 0.5)  # input point -> pre hook
            b = model(IDS).logits
        with Hooks(model) as h:
            h.forward("layers.0", lambda act, hook: act * 0.5)
            c = model(IDS).logits
        plain = model(IDS).logits
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(b, c)
    assert not torch.allclose(a, plain)


def test_fifty_exceptions_leave_no_hooks_and_keep_the_users(model):
    mine = []
    user_fwd = model.get_input_embeddings().register_forward_hook(lambda m, i, o: mine.append(1))
    user_bwd = hook_points(model)["layers.0"].module.register_full_backward_hook(lambda m, gi, go: None)
    user_load = model.register_load_state_dict_post_hook(lambda m, k: None)
    before = list_hooks(model)
    assert len(before) == 3 and all(r.owner == "user" for r in before)
    try:
        for i in range(50):
            with pytest.raises(RuntimeError, match="boom"):
                with Hooks(model, owner="test") as h:
                    h.forward("layers.*", lambda act, hook: None)
                    h.forward_pre("layers.{0,1}", lambda act, hook: None)
                    h.backward("layers.0.mlp", lambda gin, gout, hook: None)
                    h.load_state_dict_post(lambda m, k: None)
                    assert count_hooks(model, owner="test") == 6
                    if i % 2:
                        with torch.no_grad():
                            model(IDS)  # fire them, then fail
                    raise RuntimeError("boom")
        with pytest.raises(RuntimeError, match="inside a hook"):  # an exception raised by a hook
            with Hooks(model) as h:
                h.forward("layers.0", lambda act, hook: (_ for _ in ()).throw(RuntimeError("inside a hook")))
                model(IDS)
        assert list_hooks(model) == before
        with torch.no_grad():
            model(IDS)
        assert mine  # the user's hook still fires
    finally:
        user_fwd.remove()
        user_bwd.remove()
        user_load.remove()
    assert list_hooks(model) == []


def test_list_hooks_shows_owner_point_and_kind():
    model = tiny_model("gpt2")
    with Hooks(model, owner="my-probe") as h:
        h.forward("layers.1", lambda act, hook: None)
        h.backward("layers.0", lambda gin, gout, hook: None)
        rows = list_hooks(model)
    assert {(r.path, r.kind, r.owner) for r in rows} == {
        ("transformer.h.1", "forward", "my-probe"), ("transformer.h.0", "backward", "my-probe")}
    assert any("@ layers.1" in r.name for r in rows)


def test_handles_are_returned_and_remove_only_their_own_hook():
    model = tiny_model("llama")
    with Hooks(model) as h:
        handles = h.forward("layers.*", lambda act, hook: None)
        assert [x.point for x in handles] == ["layers.0", "layers.1"]
        handles[0].remove()
        handles[0].remove()  # idempotent
        assert [r.path for r in list_hooks(model)] == ["model.layers.1"]
    assert list_hooks(model) == []


def test_explicit_remove_without_with_block():
    model = tiny_model("qwen2")
    h = Hooks(model)
    h.forward("embed", lambda act, hook: None)
    assert count_hooks(model) == 1
    h.remove()
    h.remove()
    assert count_hooks(model) == 0


def test_unknown_point_raises_and_adds_nothing():
    model = tiny_model("gpt2")
    with pytest.raises(HookPointError, match="Did you mean"):
        with Hooks(model) as h:
            h.forward("layers.0.mpl", lambda act, hook: None)
    assert list_hooks(model) == []


def test_raw_hooks_get_torchs_signature():
    model = tiny_model("gpt2")
    seen = {}
    def fwd(m, args, out):
        seen["fwd"] = (m, out)

    def pre(m, args, kwargs):
        seen["pre"] = (args, kwargs)

    with torch.no_grad(), Hooks(model) as h:
        h.forward("layers.0", fwd, raw=True)
        h.forward_pre("layers.0", pre, raw=True)
        model(IDS)
    assert seen["fwd"][0] is hook_points(model)["layers.0"].module
    assert isinstance(seen["pre"][1], dict)


def test_stop_after_ends_the_forward_early_and_keeps_activations():
    model = tiny_model("llama", num_layers=4)
    ran = []
    with Hooks(model) as h:
        h.forward("layers.3", lambda act, hook: ran.append(hook.name))
        model(IDS)
    with capture_activations(model, "layers.{0,1}", stop=True) as cache, Hooks(model) as h2:
        h2.forward("layers.{2,3}", lambda act, hook: ran.append(hook.name))
        model(IDS)
        pytest.fail("not reached: the forward pass stops after layers.1")
    assert set(cache) == {"layers.0", "layers.1"}
    assert ran == ["layers.3"]  # only from the first, complete run
    assert list_hooks(model) == []
    with pytest.raises(StopForward):
        h3 = Hooks(model)
        try:
            h3.stop_after("embed")
            model(IDS)
        finally:
            h3.remove()


def test_capture_accumulate_and_retain_grad():
    model = tiny_model("mistral")
    with capture_activations(model, "layers.0", accumulate=True) as cache, torch.no_grad():
        model(IDS[:1])
        model(IDS[1:])
    assert len(cache["layers.0"]) == 2
    assert cache.stack("layers.0").shape[0] == 2
    with capture_activations(model, "layers.0", retain_grad=True) as cache:
        model(IDS).logits.sum().backward()
    assert cache["layers.0"].grad is not None and cache["layers.0"].grad.shape == cache["layers.0"].shape
    model.zero_grad(set_to_none=True)


# -- transformers-4 style blocks that return tuples --------------------------------------------------
class TupleBlock(nn.Module):
    """A decoder block the transformers-4 way: returns ``(hidden_states, attn_weights)``."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.mlp = nn.Linear(d, d)

    def forward(self, hidden_states, attention_mask=None):
        return (hidden_states + self.mlp(hidden_states), torch.ones(1))


class TupleLM(nn.Module):
    def __init__(self, vocab: int = 16, d: int = 8, n: int = 3) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(TupleBlock(d) for _ in range(n))
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def get_input_embeddings(self):
        return self.embed_tokens

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, ids):
        h = self.embed_tokens(ids)
        for block in self.layers:
            h = block(h)[0]
        return self.lm_head(self.norm(h))


def test_tuple_block_outputs_are_captured_and_edited():
    torch.manual_seed(0)
    model = TupleLM().eval()
    ids = torch.tensor([[1, 2, 3]])
    hp = hook_points(model)
    assert hp.num_layers == 3 and hp.final_norm is model.norm
    with torch.no_grad():
        with capture_activations(model, "layers.*") as cache:
            model(ids)
        assert all(isinstance(v, torch.Tensor) and v.shape == (1, 3, 8) for v in cache.values())
        with Hooks(model) as h:
            seen = []
            h.forward("layers.2", lambda act, hook: act * 3)
            h.forward("layers.2", lambda m, a, out: seen.append(out), raw=True)
            logits = model(ids)
        # the edit kept the tuple's second element and replaced the first
        assert isinstance(seen[0], tuple) and torch.equal(seen[0][1], torch.ones(1))
        torch.testing.assert_close(logits, model.lm_head(model.norm(cache["layers.2"] * 3)))
        # backward through a tuple block
    with Hooks(model) as h:
        grads = []
        h.backward("layers.1", lambda gin, gout, hook: grads.append(gout.shape))
        model(ids).sum().backward()
    assert grads == [torch.Size([1, 3, 8])]
    assert list_hooks(model) == []


def test_raw_module_paths_work_on_any_module():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with capture_activations(model, "0") as cache:
        model(torch.ones(1, 2))
    assert cache["0"].shape == (1, 3)
