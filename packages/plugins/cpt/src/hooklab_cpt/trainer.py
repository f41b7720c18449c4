"""The continued-pretraining trainer: causal-LM training on a replay mixture.

AdamW with a hooklab schedule (default: the seed's warmup + cosine), gradient clipping
(``max_norm``, the seed's 1.0), gradient accumulation, bf16 where the device supports it,
checkpoints with bit-exact resume on CPU, several processes through ``accelerate launch``, a
progress bar with loss, LR and tokens/s, and the forgetting report (held-out D1 / D2 loss before,
at checkpoints and after).

Run directory::

    config.json  metrics.jsonl  report.json  forgetting.png  result.json
    checkpoints/step-000010/{model.safetensors, optimizer.pt, scheduler.pt, rng.pt, state.json}
    final/  (save_pretrained model + tokenizer)

Example::

    from hooklab_cpt import CPTConfig, train
    result = train(CPTConfig.model_validate({
        "model": "path/to/model", "output_dir": "runs/cpt", "max_steps": 200,
        "data": {"new": "d2.jsonl", "old": "d1.jsonl", "replay": "weak", "block_size": 256},
        "eval": {"old": "d1_heldout.jsonl", "new": "d2_heldout.jsonl"},
        "schedule": {"name": "cosine", "peak_lr": 3e-4, "warmup_fraction": 0.05},
    }))
    print(result.final_loss, result.report.table())
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import ConfigError, DataError, ModelError
from hooklab_cpt.mixer import DataConfig, ReplayMixer, iter_documents, pack
from hooklab_cpt.report import EvalPoint, ForgettingReport


class EvalConfig(BaseModel):
    """Held-out data for the forgetting report (the ``[eval]`` table)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    old: Any = Field(None, description="held-out old data D1 (same forms as data.old)")
    new: Any = Field(None, description="held-out new data D2")
    max_blocks: int = Field(32, ge=1, description="blocks of block_size tokens evaluated per set")
    batch_size: int = Field(8, ge=1)
    every: int = Field(0, ge=0, description="also evaluate every N steps (0: before, checkpoints, after)")


