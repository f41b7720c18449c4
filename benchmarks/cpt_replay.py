"""Does replay reduce forgetting? (hooklab-cpt; a benchmark of the science, not a timing.)

1. Pretrain a tiny GPT-2 on D1 = the standard library's ``pydoc_data.topics`` help texts (prose).
2. Continue pretraining it on D2 = Python source code of standard-library packages (a strong shift)
   with 0 %, 5 % and 25 % replay of D1, at the same token budget and the same re-warmed schedule.
3. Print held-out D1 and D2 loss before and after each run; append the table to RESULTS.md.

Expected (Ibrahim et al. 2024): the rise of the D1 loss shrinks as replay grows; the D2 loss
barely changes. Everything is local (no hub); on 2 CPU cores it takes a few minutes.

    python benchmarks/cpt_replay.py [--pre-steps 400] [--cpt-steps 300] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def stdlib_source_docs(limit_chars: int) -> list[str]:
    """Source files of a few stdlib packages (one document per file), about ``limit_chars``."""
    from hooklab.testing.models import stdlib_source_documents

    return stdlib_source_documents(limit_chars)


def write_jsonl(path: Path, docs: list[str]) -> str:
    with path.open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"text": d}) + "\n")
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pre-steps", type=int, default=300)
    ap.add_argument("--cpt-steps", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--replays", default="0,0.05,0.25")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--results", default=str(RESULTS), help="markdown file to append the table to")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hooklab.testing.models import corpus_documents, save_tiny
    from hooklab_cpt import ForgettingReport, train

    work = Path(tempfile.mkdtemp(prefix="cpt_replay_"))
    d1 = corpus_documents()
    d2 = stdlib_source_docs(900_000)
    cut1, cut2 = len(d1) * 9 // 10, len(d2) * 9 // 10
    files = {
        "d1": write_jsonl(work / "d1.jsonl", d1[:cut1]),
        "d1_held": write_jsonl(work / "d1_held.jsonl", d1[cut1:]),
        "d2": write_jsonl(work / "d2.jsonl", d2[:cut2]),
        "d2_held": write_jsonl(work / "d2_held.jsonl", d2[cut2:]),
    }
    base = save_tiny("gpt2", work / "init", num_layers=args.layers, hidden_size=args.hidden)
    evals = {"old": files["d1_held"], "new": files["d2_held"], "max_blocks": 64, "batch_size": 32}
    common = {"batch_size": args.batch, "progress": False, "max_norm": 1.0, "weight_decay": 0.1}

    t0 = time.time()
    pre = train({**common, "model": str(base), "output_dir": str(work / "pre"), "max_steps": args.pre_steps,
                 "data": {"new": files["d1"], "replay": 0, "block_size": args.block, "seed": 1},
                 "eval": evals,
                 "schedule": {"name": "cosine", "peak_lr": 3e-3, "initial_lr": 3e-4, "warmup_fraction": 0.05}})
    print(f"pretrained on D1 in {time.time() - t0:.0f}s: {pre.report.table()}", flush=True)

    rows = []
    for r in [float(x) for x in args.replays.split(",")]:
        t0 = time.time()
        res = train({**common, "model": str(work / "pre" / "final"), "output_dir": str(work / f"cpt_{r}"),
                     "max_steps": args.cpt_steps,
                     "data": {"new": files["d2"], "old": files["d1"], "replay": r, "unit": "tokens",
                              "budget": "fixed", "block_size": args.block, "seed": 2},
                     "eval": evals,
                     # "repeat the warmup and decay": re-warm to a lower peak for the new phase
                     "schedule": {"name": "cosine", "peak_lr": 1.5e-3, "initial_lr": 1.5e-4,
                                  "warmup_fraction": 0.05}})
        s = ForgettingReport.load(res.output_dir).summary()
        rows.append({"replay": r, **s, "seconds": time.time() - t0})
        print(f"replay {r:.0%}: D1 {s['old_loss_before']:.4f} -> {s['old_loss_after']:.4f} "
              f"(+{s['old_loss_change']:.4f}), D2 {s['new_loss_before']:.4f} -> {s['new_loss_after']:.4f}",
              flush=True)

    head = ("| replay | D1 loss before | D1 loss after | D1 rise (forgetting) | D2 loss before | "
            "D2 loss after | D2 change | seconds |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['replay']:.0%} | {row['old_loss_before']:.4f} | {row['old_loss_after']:.4f} | "
                     f"{row['old_loss_change']:+.4f} | {row['new_loss_before']:.4f} | {row['new_loss_after']:.4f} | "
                     f"{row['new_loss_change']:+.4f} | {row['seconds']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        import platform

        import torch

        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        pre_s = pre.report.summary()
        block = [
            f"\n## cpt_replay — {when}", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cpu, torch {torch.__version__}"
            f"{', ' + torch.cuda.get_device_name() if torch.cuda.is_available() else ''} "
            f"(precision {pre.precision}). "
            f"Tiny GPT-2 ({args.layers} layers, hidden {args.hidden}, block {args.block}, batch {args.batch}); "
            f"pretrained {args.pre_steps} steps on D1 = pydoc_data.topics (D1 held-out loss "
            f"{pre_s['old_loss_before']:.3f} -> {pre_s['old_loss_after']:.3f}), then {args.cpt_steps} steps "
            f"({args.cpt_steps * args.batch * args.block:,} tokens, same for every row) on D2 = stdlib source "
            f"code, replaying D1 by tokens at a fixed budget, re-warmed cosine schedule. Held-out losses "
            f"(nats/token) on 64 blocks of each.", "", table, ""]
        with Path(args.results).open("a", encoding="utf-8") as fh:
            fh.write("\n".join(block) + "\n")


if __name__ == "__main__":
    main()
