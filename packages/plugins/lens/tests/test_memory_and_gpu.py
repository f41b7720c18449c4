"""Memory-bounded: a 4096-token prompt on a 150k-vocabulary model stays inside 2 GB on CPU (the
[layers, tokens, vocab] tensor alone would be 7.5 GB); the same on CUDA in bf16 when a GPU exists."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

VOCAB = 151_936  # Qwen2's vocabulary

SCRIPT = textwrap.dedent("""
    import json, resource, sys, torch
    from hooklab.testing import tiny_model
    from hooklab_lens import logit_lens
    model = tiny_model("qwen2", vocab_size=VOCAB, num_layers=2, max_positions=4096)
    ids = torch.randint(3, VOCAB, (1, 4096), generator=torch.Generator().manual_seed(0))
    r = logit_lens(model, None, ids, topk=1, memory_budget="256MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "shape": list(r.topk_ids.shape), "chunk": list(r.chunk),
                      "kl_last": float(abs(r.kl[-1]).max()), "ranked": int((r.target_rank[:, :-1] > 0).sum())}))
""").replace("VOCAB", str(VOCAB))


@pytest.mark.slow
def test_4096_tokens_150k_vocab_within_2gb_on_cpu():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    naive_gb = 3 * 4096 * VOCAB * 4 / 2**30
    assert naive_gb > 6.9  # GiB
    assert data["peak_mb"] < 2048, data
    assert data["shape"] == [3, 4096, 1]
    assert data["chunk"][0] < 4096  # it really was chunked
    assert data["kl_last"] < 1e-4 and data["ranked"] == 3 * 4095


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
def test_cuda_bf16_long_prompt_matches_the_model_and_stays_small():
    from hooklab.testing import tiny_model
    from hooklab_lens import logit_lens

    model = tiny_model("qwen2", vocab_size=VOCAB, num_layers=4, hidden_size=256, max_positions=4096,
                       dtype=torch.bfloat16).to("cuda")
    ids = torch.randint(3, VOCAB, (1, 2048), generator=torch.Generator().manual_seed(0)).cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    r = logit_lens(model, None, ids, topk=1, memory_budget="512MB")
    peak = torch.cuda.max_memory_allocated() - base
    assert peak < 1.5 * 2**30, peak / 2**30  # [layers, tokens, vocab] in fp32 would be 5.8 GiB
    assert r.chunk[0] < 2048
    with torch.no_grad():
        logits = model(ids, logits_to_keep=256).logits[0].float()  # the last 256 positions
    # the lens's top-1 is the model's top-1 up to bf16 rounding of near-equal logits
    chosen = logits.gather(-1, torch.as_tensor(r.topk_ids[-1, -256:, :1], device="cuda"))[:, 0]
    assert (chosen >= logits.max(-1).values - 0.02 * logits.abs().max(-1).values).all()
    assert np.nanmax(np.abs(r.kl[-1])) < 1e-3


@pytest.mark.gpu
@cuda
def test_cuda_float32_equals_model_logits_on_every_family():
    from hooklab.testing import FAMILIES, tiny_model
    from hooklab_lens import logit_lens

    ids = torch.randint(3, 512, (2, 24), generator=torch.Generator().manual_seed(0))
    for family in FAMILIES:
        model = tiny_model(family).to("cuda")
        r = logit_lens(model, None, ids, topk=3)
        with torch.no_grad():
            logp = model(ids.cuda()).logits.float().log_softmax(-1).reshape(-1, 512).cpu()
        assert (r.topk_ids[-1, :, 0] == logp.argmax(-1).numpy()).all(), family
        np.testing.assert_allclose(r.topk_probs[-1], logp.exp().topk(3, dim=-1).values.numpy(), atol=1e-5)
        np.testing.assert_allclose(r.kl[-1], 0, atol=1e-4)