class CPTConfig(BaseModel):
    """Everything a continued-pretraining run needs (``cpt.toml``)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    model: str = Field(description="model name or local path (from_pretrained)")
    tokenizer: str | None = Field(None, description="default: the model's")
    trust_remote_code: bool = False
    output_dir: str = "runs/cpt"
    data: DataConfig
    eval: EvalConfig = Field(default_factory=EvalConfig)
    schedule: dict[str, Any] = Field(
        default_factory=lambda: {"name": "cosine", "peak_lr": 3e-4, "warmup_fraction": 0.05},
        description="a hooklab schedule spec; total_steps defaults to max_steps")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (default: one pass of the mix)")
    batch_size: int = Field(8, ge=1, description="blocks per micro-batch per process")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_norm: float | None = Field(1.0, gt=0, description="gradient clipping (None: off)")
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 on a GPU that supports it")
    save_every: int = Field(0, ge=0, description="checkpoint every N steps (0: only the final model)")
    keep_last: int | None = Field(None, ge=1, description="keep only the newest N checkpoints")
    resume: bool = Field(True, description="continue from the newest checkpoint in output_dir")
    prefetch: int = Field(4, ge=0, description="optimizer steps of data prepared ahead in a background "
                                               "thread, overlapping tokenization with training (0: off)")
    seed: int = 0
    progress: bool = True


@dataclass
class CPTResult:
    """What :func:`train` returns."""

    output_dir: Path
    steps: int
    final_loss: float
    losses: list[float]
    report: ForgettingReport
    resumed_from: int = 0
    precision: str = "no"
    device: str = "cpu"
    processes: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"output_dir": str(self.output_dir), "steps": self.steps, "final_loss": self.final_loss,
                "resumed_from": self.resumed_from, "precision": self.precision, "device": self.device,
                "processes": self.processes, "summary": self.report.summary()}


class CPTTrainer:
    """The ``cpt`` trainer component: ``CPTTrainer(config).train() -> CPTResult``."""

    def __init__(self, config: CPTConfig | dict[str, Any]) -> None:
        from hooklab.config import validate

        self.config = validate(CPTConfig, config, where="cpt config")

    def train(self) -> CPTResult:
        return train(self.config)


# -- helpers --------------------------------------------------------------------------------------
def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under ``output_dir/checkpoints`` (or None)."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step-*") if (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def eval_blocks(spec: Any, tokenizer: Any, block_size: int, max_blocks: int, text_column: str) -> list[Any]:
    """The first ``max_blocks`` non-overlapping blocks of ``spec`` (deterministic, no shuffle)."""
    blocks = list(islice(pack(iter_documents(spec, text_column), tokenizer, block_size), max_blocks))
    if not blocks:
        raise DataError(f"held-out data {spec!r} is shorter than one block of {block_size} tokens")
    return blocks


def evaluate(model: Any, blocks: list[Any], batch_size: int, device: Any) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` over ``blocks``."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), batch_size):
            chunk = blocks[i:i + batch_size]
            ids = torch.tensor([b[0] for b in chunk], device=device)
            labels = torch.tensor([b[1] for b in chunk], device=device)
            logits = model(input_ids=ids).logits.float()
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                     reduction="sum").item()
            n += labels.numel()
    model.train(was_training)
    return total / n


def _use_bf16(precision: str) -> bool:
    import torch

    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _accelerator(mixed_precision: str, cpu: bool) -> Any:
    """An ``Accelerator``; in a single process, a second run with another precision resets
    accelerate's process-wide state instead of failing."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    except ValueError:
        if PartialState().num_processes > 1:
            raise ConfigError(f"this process already runs accelerate with another precision; "
                              f"launch a new process for precision={mixed_precision!r}") from None
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Any, size: int) -> Any:
    """Iterate ``items`` in a background thread, ``size`` items ahead, in the same order.

    The tokenizer releases the GIL, so the data path runs while the main thread trains. Errors in
    the producer are raised in the consumer; closing the generator stops the producer.
    """
    import queue
    import threading

    if size <= 0:
        yield from items
        return
    q: queue.Queue[Any] = queue.Queue(maxsize=size)
    done, stop = object(), threading.Event()

    def put(x: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put(x):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(_Raised(exc))

    thread = threading.Thread(target=work, name="hooklab-cpt-data", daemon=True)
    thread.start()
    try:
        while True:
            x = q.get()
            if x is done:
                return
            if isinstance(x, _Raised):
                raise x.exc
            yield x
    finally:
        stop.set()


def _truncate_jsonl(path: Path, step: int) -> None:
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


# -- the training loop ----------------------------------------------------------------------------
def train(config: CPTConfig | dict[str, Any]) -> CPTResult:
    """Continue pretraining ``config.model`` on the replay mix; returns a :class:`CPTResult`.

    Resumes from the newest checkpoint in ``output_dir`` when ``resume`` is on: model, optimizer,
    scheduler, RNG and data position are restored, so the run continues bit for bit on CPU.

    Raises:
        ConfigError: inconsistent options (no block_size, schedule errors...).
        DataError: missing or empty data.
        ModelError: the model or tokenizer cannot be loaded.
    """
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_model, save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hooklab.config import validate
    from hooklab_schedules import build_schedule, to_lambda_lr

    cfg = validate(CPTConfig, config, where="cpt config")
    if not cfg.data.block_size:
        raise ConfigError("data.block_size is required for training (e.g. data.block_size=256)")
    L = cfg.data.block_size
    # cpu=True without CUDA: several processes (torchrun / `accelerate launch --multi_gpu`) then
    # train with the gloo backend instead of finding no GPU
    acc = _accelerator("bf16" if _use_bf16(cfg.precision) else "no", cpu=not torch.cuda.is_available())
    main = acc.is_main_process
    out = Path(cfg.output_dir)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer or cfg.model, trust_remote_code=cfg.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                                     dtype=torch.float32)
    except OSError as exc:
        raise ModelError(f"cannot load model {cfg.model!r}: {' '.join(str(exc).split())[:200]}; give a "
                         f"local path or a model id that is cached") from None
    if L > getattr(model.config, "max_position_embeddings", getattr(model.config, "n_positions", L)):
        raise ConfigError(f"block_size {L} is longer than the model's context; lower data.block_size")
    model.train()

    world = acc.num_processes
    per_step = cfg.batch_size * cfg.grad_accum * world
    mixer = ReplayMixer(cfg.data, tokenizer)
    max_steps = cfg.max_steps
    if max_steps is None:
        n = mixer.total if cfg.data.budget == "fixed" else sum(1 for _ in mixer)
        max_steps = n // per_step
        if max_steps < 1:
            raise DataError(f"the mix has {n} blocks, fewer than one step ({per_step}); add data or "
                            f"lower batch_size")
    if cfg.data.budget == "fixed":
        mixer._total = max_steps * per_step  # the compute budget fixes the stream's length
    schedule = build_schedule(dict(cfg.schedule), total_steps=max_steps)
    if getattr(schedule, "total_steps", max_steps) != max_steps:
        raise ConfigError(f"the schedule covers {schedule.total_steps} steps but max_steps is {max_steps}: "
                          f"make them equal (or leave the schedule's total_steps out)")

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=schedule.peak_lr, betas=cfg.betas, eps=cfg.eps)
    scheduler = to_lambda_lr(schedule, optimizer)
    model, optimizer = acc.prepare(model, optimizer)
    raw = acc.unwrap_model(model)

    # resume
    start, consumed = 0, 0
    ckpt = latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        state = json.loads((ckpt / "state.json").read_text())
        if state["max_steps"] != max_steps or state["per_step"] != per_step:
            raise ConfigError(f"{ckpt} was written with max_steps={state['max_steps']} and "
                              f"{state['per_step']} blocks per step; use the same settings or a new output_dir")
        load_model(raw, str(ckpt / "model.safetensors"), device=str(acc.device))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True, map_location=acc.device))
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        rng = torch.load(ckpt / "rng.pt", weights_only=True)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        start, consumed = state["step"], state["consumed"]

    report = ForgettingReport(meta={"model": cfg.model, "replay": mixer.replay, "unit": cfg.data.unit,
                                    "budget": cfg.data.budget, "block_size": L, "max_steps": max_steps,
                                    "title": f"Forgetting: replay {mixer.replay:.0%} of D1 while training on D2"})
    metrics = out / "metrics.jsonl"
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(cfg.model_dump_json(indent=2))
        if start:
            _truncate_jsonl(metrics, start)
            if (out / "report.json").is_file():
                report = ForgettingReport.load(out)
                report.truncate(start)
        else:
            metrics.write_text("")
    acc.wait_for_everyone()

    ev = cfg.eval
    sets = {k: eval_blocks(spec, tokenizer, L, ev.max_blocks, cfg.data.text_column)
            for k, spec in (("old", ev.old), ("new", ev.new)) if spec is not None} if main else {}

    def eval_point(step: int, label: str) -> None:
        if main and sets:
            p = EvalPoint(step, label)
            for k, blocks in sets.items():
                setattr(p, f"{k}_loss", evaluate(raw, blocks, ev.batch_size, acc.device))
                setattr(p, f"{k}_tokens", len(blocks) * L)
            report.add(p)
            report.save(out)
        acc.wait_for_everyone()

    def save_checkpoint(step: int) -> None:
        if main:
            root = out / "checkpoints"
            tmp = root / f".tmp-step-{step:06d}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            save_model(raw, str(tmp / "model.safetensors"))
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
            (tmp / "state.json").write_text(json.dumps(
                {"step": step, "consumed": consumed, "max_steps": max_steps, "per_step": per_step}))
            final = root / f"step-{step:06d}"
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            if cfg.keep_last:
                done = sorted(root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
                for old in done[:-cfg.keep_last]:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    if start == 0:
        eval_point(0, "before")

    from tqdm.auto import tqdm

    bar = tqdm(total=max_steps, initial=start, disable=not (cfg.progress and main), desc="cpt",
               dynamic_ncols=True)
    stream = prefetch(mixer.iter(skip=consumed), cfg.prefetch * per_step)
    rank, B = acc.process_index, cfg.batch_size
    losses: list[float] = []
    step = start
    for step in range(start, max_steps):
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=acc.device)
        for micro in range(cfg.grad_accum):
            chunk = list(islice(stream, B * world))
            if len(chunk) < B * world:
                raise DataError(f"the data ran out at step {step} (budget='added' with max_steps too "
                                f"high?); lower max_steps or add data")
            consumed += len(chunk)
            mine = chunk[rank * B:(rank + 1) * B]
            ids = torch.tensor([s["input_ids"] for s in mine], device=acc.device)
            labels = torch.tensor([s["labels"] for s in mine], device=acc.device)
            sync = acc.no_sync(model) if micro < cfg.grad_accum - 1 else nullcontext()
            with sync, acc.autocast():
                logits = model(input_ids=ids).logits.float()
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
                acc.backward(loss / cfg.grad_accum)
            loss_sum += loss.detach()
        grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_norm) if cfg.max_norm else None
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss = acc.reduce(loss_sum / cfg.grad_accum, reduction="mean").item()
        if not math.isfinite(step_loss):
            raise DataError(f"the loss is {step_loss} at step {step + 1}: lower the peak learning rate")
        losses.append(step_loss)
        dt = time.perf_counter() - t0
        tok_s = per_step * L / dt if dt > 0 else float("nan")
        if main:
            row = {"step": step + 1, "loss": step_loss, "lr": lr, "tokens": (step + 1) * per_step * L,
                   "tok_s": tok_s,
                   "grad_norm": None if grad_norm is None else float(grad_norm)}
            with metrics.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:,.0f}")
            bar.update(1)
        done = step + 1
        if cfg.save_every and done % cfg.save_every == 0 and done < max_steps:
            save_checkpoint(done)
            eval_point(done, "checkpoint")
        elif ev.every and done % ev.every == 0 and done < max_steps:
            eval_point(done, "eval")
    bar.close()
    stream.close()  # stops the prefetch thread

    eval_point(max_steps, "after")
    if main:
        final = out / "final"
        raw.save_pretrained(final, safe_serialization=True)
        tokenizer.save_pretrained(final)
        if report.points:
            report.plot(out / "forgetting.png")
    all_losses = [json.loads(line)["loss"] for line in metrics.read_text().splitlines() if line.strip()] \
        if main else losses
    result = CPTResult(out, max_steps, all_losses[-1] if all_losses else float("nan"), all_losses,
                       report, resumed_from=start, precision=str(acc.mixed_precision),
                       device=str(acc.device), processes=world)
    if main:
        (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    acc.wait_for_everyone()
    return result


def cpt_trainer(config: CPTConfig) -> CPTTrainer:
    """The registered ``cpt`` trainer factory."""
    return CPTTrainer(config)
