"""The quickstart's steps, one function each. Every step takes the :class:`Context`, writes its
artifacts under ``ctx.out / <step folder>`` and returns a dict of results for the report."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import DataError
from hooklab_quickstart.config import QuickstartConfig


@dataclass
class Context:
    """What the steps share: the output folder, the config, the cache and the loaded model."""

    out: Path
    config: QuickstartConfig
    cache_root: Path
    progress: bool = True
    tiny_path: Path | None = None
    data: dict[str, str] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    _model: Any = None
    _tokenizer: Any = None

    def model(self) -> tuple[Any, Any]:
        """hooklab-tiny and its tokenizer, loaded once (eval mode)."""
        if self._model is None:
            from hooklab.models import load_model

            self._model, self._tokenizer = load_model(str(self.tiny_path), dtype="float32")
            self._model.eval()
        return self._model, self._tokenizer

    def bar(self, total: int, desc: str, unit: str = "it") -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=not self.progress, dynamic_ncols=True,
                    file=sys.stderr, leave=True)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def default_cache_root() -> Path:
    """Where hooklab-tiny is cached: ``platformdirs.user_cache_dir("hooklab")/quickstart``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("hooklab")) / "quickstart"


# -- the corpora ----------------------------------------------------------------------------------

from hooklab.testing.models import STDLIB_PACKAGES  # noqa: E402 - the corpus the cpt benchmark uses too


def stdlib_sources(limit_chars: int = 900_000) -> list[str]:
    """D2: Python source files of a few standard-library packages (one document per file, about
    ``limit_chars`` characters). Local, offline, and a strong shift from D1's prose, so forgetting
    shows (the corpus of ``benchmarks/cpt_replay.py``)."""
    from hooklab.testing.models import stdlib_source_documents

    return stdlib_source_documents(limit_chars, STDLIB_PACKAGES)


def write_corpora(ctx: Context) -> dict[str, str]:
    """D1 (pydoc_data.topics) and D2 (stdlib source code) as JSONL, 90/10 train/held-out splits."""
    from hooklab.testing.models import corpus_documents

    folder = ctx.out / "data"
    d1 = corpus_documents()
    d2 = stdlib_sources()
    c1, c2 = len(d1) * 9 // 10, len(d2) * 9 // 10
    ctx.data = {
        "d1": _write_jsonl(folder / "d1_pydoc_topics.jsonl", [{"text": t} for t in d1[:c1]]),
        "d1_held": _write_jsonl(folder / "d1_held.jsonl", [{"text": t} for t in d1[c1:]]),
        "d2": _write_jsonl(folder / "d2_stdlib_source.jsonl", [{"text": t} for t in d2[:c2]]),
        "d2_held": _write_jsonl(folder / "d2_held.jsonl", [{"text": t} for t in d2[c2:]]),
    }
    ctx.data["d1_docs"], ctx.data["d2_docs"] = str(len(d1)), str(len(d2))
    ctx.data["d1_chars"], ctx.data["d2_chars"] = str(sum(map(len, d1))), str(sum(map(len, d2)))
    return ctx.data


# -- 1. hooklab-tiny ------------------------------------------------------------------------------

def _schedule(cfg_peak: float, warmup: float) -> dict[str, Any]:
    return {"name": "cosine", "peak_lr": cfg_peak, "initial_lr": cfg_peak / 10, "warmup_fraction": warmup}


