"""Full logit lens (every layer x every position: top-1 token and rank of the next token), side by side.

Variants (each in its own process; setup — building the random model — is untimed):

* ``seed-loop``  the seed's way: hook every block, then per layer final norm + LM head + softmax over
                 the vocabulary for all positions, argmax and rank.
* ``floor``      the least any full lens must do: the forward pass (hidden states captured) plus the
                 unembedding GEMM of every (layer, position) row, results thrown away. ``gemm_s`` is
                 the GEMM alone.
* ``hooklab``    ``hooklab_lens.logit_lens(..., points="layers.*", topk=1)`` — also computes
                 probabilities, entropy and KL to the final layer for every cell.
* ``hooklab-fused``  the same with ``fused=True`` (one torch.compile-d reduction; compiled in the
                 untimed setup, as a warm process would have it).
* ``tl4``        TransformerLens 4: ``TransformerBridge.boot_transformers(..., hf_model=model)``,
                 ``run_with_cache``, ``accumulated_resid(apply_ln=True)``, unembed, softmax.
                 (``accumulated_resid`` has one more row, the embeddings.)
* ``nnsight``    nnsight's logit-lens recipe: in ``trace``, LM head of ln_f of every block output.

TransformerLens and nnsight are not hooklab dependencies: install them in a separate venv that also
sees hooklab's (see docs/lens.md) and pass it as ``--python``. Without them, their rows show an error.

    python benchmarks/bench_lens.py --set T=128                    # CPU, GPT-2-small shape
    python benchmarks/bench_lens.py --set T=1024 --repeat 1
    python benchmarks/bench_lens.py --set device=cuda --set dtype=bfloat16 --set shape=qwen2-0.5b \\
        --set T=2048 --only floor,seed-loop,hooklab,hooklab-fused  # GPU, Qwen2-0.5B shape
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main

SHAPES = {
    "gpt2-small": ("gpt2", {"vocab_size": 50257, "hidden_size": 768, "num_layers": 12, "num_heads": 12,
                            "max_positions": 1024}),
    "qwen2-0.5b": ("qwen2", {"vocab_size": 151936, "hidden_size": 896, "num_layers": 24, "num_heads": 14,
                             "max_positions": 4096, "intermediate_size": 4864, "num_key_value_heads": 2}),
}


def _setup(p):
    import torch

    from hooklab.testing import tiny_model

    torch.set_grad_enabled(False)
    family, shape = SHAPES[p.get("shape", "gpt2-small")]
    dtype = getattr(torch, p.get("dtype", "float32"))
    model = tiny_model(family, dtype=dtype, **shape)
    try:  # the fast attention kernel, as a user's model would have (tiny_model picks eager)
        model.set_attn_implementation("sdpa")
    except Exception:
        pass
    model = model.to(p.get("device", "cpu"))
    ids = torch.randint(3, shape["vocab_size"], (1, int(p.get("T", 128))),
                        generator=torch.Generator().manual_seed(0)).to(model.device)
    return model, ids


def _blocks(model):
    from hooklab.models import hook_points

    hp = hook_points(model)
    return hp, list(hp.layers)


def seed_loop(p):
    import torch

    model, ids = _setup(p)
    hp, blocks = _blocks(model)
    nxt = ids[0, 1:]

    def run():
        acts = {}
        handles = [b.register_forward_hook(lambda m, a, o, i=i: acts.__setitem__(i, o[0] if isinstance(o, tuple) else o))
                   for i, b in enumerate(blocks)]
        try:
            model(ids)
        finally:
            for h in handles:
                h.remove()
        tops, ranks = [], []
        for i in range(len(blocks)):
            probs = torch.softmax(hp.unembed(hp.final_norm(acts[i][0])).float(), dim=-1)
            tops.append(probs.argmax(-1))
            pt = probs[:-1].gather(-1, nxt[:, None])
            ranks.append((probs[:-1] > pt).sum(-1) + 1)
        return {"rows": len(blocks) * ids.shape[1]}

    return run


def floor(p):
    import time

    import torch

    model, ids = _setup(p)
    hp, blocks = _blocks(model)

    def run():
        acts = []
        handles = [b.register_forward_hook(lambda m, a, o: acts.append(o[0] if isinstance(o, tuple) else o))
                   for b in blocks]
        try:
            model(ids, logits_to_keep=1)
        finally:
            for h in handles:
                h.remove()
        rows = torch.cat([a[0] for a in acts])
        if rows.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for s in range(0, rows.shape[0], 512):
            hp.unembed(rows[s:s + 512])
        if rows.is_cuda:
            torch.cuda.synchronize()
        return {"gemm_s": time.perf_counter() - t0}

    return run


def hooklab(p):
    from hooklab_lens import logit_lens

    model, ids = _setup(p)
    budget = p.get("budget")  # None: the library's default (256MB on CPU, up to 2GB on CUDA)

    def run():
        r = logit_lens(model, None, ids, points="layers.*", topk=1, memory_budget=budget)
        return {"rows": int(r.topk_ids.shape[0] * r.topk_ids.shape[1]), "chunk": "x".join(map(str, r.chunk))}

    return run


def hooklab_fused(p):
    from hooklab_lens import logit_lens

    model, ids = _setup(p)
    budget = p.get("budget")
    logit_lens(model, None, ids[:, :64], points="layers.*", topk=1, memory_budget=budget, fused=True)  # compile

    def run():
        r = logit_lens(model, None, ids, points="layers.*", topk=1, memory_budget=budget, fused=True)
        return {"rows": int(r.topk_ids.shape[0] * r.topk_ids.shape[1]), "chunk": "x".join(map(str, r.chunk))}

    return run


def tl4(p):
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    from hooklab.testing import tiny_tokenizer

    model, ids = _setup(p)
    cfg_dir = tempfile.mkdtemp()
    model.config.save_pretrained(cfg_dir)
    tiny_tokenizer().save_pretrained(cfg_dir)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg_dir)
    bridge = TransformerBridge.boot_transformers(cfg_dir, hf_model=model, tokenizer=tok, device=str(ids.device),
                                                 dtype=model.dtype)
    nxt = ids[0, 1:]

    def run():
        _, cache = bridge.run_with_cache(ids)
        resid = cache.accumulated_resid(apply_ln=True)  # [L+1, 1, T, d]
        probs = torch.softmax(bridge.unembed(resid).float(), dim=-1)[:, 0]  # [L+1, T, V]
        probs.argmax(-1)
        pt = probs[:, :-1].gather(-1, nxt[None, :, None].expand(probs.shape[0], -1, 1))
        (probs[:, :-1] > pt).sum(-1)
        return {"rows": int(probs.shape[0] * probs.shape[1])}

    return run


def nnsight(p):
    import torch
    from nnsight import LanguageModel

    from hooklab.testing import tiny_tokenizer

    model, ids = _setup(p)
    hp, _ = _blocks(model)
    lm = LanguageModel(model, tokenizer=tiny_tokenizer())
    blocks = lm
    for part in hp.layers_path.split("."):
        blocks = getattr(blocks, part)
    norm, head = lm, lm
    for part in hp.final_norm_path.split("."):
        norm = getattr(norm, part)
    for part in hp.unembed_path.split("."):
        head = getattr(head, part)
    nxt = ids[0, 1:]

    def run():
        saved = []
        with lm.trace(ids):
            for block in blocks:
                h = block.output
                h = h[0] if isinstance(h, tuple) else h
                probs = torch.softmax(head(norm(h)).float(), dim=-1)[0]
                pt = probs[:-1].gather(-1, nxt[:, None])
                saved.append((probs.argmax(-1).save(), ((probs[:-1] > pt).sum(-1) + 1).save()))
        return {"rows": len(saved) * ids.shape[1]}

    return run


if __name__ == "__main__":
    main("lens", {"floor": floor, "seed-loop": seed_loop, "hooklab": hooklab, "hooklab-fused": hooklab_fused,
                  "tl4": tl4, "nnsight": nnsight},
         baseline="floor", params={"T": 128, "shape": "gpt2-small", "device": "cpu", "dtype": "float32"},
         repeat=2,
         notes="Full lens: every block output x every position, top-1 + rank of the next token "
               "(hooklab also: probabilities, entropy, KL). `floor` = forward + unembedding GEMM "
               "only (`gemm_s` = the GEMM alone). Random-weight model of the given shape.")
