"""hooklab-cpt data path: does mixing + tokenizing + packing keep up with training, with flat memory?

Variants (each in its own process, so peak RSS is its own):

* ``seed-loader-1x`` / ``seed-loader-10x`` (anchor): the seed's ``create_dataloader_v1`` way — read
  the whole corpus, tokenize it at once, slice every block into tensors up front.
* ``mixer-1x`` / ``mixer-10x``: hooklab's streaming ``ReplayMixer`` (JSONL read lazily, 5 % replay of
  old data, tokenize in batches, pack into blocks) over the same corpus and over one 10x larger.
* ``cpt-trainer-small``: the real ``hooklab_cpt.train`` loop (mixer in a prefetch thread + the same
  step as ``train-small``): if the data path starved training its tokens/s would fall below
  ``train-small``'s.
* ``train-tiny`` / ``train-small``: what the cpt training step consumes (forward, backward,
  clipping, AdamW) on the GPU if there is one, else the CPU, for a tiny GPT-2 (2 layers, hidden 64) and a small one (4 layers, hidden 256).

Compare ``tok_s`` of the mixer with ``tok_s`` of the trainers (goal: >= 10x), and ``peak_rss_mb`` of
``mixer-10x`` with ``mixer-1x`` (goal: flat) against the anchor's growth.

    python benchmarks/bench_cpt_data.py [--no-record]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import main

BLOCK = 128


def _corpus_files(scale: int) -> tuple[str, str]:
    """new.jsonl = the pydoc corpus repeated ``scale`` times (written streaming), old.jsonl = 1x."""
    from hooklab.testing.models import corpus_documents

    root = Path(tempfile.mkdtemp(prefix="cptdata_"))
    docs = corpus_documents()
    with (root / "new.jsonl").open("w") as fh:
        for rep in range(scale):
            for d in docs:
                fh.write(json.dumps({"text": f"[{rep}] {d}"}) + "\n")
    with (root / "old.jsonl").open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"text": d}) + "\n")
    return str(root / "new.jsonl"), str(root / "old.jsonl")


def _seed_loader(scale: int):
    def run():
        import torch

        from hooklab.testing.models import tiny_tokenizer

        new, _ = _corpus_files(scale)
        tok = tiny_tokenizer()
        t0 = time.perf_counter()
        text = "".join(json.loads(line)["text"] + "<|endoftext|>" for line in open(new))
        ids = tok(text, add_special_tokens=False, verbose=False)["input_ids"]
        inputs, targets = [], []
        for i in range(0, len(ids) - BLOCK, BLOCK):  # GPTDatasetV1
            inputs.append(torch.tensor(ids[i:i + BLOCK]))
            targets.append(torch.tensor(ids[i + 1:i + BLOCK + 1]))
        dt = time.perf_counter() - t0
        n = len(inputs) * BLOCK
        return {"seconds": dt, "tokens": n, "tok_s": n / dt}

    return run


def _mixer(scale: int):
    def run():
        from hooklab.testing.models import tiny_tokenizer
        from hooklab_cpt import ReplayMixer

        new, old = _corpus_files(scale)
        tok = tiny_tokenizer()
        mix = ReplayMixer({"new": new, "old": old, "replay": "weak", "unit": "tokens", "budget": "added",
                           "block_size": BLOCK}, tokenizer=tok)
        t0 = time.perf_counter()
        n = 0
        for s in mix:
            n += len(s["input_ids"])
        dt = time.perf_counter() - t0
        return {"seconds": dt, "tokens": n, "tok_s": n / dt}

    return run


def _train(layers: int, hidden: int, batch: int, steps: int = 8):
    def run():
        import torch
        import torch.nn.functional as F

        from hooklab.testing.models import tiny_model

        torch.manual_seed(0)
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        model = tiny_model("gpt2", num_layers=layers, hidden_size=hidden).train().to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        data = torch.randint(0, 512, (steps + 1, batch, BLOCK + 1), device=dev)

        def step(b):
            logits = model(input_ids=b[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), b[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        step(data[0])  # warm-up
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            step(data[i])
        if dev == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        n = steps * batch * BLOCK
        return {"seconds": dt, "tokens": n, "tok_s": n / dt,
                "device": dev, "threads": torch.get_num_threads()}

    return run


def _e2e(layers: int, hidden: int, batch: int, steps: int = 24):
    """The real cpt trainer (mixer + prefetch thread + training step), fp32: median tokens/s."""

    def run():
        import statistics

        from hooklab.testing.models import save_tiny
        from hooklab_cpt import train

        new, old = _corpus_files(1)
        model = save_tiny("gpt2", Path(new).parent / "m", num_layers=layers, hidden_size=hidden)
        out = Path(new).parent / "run"
        train({"model": str(model), "output_dir": str(out), "max_steps": steps, "batch_size": batch,
               "progress": False, "precision": "fp32",
               "data": {"new": new, "old": old, "replay": "weak", "block_size": BLOCK},
               "schedule": {"name": "constant", "lr": 1e-3}})
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][4:]
        tok_s = statistics.median(r["tok_s"] for r in rows)
        return {"seconds": len(rows) * batch * BLOCK / tok_s, "tokens": len(rows) * batch * BLOCK,
                "tok_s": tok_s}

    return run


def _with_result(fn):
    def variant(p):
        return fn()

    return variant


if __name__ == "__main__":
    main(
        "cpt_data_path",
        {
            "seed-loader-1x": _with_result(_seed_loader(1)),
            "seed-loader-10x": _with_result(_seed_loader(10)),
            "mixer-1x": _with_result(_mixer(1)),
            "mixer-10x": _with_result(_mixer(10)),
            "mixer-30x": _with_result(_mixer(30)),
            "train-tiny": _with_result(_train(2, 64, 16)),
            "train-small": _with_result(_train(4, 256, 8)),
            "cpt-trainer-small": _with_result(_e2e(4, 256, 8)),
        },
        baseline="seed-loader-1x",
        params={"block_size": BLOCK, "replay": 0.05},
        notes=("Data path (read + mix + tokenize + pack, on the CPU) vs what a training step consumes "
               "(on the GPU when there is one: see the `device` column); "
               "`tok_s` is the metric to compare (seconds are of different work per row). "
               "1x = pydoc_data.topics (~0.7 M chars), 10x = ten copies streamed from one JSONL file."),
    )
