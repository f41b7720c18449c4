"""Hook overhead: a forward with 24 no-op hooks (hooklab and raw torch) vs none.

GPT-2-small shape (12 x 768), hooks on every attention and MLP sublayer (`layers.*.{attn,mlp}`,
24 hooks). Goal (issue 3): hooklab <= 1.03x the forward without hooks. Each timed call runs
`forwards` forward passes; seconds is the best of `--repeat`.

    python benchmarks/bench_hook_overhead.py                      # CPU
    python benchmarks/bench_hook_overhead.py --set device=cuda    # GPU
"""

from __future__ import annotations

from typing import Any

from harness import main

PARAMS = {"batch": 4, "seq_len": 128, "forwards": 5, "device": "cpu", "layers": 12, "hidden": 768, "heads": 12}


def _setup(p: dict[str, Any]) -> tuple[Any, Any]:
    import torch

    from hooklab.testing import tiny_model

    model = tiny_model("gpt2", num_layers=p["layers"], hidden_size=p["hidden"], num_heads=p["heads"],
                       vocab_size=50257).to(p["device"])
    ids = torch.randint(0, 50257, (p["batch"], p["seq_len"]), generator=torch.Generator().manual_seed(0))
    return model, ids.to(p["device"])


def _loop(model: Any, ids: Any, p: dict[str, Any]) -> Any:
    import torch

    def run() -> None:
        with torch.inference_mode():
            for _ in range(p["forwards"]):
                model(ids)

    run()  # warm-up
    return run


def no_hooks(p: dict[str, Any]) -> Any:
    model, ids = _setup(p)
    return _loop(model, ids, p)


def hooklab_24_noop(p: dict[str, Any]) -> Any:
    from hooklab.hooks import Hooks

    model, ids = _setup(p)
    h = Hooks(model, owner="bench")  # stays attached for the timed calls
    added = h.forward("layers.*.{attn,mlp}", lambda act, hook: None)
    assert len(added) == 2 * p["layers"]
    return _loop(model, ids, p), {"hooks": len(added)}


def torch_24_noop(p: dict[str, Any]) -> Any:
    from hooklab.models import hook_points

    model, ids = _setup(p)
    points = hook_points(model).resolve("layers.*.{attn,mlp}")
    for hp in points:
        hp.module.register_forward_hook(lambda m, i, o: None)
    return _loop(model, ids, p), {"hooks": len(points)}


if __name__ == "__main__":
    main("hook-overhead", {"no-hooks": no_hooks, "hooklab-24-noop": hooklab_24_noop,
                           "torch-24-noop": torch_24_noop},
         baseline="no-hooks", params=PARAMS, repeat=7,
         notes="GPT-2-small shape, random weights; 24 no-op forward hooks on every attn and mlp sublayer; "
               "seconds = best of 7 calls of `forwards` forward passes.")