def step_tiny(ctx: Context) -> dict[str, Any]:
    """Train hooklab-tiny from scratch on D1 with a hooklab cosine schedule (hooklab-cpt's trainer,
    no replay), or load it from the cache when a model with the same config was trained before."""
    from hooklab_schedules.configs import build_schedule

    t = ctx.config.tiny
    key = t.key()
    cache = ctx.cache_root / f"hooklab-tiny-{key}"
    folder = ctx.out / "01-tiny"
    folder.mkdir(parents=True, exist_ok=True)
    card_path = cache / "hooklab-tiny.json"
    sched = build_schedule(_schedule(t.peak_lr, t.warmup_fraction), total_steps=t.steps)
    sched.plot(str(folder / "lr_schedule.png"), title="hooklab-tiny: cosine schedule (hooklab-schedules)")
    t0 = time.perf_counter()
    if card_path.is_file() and (cache / "model.safetensors").is_file():
        card = json.loads(card_path.read_text())
        trained = False
        bar = ctx.bar(1, "1/8 hooklab-tiny (cached)", "model")
        bar.update(1)
        bar.close()
    else:
        from hooklab.testing.models import save_tiny
        from hooklab_cpt import train

        work = ctx.out / "01-tiny" / "train"
        if work.exists():
            shutil.rmtree(work)
        init = save_tiny("gpt2", work / "init", seed=t.seed, vocab_size=t.vocab_size, num_layers=t.num_layers,
                         hidden_size=t.hidden_size, num_heads=t.num_heads, max_positions=t.max_positions)
        if ctx.progress:
            print("1/8 hooklab-tiny: training from scratch on pydoc_data.topics", file=sys.stderr, flush=True)
        res = train({
            "model": str(init), "output_dir": str(work / "run"), "max_steps": t.steps, "batch_size": t.batch_size,
            "max_norm": 1.0, "weight_decay": 0.1, "progress": ctx.progress, "resume": False, "seed": t.seed,
            "data": {"new": ctx.data["d1"], "replay": 0, "block_size": t.block_size, "seed": t.seed},
            "eval": {"new": ctx.data["d1_held"], "max_blocks": ctx.config.eval_blocks, "batch_size": 16},
            "schedule": _schedule(t.peak_lr, t.warmup_fraction),
        })
        s = res.report.summary()
        card = {"name": "hooklab-tiny", "key": key, "config": t.model_dump(), "steps": res.steps,
                "final_train_loss": res.final_loss, "held_out_loss_before": s.get("new_loss_before"),
                "held_out_loss_after": s.get("new_loss_after"), "losses": res.losses,
                "train_seconds": round(time.perf_counter() - t0, 1),
                "parameters": None, "corpus": "pydoc_data.topics (90%)"}
        tmp = ctx.cache_root / f".hooklab-tiny-{key}.tmp{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(res.output_dir / "final", tmp)
        (tmp / "hooklab-tiny.json").write_text(json.dumps(card, indent=2))
        cache.parent.mkdir(parents=True, exist_ok=True)
        if cache.exists():  # a half-written cache entry (no model file): replace it
            shutil.rmtree(cache)
        os.replace(tmp, cache)
        shutil.rmtree(work, ignore_errors=True)
        trained = True
    ctx.tiny_path = cache
    model, _ = ctx.model()
    card["parameters"] = sum(p.numel() for p in model.parameters())
    (folder / "model_card.json").write_text(json.dumps({k: v for k, v in card.items() if k != "losses"}, indent=2))
    _loss_plot(card["losses"], folder / "train_loss.png", "hooklab-tiny: training loss on pydoc_data.topics")
    return {"trained": trained, "cache_dir": str(cache), "key": key, "card": card,
            "seconds": round(time.perf_counter() - t0, 1),
            "images": {"training loss": str(folder / "train_loss.png"),
                       "learning-rate schedule": str(folder / "lr_schedule.png")}}


def _loss_plot(losses: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, len(losses) + 1), losses, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- 2. continued pretraining ---------------------------------------------------------------------

