"""The logit lens is exact: it equals the model's own logits at the last layer and a hand-computed
full-vocabulary lens (the seed's per-layer loop) everywhere else, on every test-kit family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hooklab.errors import DataError, HookPointError, ModelError
from hooklab.models import hook_points
from hooklab.testing import FAMILIES, tiny_model
from hooklab_lens import logit_lens

TEXT = "The logit lens decodes every layer of the model."


def _seed_lens(model, ids):
    """The seed's way, made exact: hook every block, final norm + LM head + softmax per layer.

    Returns {point name: log-probs [T, V]} for layers.0.input, layers.{i}.attn and layers.{i}.
    """
    hp = hook_points(model)
    acts, pre = {}, {}
    handles = []
    for i, block in enumerate(hp.layers):
        handles.append(block.register_forward_pre_hook(
            lambda m, a, k, i=i: pre.__setitem__(i, (a[0] if a else k["hidden_states"])[0]), with_kwargs=True))
        handles.append(block.register_forward_hook(
            lambda m, a, o, i=i: acts.__setitem__(f"layers.{i}", (o[0] if isinstance(o, tuple) else o)[0])))
        attn = hp[f"layers.{i}.attn"].module
        handles.append(attn.register_forward_hook(
            lambda m, a, o, i=i: acts.__setitem__(f"layers.{i}.attn", pre[i] + o[0][0])))
    try:
        with torch.no_grad():
            logits = model(ids).logits[0]
    finally:
        for h in handles:
            h.remove()
    acts["layers.0.input"] = pre[0]
    decoder = hp.modules.get("model.decoder")
    project_out = getattr(decoder, "project_out", None) if decoder is not None else None
    out = {}
    with torch.no_grad():
        for name, h in acts.items():
            x = hp.final_norm(h)
            if project_out is not None:
                x = project_out(x)
            out[name] = hp.unembed(x).float().log_softmax(-1)
    return out, logits.float().log_softmax(-1)


@pytest.fixture(scope="module")
def ids(tiny_tokenizer):
    return tiny_tokenizer(TEXT, return_tensors="pt").input_ids


@pytest.mark.parametrize("family", FAMILIES)
def test_last_layer_equals_model_logits(family, ids):
    model = tiny_model(family)
    result = logit_lens(model, None, ids, topk=5)
    with torch.no_grad():
        logp = model(ids).logits[0].float().log_softmax(-1)
    last = result.points.index(f"layers.{model.config.num_hidden_layers - 1}")
    assert result.points[-1] == f"layers.{model.config.num_hidden_layers - 1}"
    top = logp.topk(5, dim=-1)
    assert (result.topk_ids[last] == top.indices.numpy()).all()
    np.testing.assert_allclose(result.topk_probs[last], top.values.exp().numpy(), rtol=1e-5, atol=1e-7)
    nxt = ids[0, 1:]
    np.testing.assert_allclose(result.target_logprob[last, :-1, 0], logp[torch.arange(len(nxt)), nxt].numpy(), atol=1e-5)
    entropy = -(logp.exp() * logp).sum(-1)
    np.testing.assert_allclose(result.entropy[last], entropy.numpy(), atol=1e-4)
    np.testing.assert_allclose(result.kl[last], 0, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_point_matches_hand_computed_lens(family, ids):
    model = tiny_model(family, num_layers=3)
    result = logit_lens(model, None, ids, points="resid,attn", topk=3)
    ref, final = _seed_lens(model, ids)
    assert set(result.points) == set(ref)
    nxt = ids[0, 1:]
    for i, name in enumerate(result.points):
        logp = ref[name]
        # rank of the next token = 1 + number of tokens with a strictly higher logit
        target_lp = logp[torch.arange(len(nxt)), nxt]
        rank = (logp[:-1] > target_lp[:, None]).sum(-1) + 1
        assert (result.target_rank[i, :-1, 0] == rank.numpy()).all(), name
        assert result.target_rank[i, -1, 0] == -1 and np.isnan(result.target_logprob[i, -1, 0])
        assert (result.topk_ids[i, :, 0] == logp.argmax(-1).numpy()).all(), name
        kl = (final.exp() * (final - logp)).sum(-1)
        np.testing.assert_allclose(result.kl[i], kl.numpy(), atol=1e-4, err_msg=name)
        np.testing.assert_allclose(result.entropy[i], -(logp.exp() * logp).sum(-1).numpy(), atol=1e-4)


def test_rank_on_a_hand_built_unembedding():
    """Rank, probability and top-k checked against numbers computed by hand on a 4-token vocab."""
    model = tiny_model("llama", vocab_size=4, hidden_size=8, num_heads=2, num_layers=1)
    with torch.no_grad():
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, 0] = torch.tensor([3.0, 1.0, 2.0, 0.0])  # logit_v = w_v * x0_normed
    ids = torch.tensor([[1, 2, 3]])
    result = logit_lens(model, None, ids, points=["layers.0"], targets=[0, 1, 2, 3], topk=4)
    cap = {}
    h = model.model.layers[0].register_forward_hook(lambda m, a, o: cap.__setitem__("x", o))
    with torch.no_grad():
        model(ids)
    h.remove()
    x = cap["x"][0]
    x0 = (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + model.config.rms_norm_eps))[:, 0]
    for pos in range(3):
        logits = np.array([3.0, 1.0, 2.0, 0.0]) * float(x0[pos])
        order = list(np.argsort(-logits))
        assert list(result.topk_ids[0, pos]) == order
        assert [int(r) for r in result.target_rank[0, pos]] == [order.index(v) + 1 for v in range(4)]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(np.exp(result.target_logprob[0, pos]), probs, rtol=1e-5)


def test_opt_project_out_is_applied(ids):
    model = tiny_model("opt", word_embed_proj_dim=32)
    assert model.model.decoder.project_out is not None
    result = logit_lens(model, None, ids)
    with torch.no_grad():
        top = model(ids).logits[0].argmax(-1)
    assert (result.topk_ids[-1, :, 0] == top.numpy()).all()
    np.testing.assert_allclose(result.kl[-1], 0, atol=1e-5)


def test_gemma2_post_norms_and_softcapping():
    import transformers as tf

    cfg = tf.Gemma2Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                          final_logit_softcapping=5.0, pad_token_id=0)
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    ids = torch.randint(3, 512, (1, 10))
    with torch.no_grad():
        top = model(ids).logits[0].argmax(-1)
    result = logit_lens(model, None, ids, points="resid,attn")
    np.testing.assert_allclose(result.kl[-1], 0, atol=1e-5)
    assert (result.topk_ids[-1, :, 0] == top.numpy()).all()
    # layers.0.attn is the stream after attention: the input of the pre-feedforward norm
    cap = {}
    h = model.model.layers[0].pre_feedforward_layernorm.register_forward_pre_hook(lambda m, a: cap.__setitem__("mid", a[0][0]))
    with torch.no_grad():
        model(ids)
    h.remove()
    with torch.no_grad():
        z = torch.tanh(model.lm_head(model.model.norm(cap["mid"])) / 5.0) * 5.0
    assert (result.topk_ids[result.points.index("layers.0.attn"), :, 0] == z.argmax(-1).numpy()).all()


def test_mlp_points_add_the_mlp_output_to_the_block_input(ids):
    model = tiny_model("gpt_neox")  # parallel residual: block out = x + attn + mlp
    result = logit_lens(model, None, ids, points="resid,attn,mlp")
    assert result.points[:4] == ["layers.0.input", "layers.0.attn", "layers.0.mlp", "layers.0"]
    cap = {}
    block = model.gpt_neox.layers[0]
    hs = [block.register_forward_pre_hook(lambda m, a, k: cap.__setitem__("x", a[0][0]), with_kwargs=True),
          block.mlp.register_forward_hook(lambda m, a, o: cap.__setitem__("mlp", o[0]))]
    with torch.no_grad():
        model(ids)
    for h in hs:
        h.remove()
    with torch.no_grad():
        z = model.lm_head(model.gpt_neox.final_layer_norm(cap["x"] + cap["mlp"]))
    assert (result.topk_ids[2, :, 0] == z.argmax(-1).numpy()).all()


@pytest.mark.parametrize("budget", [200_000, 2**20, 2**30])
def test_chunking_does_not_change_results(budget, tiny_tokenizer):
    model = tiny_model("qwen2", vocab_size=4096, num_layers=3)
    text = ["a longer text so that rows are split over several chunks " * 3, "short one"]
    ref = logit_lens(model, tiny_tokenizer, text, points="resid,mlp", memory_budget=2**30)
    got = logit_lens(model, tiny_tokenizer, text, points="resid,mlp", memory_budget=budget)
    if budget == 200_000:
        assert got.chunk[0] == 1 and got.chunk[1] < len(got.points)  # points split too
    for name in ("topk_ids", "target_rank"):
        assert (getattr(got, name) == getattr(ref, name)).all()
    for name in ("topk_probs", "target_logprob", "entropy", "kl"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=1e-5, equal_nan=True)


def test_batch_with_padding_equals_one_by_one(tiny_tokenizer):
    model = tiny_model("llama")
    texts = ["first prompt, rather long compared to the other", "second", "a third one"]
    batch = logit_lens(model, tiny_tokenizer, texts, topk=2)
    df = batch.to_pandas()
    for i, text in enumerate(texts):
        one = logit_lens(model, tiny_tokenizer, text, topk=2)
        rows = np.flatnonzero(np.asarray(batch.prompt_idx) == i)
        assert len(rows) == len(tiny_tokenizer(text).input_ids)
        assert (batch.topk_ids[:, rows] == one.topk_ids).all()
        assert (batch.target_rank[:, rows] == one.target_rank).all()
        np.testing.assert_allclose(batch.kl[:, rows], one.kl, atol=1e-5)
        assert (df[df.prompt == i].position.unique() == np.arange(len(rows))).all()


def test_batch_encoding_with_left_padding_uses_its_mask(tiny_tokenizer):
    from hooklab.testing import tiny_tokenizer as make

    tok = make(padding_side="left")
    model = tiny_model("gpt2")
    enc = tok(["one two three four", "five"], padding=True, return_tensors="pt")
    got = logit_lens(model, tok, enc)
    assert [len(p) for p in got.prompts] == [len(tok("one two three four").input_ids), len(tok("five").input_ids)]
    one = logit_lens(model, tok, "five")
    rows = np.flatnonzero(np.asarray(got.prompt_idx) == 1)
    assert (got.topk_ids[:, rows] == one.topk_ids).all()


def test_given_target_tokens(tiny_tokenizer):
    model = tiny_model("mistral")
    targets = [" the", " of"]
    ids = [tiny_tokenizer.encode(t) for t in targets]
    assert all(len(i) == 1 for i in ids)
    result = logit_lens(model, tiny_tokenizer, TEXT, targets=targets, positions=[-1])
    ref, _ = _seed_lens(model, tiny_tokenizer(TEXT, return_tensors="pt").input_ids)
    assert result.target_ids.tolist() == [[ids[0][0], ids[1][0]]]
    for i, name in enumerate(result.points):
        logp = ref[name][-1]
        for j, (tid,) in enumerate(ids):
            assert result.target_rank[i, 0, j] == int((logp > logp[tid]).sum()) + 1
    df = result.to_pandas()
    assert len(df) == len(result.points) * 2 and set(df.target) == set(targets)


def test_positions_select_rows(tiny_tokenizer):
    model = tiny_model("phi")
    full = logit_lens(model, tiny_tokenizer, TEXT)
    some = logit_lens(model, tiny_tokenizer, TEXT, positions=[0, -1])
    n = len(full.positions)
    assert some.positions == [0, n - 1]
    assert (some.topk_ids == full.topk_ids[:, [0, n - 1]]).all()


# -- bad input ---------------------------------------------------------------------------------
def test_empty_text_is_an_error(tiny_tokenizer):
    with pytest.raises(DataError, match="empty"):
        logit_lens(tiny_model("gpt2"), tiny_tokenizer, "   ")
    with pytest.raises(DataError, match="no input"):
        logit_lens(tiny_model("gpt2"), tiny_tokenizer, [])


def test_multi_token_target_says_how_it_tokenizes(tiny_tokenizer):
    word = " extraordinarily"
    pieces = tiny_tokenizer.encode(word)
    assert len(pieces) > 1
    with pytest.raises(DataError, match=rf"not a single token: it tokenizes as .* \({len(pieces)} tokens\)"):
        logit_lens(tiny_model("gpt2"), tiny_tokenizer, TEXT, targets=word)


def test_position_out_of_range(tiny_tokenizer):
    with pytest.raises(DataError, match="out of range for prompt 0"):
        logit_lens(tiny_model("gpt2"), tiny_tokenizer, "two words", positions=[99])


def test_too_long_text_errors_or_truncates_with_a_warning():
    model = tiny_model("gpt2", max_positions=16)
    ids = torch.arange(3, 23).unsqueeze(0)
    with pytest.raises(DataError, match=r"context is 16.*truncate=True"):
        logit_lens(model, None, ids)
    with pytest.warns(UserWarning, match="truncated to the last 16"):
        result = logit_lens(model, None, ids, truncate=True)
    assert result.prompts[0] == list(range(7, 23))


def test_model_without_lm_head_raises():
    from transformers import AutoModel

    from hooklab.testing import tiny_config

    base = AutoModel.from_config(tiny_config("gpt2")).eval()
    with pytest.raises(ModelError, match="no LM head"):
        logit_lens(base, None, [[5, 6, 7]])


def test_model_without_final_norm_raises():
    model = tiny_model("llama")
    del model.model.norm
    with pytest.raises(ModelError, match="no final norm"):
        logit_lens(model, None, [[5, 6, 7]])


def test_unknown_point_is_a_hook_point_error():
    with pytest.raises(HookPointError, match="unknown hook point"):
        logit_lens(tiny_model("gpt2"), None, [[5, 6, 7]], points=["layers.9"])


def test_hooks_are_removed_even_on_error():
    model = tiny_model("gpt2")
    with pytest.raises(DataError):
        logit_lens(model, None, [[5, 6, 99999]])
    with pytest.raises(ModelError):
        logit_lens(model, None, [[5, 6, 7]], points=["transformer.h.0.attn.attn_dropout", "layers.0"])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.slow
def test_fused_reduction_gives_the_same_statistics(tiny_tokenizer):
    """The opt-in torch.compile path (two passes over the logits) equals the default one."""
    model = tiny_model("llama", vocab_size=2048, num_layers=2)
    kw = {"points": "resid,attn", "topk": 3, "targets": [" the", " of"], "memory_budget": 300_000}
    ref = logit_lens(model, tiny_tokenizer, [TEXT, "short"], **kw)
    got = logit_lens(model, tiny_tokenizer, [TEXT, "short"], fused=True, **kw)
    assert (got.topk_ids == ref.topk_ids).all() and (got.target_rank == ref.target_rank).all()
    for name in ("topk_probs", "target_logprob", "entropy", "kl"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=1e-5, equal_nan=True)
