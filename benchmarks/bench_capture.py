"""Capture every block output of a GPT-2-small-shaped model (12 x 768) over many tokens.

Variants (each in its own process, same model, same batches):

* ``forward-only``      the plain HF forward over the batches, no hooks (baseline)
* ``hooklab-parquet``   hooklab-capture streaming all 12 block outputs to Parquet shards (float16)
* ``hooklab-parquet-small``  the same on a fifth of the tokens: peak RSS must not grow with tokens
* ``hooklab-memory``    hooklab-capture in memory (all 12 outputs kept, float16, padding removed)
* ``nnsight``           nnsight ``LanguageModel.trace`` saving the 12 block outputs per batch,
                        then kept in memory like hooklab-memory
* ``transformer-lens``  TransformerLens 4 ``TransformerBridge.run_with_cache`` (names_filter =
                        ``blocks.{i}.hook_out``), kept in memory the same way

Goals (issue 3): hooklab-parquet <= 1.25x forward-only; peak RSS flat (within 10%) between
``hooklab-parquet-small`` and ``hooklab-parquet``.

Run (anchors live in their own venv, with hooklab installed there --no-deps)::

    /tmp/anchors/bin/python benchmarks/bench_capture.py --repeat 1                 # CPU, 50k tokens
    python benchmarks/bench_capture.py --set device=cuda --only forward-only,hooklab-parquet
    --set tokens=8000 for a short run
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness import main

PARAMS = {"tokens": 50_000, "seq_len": 256, "batch_size": 8, "device": "cpu", "layers": 12, "hidden": 768,
          "heads": 12, "vocab": 50257}


def _setup(p: dict[str, Any], fraction: float = 1.0) -> tuple[Any, Any, list[str], Path]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hooklab.testing import save_tiny
    from hooklab.testing.models import corpus_text

    torch.manual_seed(0)
    root = Path(tempfile.gettempdir()) / f"hooklab-bench-gpt2s-{p['layers']}x{p['hidden']}"
    if not (root / "config.json").exists():
        save_tiny("gpt2", root, hidden_size=p["hidden"], num_layers=p["layers"], num_heads=p["heads"],
                  vocab_size=512, max_positions=1024)
    model = AutoModelForCausalLM.from_pretrained(root, attn_implementation="eager")
    if p["vocab"] != model.config.vocab_size:  # the real GPT-2 LM head size (the tokenizer uses ids < 512)
        model.resize_token_embeddings(p["vocab"])
    model = model.to(p["device"]).eval()
    tok = AutoTokenizer.from_pretrained(root)
    # texts of ~seq_len tokens each, enough for `tokens` tokens
    text = corpus_text()
    n_texts = max(1, round(p["tokens"] * fraction / p["seq_len"]))
    chunk = p["seq_len"] * 3
    texts = [(text * 3)[i * chunk:(i + 1) * chunk] for i in range(n_texts)]
    return model, tok, texts, root


def _batches(tok: Any, texts: list[str], p: dict[str, Any]) -> list[Any]:
    return [tok(texts[i:i + p["batch_size"]], return_tensors="pt", padding=True, truncation=True,
                max_length=p["seq_len"]) for i in range(0, len(texts), p["batch_size"])]


def forward_only(p: dict[str, Any]) -> Any:
    import torch

    model, tok, texts, _ = _setup(p)
    batches = _batches(tok, texts, p)

    def run() -> dict[str, Any]:
        with torch.inference_mode():
            for b in batches:
                model(input_ids=b["input_ids"].to(p["device"]), attention_mask=b["attention_mask"].to(p["device"]))
        return {"tokens": int(sum(int(b["attention_mask"].sum()) for b in batches))}

    return run


def _parquet(p: dict[str, Any], fraction: float) -> Any:
    from hooklab_capture.capture import capture

    model, tok, texts, _ = _setup(p, fraction)

    def run() -> dict[str, Any]:
        out = Path(tempfile.mkdtemp(prefix="hooklab-bench-capture-"))
        try:
            r = capture(model, tok, texts, "layers.*", out=out, batch_size=p["batch_size"],
                        max_length=p["seq_len"], dtype="float16", shard_texts=64)
            return {"tokens": r.tokens, "gb_written": round(r.bytes_written / 1e9, 3)}
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return run


def hooklab_parquet(p: dict[str, Any]) -> Any:
    return _parquet(p, 1.0)


def hooklab_parquet_small(p: dict[str, Any]) -> Any:
    return _parquet(p, 0.2)


def hooklab_memory(p: dict[str, Any]) -> Any:
    from hooklab_capture.capture import capture

    model, tok, texts, _ = _setup(p)

    def run() -> dict[str, Any]:
        acts = capture(model, tok, texts, "layers.*", batch_size=p["batch_size"], max_length=p["seq_len"],
                       dtype="float16", shard_texts=len(texts))
        return {"tokens": len(acts)}

    return run


def _keep(store: dict[int, list[Any]], outs: list[Any], mask: Any) -> None:
    import torch

    for i, h in enumerate(outs):
        h = h[0] if isinstance(h, tuple) else h
        store.setdefault(i, []).append(h[mask.to(h.device).bool()].to("cpu", torch.float16))


def nnsight(p: dict[str, Any]) -> Any:
    import torch
    from nnsight import LanguageModel

    model, tok, texts, _ = _setup(p)
    lm = LanguageModel(model, tokenizer=tok)
    batches = _batches(tok, texts, p)
    n = model.config.n_layer

    def run() -> dict[str, Any]:
        store: dict[int, list[Any]] = {}
        for b in batches:
            saved: list[Any] = []
            with torch.inference_mode(), lm.trace({"input_ids": b["input_ids"].to(p["device"]),
                                                   "attention_mask": b["attention_mask"].to(p["device"])}):
                for i in range(n):
                    saved.append(lm.transformer.h[i].output.save())
            _keep(store, saved, b["attention_mask"])
        return {"tokens": int(sum(t.shape[0] for t in store[0]))}

    return run


def transformer_lens(p: dict[str, Any]) -> Any:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    model, tok, texts, root = _setup(p)
    bridge = TransformerBridge.boot_transformers(str(root), hf_model=model, tokenizer=tok)
    batches = _batches(tok, texts, p)
    pattern = re.compile(r"blocks\.(\d+)\.hook_out")

    def run() -> dict[str, Any]:
        store: dict[int, list[Any]] = {}
        for b in batches:
            with torch.inference_mode():
                _, cache = bridge.run_with_cache(b["input_ids"].to(p["device"]),
                                                 attention_mask=b["attention_mask"].to(p["device"]),
                                                 names_filter=lambda name: bool(pattern.fullmatch(name)))
            outs = [cache[f"blocks.{i}.hook_out"] for i in range(model.config.n_layer)]
            _keep(store, outs, b["attention_mask"])
        return {"tokens": int(sum(t.shape[0] for t in store[0]))}

    return run


if __name__ == "__main__":
    main("capture", {"forward-only": forward_only, "hooklab-parquet": hooklab_parquet,
                     "hooklab-parquet-small": hooklab_parquet_small, "hooklab-memory": hooklab_memory,
                     "nnsight": nnsight, "transformer-lens": transformer_lens},
         baseline="forward-only", params=PARAMS, repeat=1,
         notes="GPT-2-small shape (12 x 768, LM head 50257), random weights, eager attention; texts of "
               "`seq_len` tokens in batches of `batch_size`; all 12 block outputs captured, padding "
               "removed, float16 on the host. `hooklab-parquet-small` uses a fifth of the tokens (RSS "
               "flatness). Anchors (nnsight, TransformerLens 4 TransformerBridge) keep what they capture "
               "in memory; hooklab-parquet streams to disk. seconds = one full pass (repeat 1).")