def step_cpt(ctx: Context) -> dict[str, Any]:
    """Continue pretraining hooklab-tiny on D2 (stdlib source code) with 0% and 5% replay of D1 at
    the same token budget and the same re-warmed schedule; the forgetting table compares them."""
    from hooklab_cpt import ForgettingReport, train

    cfg, t = ctx.config, ctx.config.tiny
    folder = ctx.out / "02-cpt"
    rows, images = [], {}
    for i, r in enumerate(cfg.cpt_replays):
        if ctx.progress:
            print(f"2/8 continued pretraining on stdlib source code, replay {r:.0%} "
                  f"({i + 1}/{len(cfg.cpt_replays)})", file=sys.stderr, flush=True)
        run_dir = folder / f"replay-{round(r * 100)}pct"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        t0 = time.perf_counter()
        res = train({
            "model": str(ctx.tiny_path), "output_dir": str(run_dir), "max_steps": cfg.cpt_steps,
            "batch_size": t.batch_size, "max_norm": 1.0, "progress": ctx.progress, "resume": False,
            "seed": cfg.seed, "save_every": 0,
            "data": {"new": ctx.data["d2"], "old": ctx.data["d1"], "replay": r, "unit": "tokens",
                     "budget": "fixed", "block_size": t.block_size, "seed": cfg.seed + 1},
            "eval": {"old": ctx.data["d1_held"], "new": ctx.data["d2_held"], "max_blocks": cfg.eval_blocks,
                     "batch_size": 16, "every": max(1, cfg.cpt_steps // 4)},
            "schedule": _schedule(t.peak_lr / 2, 0.1),  # re-warm to a lower peak, re-decay
        })
        rep = ForgettingReport.load(res.output_dir)
        s = rep.summary()
        png = run_dir / "forgetting.png"
        rep.plot(str(png))
        images[f"forgetting, replay {r:.0%}"] = str(png)
        rows.append({"replay": r, "d1_before": s["old_loss_before"], "d1_after": s["old_loss_after"],
                     "d1_change": s["old_loss_change"], "d2_before": s["new_loss_before"],
                     "d2_after": s["new_loss_after"], "d2_change": s["new_loss_change"],
                     "steps": res.steps, "seconds": round(time.perf_counter() - t0, 1)})
        shutil.rmtree(run_dir / "final", ignore_errors=True)  # the report is what we keep; saves disk
    table = forgetting_table(rows)
    (folder / "forgetting.md").write_text(table + "\n")
    (folder / "forgetting.json").write_text(json.dumps(rows, indent=2))
    return {"rows": rows, "table": table, "images": images,
            "d1": {"docs": int(ctx.data["d1_docs"]), "chars": int(ctx.data["d1_chars"])},
            "d2": {"docs": int(ctx.data["d2_docs"]), "chars": int(ctx.data["d2_chars"])}}


def forgetting_table(rows: list[dict[str, Any]]) -> str:
    """The forgetting table as Markdown (held-out losses in nats/token)."""
    lines = ["| replay | D1 loss before | D1 loss after | D1 rise (forgetting) | D2 loss before | D2 loss after | D2 change |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['replay']:.0%} | {r['d1_before']:.3f} | {r['d1_after']:.3f} | {r['d1_change']:+.3f} | "
                     f"{r['d2_before']:.3f} | {r['d2_after']:.3f} | {r['d2_change']:+.3f} |")
    return "\n".join(lines)


# -- 3. logit lens --------------------------------------------------------------------------------

def step_lens(ctx: Context) -> dict[str, Any]:
    """The logit lens on one prompt: the seed's terminal table and top-1 / rank heatmaps."""
    from hooklab_lens import logit_lens

    model, tok = ctx.model()
    folder = ctx.out / "03-lens"
    folder.mkdir(parents=True, exist_ok=True)
    bar = ctx.bar(6, "3/8 logit lens", "file")
    res = logit_lens(model, tok, ctx.config.lens_prompt, points="resid", topk=5)
    bar.update(1)
    table = res.table(position=-2)  # the last position with a next token: shows its rank too
    (folder / "table.txt").write_text(table + "\n")
    res.save(folder / "lens.parquet")
    bar.update(1)
    files = {}
    for kind in ("top1", "rank"):
        for ext in ("png", "html"):
            p = res.plot(kind=kind, path=folder / f"lens_{kind}.{ext}")
            files[f"{kind}.{ext}"] = str(p)
            bar.update(1)
    bar.close()
    df = res.to_pandas()
    last = df[(df["point"] == res.points[-1]) & (df["target_id"] >= 0)]
    acc = float((last["top1_id"] == last["target_id"]).mean()) if len(last) else None
    return {"prompt": ctx.config.lens_prompt, "table": table, "points": list(res.points),
            "tokens": len(res.prompts[0]), "final_top1_next_token_accuracy": acc,
            "images": {"top-1 token per layer": files["top1.png"], "rank of the next token": files["rank.png"]},
            "links": {"top-1 heatmap (HTML, hover for details)": files["top1.html"],
                      "rank heatmap (HTML)": files["rank.html"], "table (Parquet)": str(folder / "lens.parquet")}}


# -- 4. activation capture ------------------------------------------------------------------------

def step_capture(ctx: Context) -> dict[str, Any]:
    """Capture the residual stream at the first and last block and the first MLP over a few held-out
    documents, streamed to Parquet shards, and read them back with pyarrow."""
    import pyarrow.parquet as pq

    from hooklab_capture.capture import capture, load_capture

    model, tok = ctx.model()
    folder = ctx.out / "04-capture"
    if folder.exists():
        shutil.rmtree(folder)
    L = ctx.config.tiny.num_layers
    points = ["layers.0", "layers.0.mlp", f"layers.{L - 1}"]
    from hooklab.testing.models import corpus_documents

    texts = [d[:600] for d in corpus_documents()[::7][: ctx.config.capture_texts]]
    if ctx.progress:
        print("4/8 activation capture to Parquet", file=sys.stderr, flush=True)
    run = capture(model, tok, texts, points, out=folder, batch_size=8, max_length=128,
                  shard_texts=max(1, len(texts) // 2), progress=ctx.progress, model_name="hooklab-tiny")
    shards = sorted(folder.glob("shard-*.parquet"))
    schema = pq.read_schema(shards[0])
    acts = load_capture(folder)
    stats = []
    for p in acts.points:
        x = acts[p].float()
        stats.append({"point": p, "shape": list(x.shape), "mean_norm": float(x.norm(dim=-1).mean()),
                      "std": float(x.std())})
    return {"out": str(folder), "points": points, "texts": len(texts), "tokens": run.tokens,
            "shards": [s.name for s in shards], "bytes": run.bytes_written,
            "columns": [f"{f.name}: {f.type}" for f in schema], "stats": stats}


# -- 5. preference pairs --------------------------------------------------------------------------

def _seed_documents(ctx: Context, n: int) -> Path:
    """A small JSON in the seed's ``artifact_data`` shape: ``n`` pydoc topics, each cut to its first
    sentence-aligned chunk (so that ``n`` articles are ``n`` chunks, ``n`` requests)."""
    from pydoc_data.topics import topics

    from hooklab_prefgen import chunk_text, clean_text

    arts = []
    for name in sorted(topics):
        chunks = chunk_text(clean_text(topics[name]), 300, 600)
        if chunks:
            arts.append({"id": name, "content": chunks[0], "platform": "docs.python.org", "author_id": "python",
                         "author_full_name": "Python documentation",
                         "link": f"https://docs.python.org/3/reference/#{name}"})
    step = max(1, len(arts) // n)
    data = {"artifact_data": arts[::step][:n]}
    path = ctx.out / "05-prefgen" / "pydoc_articles.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


def _pair_documents() -> list[dict[str, str]]:
    from pydoc_data.topics import topics

    names = sorted(k for k in topics if len(topics[k]) > 3000)
    return [{"id": n, "content": topics[n]} for n in names[:: max(1, len(names) // 40)][:40]]


_HEADING = re.compile(r"([*~=^-])\1{3,}")  # reST heading underlines ("*****", "~~~~")


def _prose(sentence: str) -> bool:
    """A sentence of running text: 40-220 characters, no heading underline."""
    return 40 <= len(sentence) <= 220 and not _HEADING.search(sentence)


def step_prefgen(ctx: Context) -> dict[str, Any]:
    """Preference pairs with the local backend on hooklab-tiny.

    First the seed's scheme through hooklab-prefgen: chunks of the documents, the seed's triple
    prompt, the tiny model's answer parsed as JSON triples. A model this small cannot write JSON
    triples, so (reported, never hidden) the pairs come from the fallback: prompt = the opening of
    a chunk, chosen = the next sentence of the chunk copied verbatim, rejected = the tiny model's
    own continuation of the same prompt, generated by the same local backend.
    """
    import itertools
    import random

    from hooklab.llm import BatchRunner, LLMRequest
    from hooklab_local.backend import LocalBackend
    from hooklab_prefgen import chunk_text, run_prefgen, split_sentences

    cfg = ctx.config
    model, tok = ctx.model()
    folder = ctx.out / "05-prefgen"
    docs_path = _seed_documents(ctx, cfg.prefgen_chunks)
    # a) the seed's LLM-triples path, through hooklab-prefgen
    backend = LocalBackend.from_model(model, tok, name="hooklab-tiny", batch_size=8)
    bar = ctx.bar(cfg.prefgen_chunks, "5/8 prefgen (seed triples)", "chunk")
    seed_run = run_prefgen({
        "docs": str(docs_path), "llm": "local:hooklab-tiny", "out": str(folder / "seed-triples"),
        "triples_per_chunk": 3, "chunk": {"min_length": 300, "max_length": 600},
        "prompt": {"max_tokens": 48, "temperature": None}, "runner": {"concurrency": 8},
    }, backend=backend, progress=lambda stats, result: bar.update(1))
    bar.close()
    seed_stats = seed_run.stats
    example_raw = seed_run.failures[0]["raw"] if seed_run.failures else None

    # b) the fallback: verbatim next sentence (chosen) vs the tiny model's continuation (rejected)
    data = _pair_documents()
    rng = random.Random(cfg.seed)
    candidates = []
    for art in data:
        for chunk in chunk_text(" ".join(art["content"].split()), 200, 600, clean=False):
            sents = split_sentences(chunk)
            candidates += [(art["id"], a, b) for a, b in itertools.pairwise(sents)  # b follows a
                           if _prose(a) and _prose(b)]
    rng.shuffle(candidates)
    seen, picked = set(), []
    for art_id, a, b in candidates:
        if b not in seen:
            seen.add(b)
            picked.append((art_id, a, b))
        if len(picked) == cfg.pairs:
            break
    if len(picked) < 4:
        raise DataError("too few sentences in the pydoc documents to build preference pairs")
    backend = LocalBackend.from_model(model, tok, name="hooklab-tiny", batch_size=16)
    requests = [LLMRequest.chat(f"Continue the Python documentation: {a}", max_tokens=cfg.gen_tokens,
                                temperature=0.8, seed=cfg.seed, id=str(i)) for i, (_, a, _) in enumerate(picked)]
    bar = ctx.bar(len(requests), "5/8 rejected answers (local backend)", "pair")
    runner = BatchRunner(backend, {"concurrency": 16}, journal=str(folder / "journal.db"),
                         progress=lambda stats, result: bar.update(1))
    try:
        results = runner.run(requests)
    finally:
        if runner.journal is not None:
            runner.journal.close()
    bar.close()
    pairs = []
    for (art_id, _, b), res, req in zip(picked, results, requests, strict=True):
        gen = (res.response.text if res.response is not None else "").strip()
        if not gen or gen == b:
            continue
        pairs.append({"id": f"p{len(pairs)}", "prompt": req.messages[-1]["content"] + "\n", "chosen": b,
                      "rejected": gen, "article_id": art_id, "source_chosen": "verbatim extract",
                      "source_rejected": "hooklab-tiny"})
    _write_jsonl(folder / "pairs.jsonl", pairs)
    ctx.pairs = pairs
    return {"seed_path": {"chunks": seed_stats["chunks"], "requests": seed_stats["requests"],
                          "parse_failures": seed_stats["parse_failures"], "pairs": len(seed_run),
                          "failed_requests": seed_stats["failed_requests"],
                          "output_tokens": seed_stats["output_tokens"],
                          "example_raw": example_raw, "out": str(folder / "seed-triples")},
            "fallback_used": len(seed_run) < len(pairs),
            "pairs": len(pairs), "examples": pairs[:3], "path": str(folder / "pairs.jsonl"),
            "documents": str(docs_path)}


# -- 6. judge -------------------------------------------------------------------------------------

def step_judge(ctx: Context) -> dict[str, Any]:
    """Judge a sample of the pairs with hooklab-tiny, in random order and in both orders.

    Two local judges over the same core judge logic (hooklab.judges): ``local`` (hooklab-local,
    free-form text, parsed as the seed's "Best answer: A|B"), and ``local-choice`` (this package:
    the same prompt, the verdict letter chosen by the model's next-token log-probabilities, so a
    model too small to follow the format still gives a verdict whose biases can be measured).
    """
    from hooklab.judge_report import report
    from hooklab.judges import Judge, pair_items
    from hooklab_local.backend import LocalBackend
    from hooklab_quickstart.choice import ChoiceBackend

    cfg = ctx.config
    model, tok = ctx.model()
    folder = ctx.out / "06-judge"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    sample = ctx.pairs[: cfg.judge_pairs]
    items = pair_items(sample)
    n_calls = len(items) * 3 + min(cfg.freeform_judge_pairs, len(items))
    bar = ctx.bar(n_calls, "6/8 local judge", "call")
    tick = lambda stats, result: bar.update(1)  # noqa: E731
    results = {}
    for order in ("random", "both"):
        judge = Judge(ChoiceBackend(model, tok), {"order": order, "seed": cfg.seed, "runner": {"concurrency": 8},
                                                  "journal": str(folder / f"journal-{order}.db")},
                      name=f"hooklab-tiny ({order} order)", progress=tick)
        res = judge.pairwise(items)
        res.save(folder / f"verdicts-{order}.jsonl")
        results[order] = res
    free = Judge(LocalBackend.from_model(model, tok, name="hooklab-tiny", batch_size=8),
                 {"order": "random", "seed": cfg.seed, "max_tokens": 24, "runner": {"concurrency": 8}},
                 name="hooklab-tiny (free-form text)", progress=tick)
    free_res = free.pairwise(items[: cfg.freeform_judge_pairs])
    free_res.save(folder / "verdicts-freeform.jsonl")
    bar.close()
    rep = report([results["random"], results["both"]])
    rep.save(folder / "report.json")
    free_rep = report([free_res])
    free_rep.save(folder / "report-freeform.json")
    (folder / "report.txt").write_text(rep.table() + "\n\n" + free_rep.table() + "\n")
    png = folder / "report.png"
    try:
        rep.plot(str(png))
    except Exception:
        png = None
    example = results["both"].verdicts[0]
    return {"pairs": len(items), "table": rep.table(), "rows": rep.rows, "freeform_table": free_rep.table(),
            "freeform_rows": free_rep.rows,
            "freeform_example": free_res.verdicts[0].calls[0].raw if free_res.verdicts else None,
            "choice_example": example.calls[0].raw if example.calls else None,
            "images": {"judge bias report": str(png)} if png else {}, "out": str(folder)}


# -- 7. DPO with LoRA -----------------------------------------------------------------------------

def step_dpo(ctx: Context) -> dict[str, Any]:
    """DPO with a LoRA adapter on the pairs (hooklab-dpo-peft); reward accuracy on held-out pairs
    before and after (the reference is hooklab-tiny with the adapter disabled)."""
    from hooklab_dpo_peft.trainer import LoraDPORun

    cfg = ctx.config
    folder = ctx.out / "07-dpo"
    if folder.exists():
        shutil.rmtree(folder)
    held = ctx.pairs[: cfg.held_out]
    train = ctx.pairs[cfg.held_out:]
    if len(train) < 2:
        raise DataError(f"only {len(ctx.pairs)} preference pairs: raise pairs above held_out + 2")
    cols = ("prompt", "chosen", "rejected")
    if ctx.progress:
        print(f"7/8 DPO with LoRA on {len(train)} pairs", file=sys.stderr, flush=True)
    run = LoraDPORun({
        "model": str(ctx.tiny_path), "output_dir": str(folder), "learning_rate": cfg.dpo_lr,
        "batch_size": 8, "num_train_epochs": cfg.dpo_epochs, "max_length": 96, "lr_scheduler_type": "constant",
        "device": "cpu", "ref_cache_dir": str(folder / "refcache"), "logging_steps": 1,
        "progress": ctx.progress, "plot": True, "beta": 0.1, "seed": cfg.seed, "save_steps": 10_000,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["c_attn", "c_fc"]},
    }, train_data=[{k: p[k] for k in cols} for p in train], eval_data=[{k: p[k] for k in cols} for p in held])
    res = run.train()
    for ckpt in folder.glob("checkpoint-*"):
        shutil.rmtree(ckpt, ignore_errors=True)
    images = {"DPO training metrics": str(folder / "metrics.png")} if (folder / "metrics.png").is_file() else {}
    return {"train_pairs": len(train), "held_out": len(held), "steps": res.global_step,
            "before": res.before.summary() if res.before else None,
            "after": res.after.summary() if res.after else None,
            "adapter": res.final_dir, "images": images, "out": str(folder)}
