"""DPO training throughput and peak memory: hooklab's defaults vs the seed's plain TRL setup.

Same model (random weights, Qwen2-shaped), same pairs, same batch. Variants:

* ``trl-default`` (baseline) — the seed's ``train_dpo.py``: ``DPOConfig(output_dir=..., logging_steps=10)``
  with TRL's defaults (gradient checkpointing on, a live reference model: an explicit copy, since
  an in-memory model without one makes TRL try to download it);
* ``hooklab`` — ``hooklab dpo`` defaults (:class:`hooklab_dpo_trl.trainer.DPORun`): reference
  log-probs precomputed once and cached on disk (no reference in memory, no reference forward per
  step), no gradient checkpointing;
* ``trl-lora-r16`` — TRL defaults + ``peft_config=LoraConfig(r=16, all-linear)``;
* ``hooklab-lora`` — ``hooklab dpo --trainer peft-lora`` defaults (r=16, all-linear, precomputed
  reference, gradient checkpointing, frozen base in bf16 when training in bf16);
* ``hooklab-ckpt`` / ``hooklab-compile`` — hooklab full with gradient checkpointing / torch.compile
  (what the defaults trade away; ``--only`` picks variants).

Timed: the training steps after ``warmup`` steps (tokens/s = prompt+completion tokens of chosen and
rejected per second). ``setup_s`` is the untimed rest (model build, tokenization, reference
precompute). CPU runs a small Qwen2 shape; for the GPU run of the issue::

    python benchmarks/bench_dpo.py --device cuda --dtype bfloat16 --shape qwen2-0.5b

(``--device``/``--dtype``/``--shape``/``--batch``/``--seq``/``--steps`` are shorthands for ``--set``.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

# shorthands: --device cuda -> --set device=cuda (the harness forwards --set to each variant)
_SHORT = ("device", "dtype", "shape", "batch", "seq", "steps", "warmup")
for _i, _a in enumerate(list(sys.argv)):
    if _a.lstrip("-") in _SHORT and _a.startswith("--") and _i + 1 < len(sys.argv):
        sys.argv[_i], sys.argv[_i + 1] = "--set", f"{_a[2:]}={sys.argv[_i + 1]}"

from harness import main  # noqa: E402

SHAPES = {
    # a small Qwen2 shape for CPU
    "small": {"hidden_size": 384, "num_layers": 6, "num_heads": 6, "vocab_size": 16384, "intermediate_size": 1536,
              "num_key_value_heads": 2},
    # Qwen2-0.5B: 24 layers, hidden 896, 14 heads (2 KV), MLP 4864, vocab 151936, tied embeddings
    "qwen2-0.5b": {"hidden_size": 896, "num_layers": 24, "num_heads": 14, "vocab_size": 151936,
                   "intermediate_size": 4864, "num_key_value_heads": 2, "rope_theta": 1000000.0},
}


def _model(p: dict[str, Any]) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from hooklab.testing.models import tiny_config

    shape = dict(SHAPES[p["shape"]])
    cfg = tiny_config("qwen2", **{k: shape.pop(k) for k in ("hidden_size", "num_layers", "num_heads", "vocab_size")},
                      max_positions=4096, **shape)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)  # default attention (sdpa), float32 weights


def _pairs(p: dict[str, Any], tok: Any) -> list[dict[str, str]]:
    """``batch * (warmup + steps)`` pairs: a prompt of ~seq/8 tokens and completions of ~7*seq/8."""
    import random

    from hooklab.testing.models import corpus_text

    words = corpus_text().split()
    rng = random.Random(0)
    n = p["batch"] * (p["warmup"] + p["steps"])
    ratio = max(1.0, len(tok(" ".join(words[:2000]))["input_ids"]) / 2000)  # tokens per word
    pw, cw = max(4, int(p["seq"] / 8 / ratio)), max(8, int(p["seq"] * 7 / 8 / ratio))
    out = []
    for i in range(n):
        start = rng.randrange(0, len(words) - pw - cw)
        chosen = words[start + pw:start + pw + cw]
        rejected = chosen[:]
        rng.shuffle(rejected)
        out.append({"prompt": " ".join(words[start:start + pw]) + "\n", "chosen": " ".join(chosen),
                    "rejected": " ".join(rejected), "i": i})
    return out


def _timer(p: dict[str, Any]) -> Any:
    from transformers import TrainerCallback

    def sync() -> None:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.t: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sync()
            self.t.append(time.perf_counter())

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.reset_peak_memory_stats()

    return Timer()


def _report(p: dict[str, Any], tok: Any, pairs: list[dict[str, str]], timer: Any, t0: float) -> dict[str, Any]:
    per_pair = sum(len(tok(x["prompt"] + x["chosen"])["input_ids"]) + len(tok(x["prompt"] + x["rejected"])["input_ids"]) + 2
                   for x in pairs) / len(pairs)
    w = p["warmup"]
    seconds = timer.t[-1] - timer.t[w - 1]
    steps = len(timer.t) - w
    tokens = steps * p["batch"] * per_pair
    return {"seconds": seconds, "tokens_per_s": tokens / seconds, "steps": steps,
            "tokens_per_step": round(p["batch"] * per_pair), "setup_s": round(timer.t[w - 1] - t0, 1)}


def _common(p: dict[str, Any]) -> dict[str, Any]:
    import torch

    bf16 = p["dtype"] == "bfloat16"
    return {"per_device_train_batch_size": p["batch"], "max_steps": p["warmup"] + p["steps"], "bf16": bf16,
            "report_to": [], "use_cpu": p["device"] == "cpu", "disable_tqdm": True,
            "dataloader_pin_memory": torch.cuda.is_available() and p["device"] != "cpu"}


def _trl(p: dict[str, Any], lora: bool) -> dict[str, Any]:
    import datasets
    from trl import DPOConfig, DPOTrainer

    from hooklab.testing.models import tiny_tokenizer

    t0 = time.perf_counter()
    tok = tiny_tokenizer()
    pairs = _pairs(p, tok)
    model = _model(p)
    kwargs: dict[str, Any] = {}
    ref = None
    if lora:
        from peft import LoraConfig

        kwargs["peft_config"] = LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules="all-linear")
    else:
        ref = _model(p)  # the explicit reference copy the seed's setup loads
    timer = _timer(p)
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(output_dir=out, logging_steps=10, save_strategy="no", **_common(p))  # the seed + batch
        trainer = DPOTrainer(model=model, ref_model=ref, args=args, processing_class=tok,
                             train_dataset=datasets.Dataset.from_list(pairs), callbacks=[timer], **kwargs)
        trainer.train()
    return _report(p, tok, pairs, timer, t0)


def _hooklab(p: dict[str, Any], lora: bool, **over: Any) -> dict[str, Any]:
    from hooklab.testing.models import tiny_tokenizer

    t0 = time.perf_counter()
    tok = tiny_tokenizer()
    pairs = _pairs(p, tok)
    model = _model(p)
    timer = _timer(p)
    with tempfile.TemporaryDirectory() as out:
        common = _common(p)
        cfg = {"output_dir": out, "batch_size": p["batch"], "max_steps": common["max_steps"],
               "bf16": common["bf16"], "device": p["device"], "ref_cache_dir": os.path.join(out, "refcache"),
               "progress": False, "plot": False, "save_final": False, "evaluate": False,
               "trl_args": {"save_strategy": "no"}, **over}
        if lora:
            from hooklab_dpo_peft.trainer import LoraDPORun as Run
        else:
            from hooklab_dpo_trl.trainer import DPORun as Run
        Run(cfg, model=model, tokenizer=tok, train_data=pairs, callbacks=[timer]).train()
    return _report(p, tok, pairs, timer, t0)


def trl_default(p: dict[str, Any]) -> dict[str, Any]:
    return _trl(p, lora=False)


def trl_lora(p: dict[str, Any]) -> dict[str, Any]:
    return _trl(p, lora=True)


def hooklab_full(p: dict[str, Any]) -> dict[str, Any]:
    return _hooklab(p, lora=False)


def hooklab_lora(p: dict[str, Any]) -> dict[str, Any]:
    return _hooklab(p, lora=True)


def hooklab_ckpt(p: dict[str, Any]) -> dict[str, Any]:
    """hooklab full with gradient checkpointing on (less activation memory, one more forward)."""
    return _hooklab(p, lora=False, gradient_checkpointing=True)


def hooklab_compile(p: dict[str, Any]) -> dict[str, Any]:
    """hooklab full + torch.compile (GPU; the compile time is in setup_s via the warmup steps)."""
    return _hooklab(p, lora=False, torch_compile=True)


if __name__ == "__main__":
    main("dpo", {"trl-default": trl_default, "hooklab": hooklab_full, "hooklab-ckpt": hooklab_ckpt,
                 "trl-lora-r16": trl_lora, "hooklab-lora": hooklab_lora, "hooklab-compile": hooklab_compile},
         baseline="trl-default", repeat=1,
         params={"device": "cpu", "dtype": "float32", "shape": "small", "batch": 4, "seq": 128,
                 "steps": 6, "warmup": 2},
         notes="DPO train step throughput (tokens/s of chosen+rejected sequences, timed steps after warmup) "
               "and peak memory; trl-default = the seed's DPOConfig(output_dir, logging_steps=10) + a reference "
               "copy; hooklab = `hooklab dpo` defaults (precomputed, disk-cached reference; no gradient "
               "checkpointing). `seconds` = timed steps only; setup_s = model build + tokenization + reference "
               "precompute. Goal: hooklab >= 2x trl-default tokens/s at <= its memory; LoRA >= full speed at "
               "<= 1/3 of its memory.")
