"""DPO full fine-tuning through TRL's ``DPOTrainer``, the hooklab way.

What hooklab adds to plain TRL:

* a validated config (:class:`~hooklab_dpo_trl.config.DPOTrainConfig`) and data validation
  (:mod:`hooklab_dpo_trl.data`);
* the reference: ``reference="precompute"`` (default) computes reference log-probs once, **caches
  them on disk** keyed by (model fingerprint, dataset fingerprint, lengths) and keeps no reference
  model in memory while training; ``reference="copy"`` keeps a live reference (``ref_model`` or an
  in-memory copy of the policy — never a download);
* a hooklab schedule as the LR plan (``schedule = {name = "cosine", ...}``), else TRL's schedulers;
* reward accuracy on held-out pairs before and after training; metrics to JSON/CSV and a plot;
  a progress bar with loss, reward accuracy and margin; checkpoints and resume.

Example::

    from hooklab_dpo_trl.trainer import DPORun
    result = DPORun({"model": "path/to/model", "data": "pairs.jsonl", "eval_fraction": 0.1,
                     "output_dir": "runs/dpo", "learning_rate": 5e-7}).train()
    print(result.after)            # reward accuracy on the held-out pairs
    result.to_pandas()             # one row per logging step
"""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.config import validate
from hooklab.errors import ConfigError, DataError, ModelError
from hooklab_dpo_trl.config import DPOTrainConfig
from hooklab_dpo_trl.data import DataReport, load_pairs, split_pairs, validate_pairs
from hooklab_dpo_trl.refcache import RefLogpCache, cache_key, dataset_fingerprint, model_fingerprint
from hooklab_dpo_trl.rewards import RewardAccuracy, reference_logps, reward_accuracy

#: TRL log keys shown in the progress bar and plotted.
PLOT_KEYS = ("loss", "rewards/accuracies", "rewards/margins", "learning_rate")


@dataclass
class DPOResult:
    """What a DPO run produced."""

    output_dir: str
    final_dir: str | None
    global_step: int
    metrics: list[dict[str, Any]]
    data: DataReport
    before: RewardAccuracy | None = None
    after: RewardAccuracy | None = None
    ref_cache: dict[str, Any] = field(default_factory=dict)
    train_runtime: float | None = None
    train_tokens: int | None = None
    resumed_from: str | None = None

    @property
    def tokens_per_second(self) -> float | None:
        if not self.train_runtime or not self.train_tokens:
            return None
        return self.train_tokens / self.train_runtime

    def summary(self) -> dict[str, Any]:
        return {
            "output_dir": self.output_dir, "final_dir": self.final_dir, "global_step": self.global_step,
            "resumed_from": self.resumed_from, "data": self.data.to_dict(),
            "before": self.before.summary() if self.before else None,
            "after": self.after.summary() if self.after else None,
            "ref_cache": self.ref_cache, "train_runtime": self.train_runtime,
            "train_tokens": self.train_tokens, "tokens_per_second": self.tokens_per_second,
        }

    def to_pandas(self) -> Any:
        """The logged metrics, one row per logging step."""
        import pandas as pd

        return pd.DataFrame(self.metrics)

    def save(self, path: str | Path) -> Path:
        """Write the summary as JSON. Returns the path."""
        p = Path(path)
        p.write_text(json.dumps(self.summary(), indent=2, default=str), encoding="utf-8")
        return p

    def plot(self, path: str | Path | None = None) -> Any:
        """Plot loss, reward accuracy, margin and LR per step; save to ``path`` when given.

        Returns the matplotlib figure. Raises ConfigError without matplotlib.
        """
        return plot_metrics(self.metrics, path)


def plot_metrics(rows: list[dict[str, Any]], path: str | Path | None = None) -> Any:
    """Plot :data:`PLOT_KEYS` against the step (one panel each) and save to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError('plots need matplotlib: pip install "hooklab-dpo-trl[plot]"') from exc
    keys = [k for k in PLOT_KEYS if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4 * max(1, len(keys)), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=False):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_title(key)
        ax.set_xlabel("step")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def _callback_base() -> Any:
    from transformers import TrainerCallback

    return TrainerCallback


def make_progress_callback(show: bool) -> Any:
    """A TrainerCallback recording every log row and (optionally) showing a tqdm bar with the
    loss, reward accuracy and margin."""

    class Progress(_callback_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if show and state.is_world_process_zero:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="dpo", dynamic_ncols=True)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "epoch": state.epoch}
            row.update({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})
            self.rows.append(row)
            if self.bar is not None and "loss" in row:
                self.bar.set_postfix(loss=f"{row['loss']:.4f}",
                                     acc=f"{row.get('rewards/accuracies', float('nan')):.2f}",
                                     margin=f"{row.get('rewards/margins', float('nan')):.3f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return Progress()


def build_schedule(spec: Any, total_steps: int, learning_rate: float) -> Any:
    """A hooklab schedule object (``.lr(step)``) from a name, a mapping or a ready object.

    ``total_steps`` and ``peak_lr``/``lr`` are filled from the run when the schedule's config has
    those options and the user left them out. Raises ConfigError / UnknownComponentError.
    """
    if hasattr(spec, "lr") and callable(spec.lr):
        return spec
    import hooklab
    from hooklab.plugins import get_manager

    if isinstance(spec, str):
        name, opts = spec, {}
    else:
        opts = dict(spec)
        name = opts.pop("name", None)
        if not name:
            raise ConfigError("schedule needs a name, e.g. schedule = {name = \"cosine\", warmup_steps = 10}")
    comp = get_manager().registry.lookup("schedule", name)
    model = comp.load_config()
    fields = getattr(model, "model_fields", {}) if model is not None else {}
    if "total_steps" in fields:
        opts.setdefault("total_steps", total_steps)
    for key in ("peak_lr", "lr"):
        if key in fields:
            opts.setdefault(key, learning_rate)
            break
    return hooklab.get("schedule", name, **opts)


def _trl_trainer_class() -> Any:
    """The DPOTrainer subclass: disk-cached reference log-probs and hooklab LR plans."""
    from trl import DPOTrainer

    class HooklabDPOTrainer(DPOTrainer):  # type: ignore[misc]
        def __init__(self, *args: Any, hl_cache: RefLogpCache | None = None, hl_schedule: Any = None,
                     hl_ref_fingerprint: str | None = None, **kwargs: Any) -> None:
            # set before super().__init__: TRL precomputes reference log-probs inside it
            self.hl_cache = hl_cache
            self.hl_schedule = hl_schedule
            self.hl_ref_fingerprint = hl_ref_fingerprint
            super().__init__(*args, **kwargs)

        def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
            if self.hl_cache is None:
                return super()._precompute_ref_logps(dataset, name, batch_size)
            if self.hl_ref_fingerprint is None:
                self.hl_ref_fingerprint = model_fingerprint(self.ref_model or self.model)
            a = self.args
            key = cache_key(self.hl_ref_fingerprint, dataset_fingerprint(dataset), max_length=a.max_length,
                            truncation_mode=a.truncation_mode, ld_alpha=a.ld_alpha, bf16=bool(a.bf16),
                            fp16=bool(a.fp16))
            hit = self.hl_cache.load(key, len(dataset))
            if hit is not None:
                chosen, rejected = hit
                return (dataset.add_column("ref_chosen_logps", chosen.tolist())
                        .add_column("ref_rejected_logps", rejected.tolist()))
            out = super()._precompute_ref_logps(dataset, name, batch_size)
            if self.accelerator.is_main_process:
                self.hl_cache.store(key, out["ref_chosen_logps"], out["ref_rejected_logps"],
                                    {"model": self.hl_ref_fingerprint, "rows": len(dataset), "split": name,
                                     "max_length": a.max_length, "bf16": bool(a.bf16)})
            return out

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.hl_schedule is None:
                return super().create_scheduler(num_training_steps, optimizer)
            if self.lr_scheduler is None:
                from torch.optim.lr_scheduler import LambdaLR

                sched = build_schedule(self.hl_schedule, num_training_steps, self.args.learning_rate)
                base = self.args.learning_rate
                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, lambda step: sched.lr(step) / base)
                self._created_lr_scheduler = True
            return self.lr_scheduler

    return HooklabDPOTrainer


class DPORun:
    """One DPO run: ``DPORun(config).train() -> DPOResult``.

    ``config`` is a :class:`DPOTrainConfig` or a mapping. Objects can replace what the config
    names: ``model``/``tokenizer``/``ref_model`` (already loaded), ``train_data``/``eval_data``
    (datasets or lists of dicts), ``schedule`` (an object with ``lr(step)``); ``callbacks`` are
    extra ``transformers.TrainerCallback`` objects.
    """

    #: the registered trainer name (subclasses change it)
    name = "dpo-trl"
    config_class: type[DPOTrainConfig] = DPOTrainConfig

    def __init__(self, config: DPOTrainConfig | dict[str, Any], *, model: Any = None, tokenizer: Any = None,
                 ref_model: Any = None, train_data: Any = None, eval_data: Any = None,
                 schedule: Any = None, callbacks: list[Any] | None = None) -> None:
        self.config = validate(self.config_class, config, where=f"trainer {self.name!r} config")
        self._callbacks = list(callbacks or [])
        self._model, self._tokenizer, self._ref_model = model, tokenizer, ref_model
        self._train_data, self._eval_data, self._schedule = train_data, eval_data, schedule
        self.trainer: Any = None

    # -- overridable steps -------------------------------------------------------------------
    def load_model(self) -> tuple[Any, Any]:
        """The policy and tokenizer (given objects, or loaded from ``config.model``)."""
        cfg = self.config
        model, tok = self._model, self._tokenizer
        if model is None:
            if not cfg.model:
                raise ConfigError("no model: set model = \"<hub id or path>\" in the config")
            from hooklab.models import load_model

            model, loaded_tok = load_model(cfg.model, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code)
            tok = tok or loaded_tok
        if tok is None:
            raise ConfigError("no tokenizer: pass tokenizer=... with an in-memory model")
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return model, tok

    def prepare_model(self, model: Any) -> Any:
        """Hook for subclasses (the LoRA trainer wraps the model here)."""
        return model

    def reference_model(self, model: Any) -> Any:
        """The live reference model, or None when TRL needs none (precompute / adapters)."""
        cfg = self.config
        ref = self._ref_model
        if ref is None and cfg.ref_model:
            from hooklab.models import load_model

            ref, _ = load_model(cfg.ref_model, dtype=cfg.dtype, tokenizer=False,
                                trust_remote_code=cfg.trust_remote_code)
        if ref is None and cfg.reference == "copy":
            # an explicit in-memory copy: TRL would otherwise try to load one from the hub
            ref = copy.deepcopy(model)
        if ref is not None:
            ref.eval()
            for p in ref.parameters():
                p.requires_grad_(False)
        return ref

    def trainer_kwargs(self) -> dict[str, Any]:
        """Extra ``DPOTrainer`` arguments (the LoRA trainer passes its ``peft_config``)."""
        return {}

    def save_final(self, trainer: Any, tokenizer: Any, path: Path) -> None:
        """Save the trained model and tokenizer to ``path``."""
        trainer.save_model(str(path))
        tokenizer.save_pretrained(str(path))

    # -- the run -----------------------------------------------------------------------------
    def _data(self, tok: Any) -> tuple[Any, Any, DataReport]:
        cfg = self.config
        spec = self._train_data if self._train_data is not None else cfg.data
        if spec is None:
            raise ConfigError("no training data: set data = \"pairs.jsonl\" (or a source mapping)")
        kw = {"max_length": cfg.max_length, "max_prompt_length": cfg.max_prompt_length, "drop_empty": cfg.drop_empty}
        train, report = validate_pairs(load_pairs(spec), tok, **kw)
        espec = self._eval_data if self._eval_data is not None else cfg.eval_data
        if espec is not None:
            held, _ = validate_pairs(load_pairs(espec), tok, **kw)
        else:
            train, held = split_pairs(train, cfg.eval_fraction, cfg.seed)
        return train, held, report

    def on_cuda(self) -> bool:
        import torch

        return (self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")

    def use_bf16(self) -> bool:
        """bf16 mixed precision: the config's choice, else on where the GPU supports it."""
        import torch

        if self.config.bf16 is not None:
            return self.config.bf16
        return self.on_cuda() and torch.cuda.is_bf16_supported()

    def trl_args(self, n_train: int) -> Any:
        """The ``trl.DPOConfig`` for this run."""
        from trl import DPOConfig

        cfg = self.config
        bf16 = self.use_bf16()
        on_cuda = self.on_cuda()
        kwargs: dict[str, Any] = dict(
            output_dir=cfg.output_dir, beta=cfg.beta, loss_type=cfg.loss_types(),
            label_smoothing=cfg.label_smoothing, learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps,
            num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
            per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.eval_batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps, max_grad_norm=cfg.max_grad_norm,
            weight_decay=cfg.weight_decay, optim=cfg.optim, seed=cfg.seed, data_seed=cfg.seed,
            max_length=cfg.max_length, bf16=bf16, fp16=False,
            gradient_checkpointing=cfg.gradient_checkpointing, torch_compile=cfg.torch_compile,
            save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
            logging_steps=cfg.logging_steps, report_to=[], disable_tqdm=True,
            precompute_ref_log_probs=cfg.reference == "precompute" and self.precompute_supported(),
            use_cpu=cfg.device == "cpu", dataloader_pin_memory=on_cuda,
        )
        kwargs.update(cfg.trl_args)
        try:
            return DPOConfig(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid DPO settings: {' '.join(str(exc).split())}") from exc

    def precompute_supported(self) -> bool:
        return True

    def _resume(self) -> str | None:
        cfg = self.config
        if cfg.resume is False:
            return None
        if isinstance(cfg.resume, str):
            if not Path(cfg.resume).is_dir():
                raise ConfigError(f"resume checkpoint not found: {cfg.resume}")
            return cfg.resume
        from transformers.trainer_utils import get_last_checkpoint

        if not Path(cfg.output_dir).is_dir():
            return None
        return get_last_checkpoint(cfg.output_dir)

    def train(self) -> DPOResult:
        """Validate the data, train, evaluate before/after and write the outputs.

        Returns a :class:`DPOResult`. Raises ConfigError, DataError or ModelError for bad input.
        """
        cfg = self.config
        import torch
        from transformers import set_seed

        resume = self._resume()  # fail fast on a missing checkpoint
        set_seed(cfg.seed)
        model, tok = self.load_model()
        train_ds, held, report = self._data(tok)
        model = self.prepare_model(model)
        ref = self.reference_model(model)
        args = self.trl_args(len(train_ds))
        cache = RefLogpCache(cfg.ref_cache_dir) if args.precompute_ref_log_probs else None
        progress = make_progress_callback(cfg.progress)
        cls = _trl_trainer_class()
        try:
            trainer = cls(model=model, ref_model=ref, args=args, processing_class=tok, train_dataset=train_ds,
                          callbacks=[progress, *self._callbacks], hl_cache=cache, hl_schedule=self._schedule or cfg.schedule,
                          **self.trainer_kwargs())
        except (ValueError, KeyError) as exc:
            raise DataError(f"TRL could not prepare the run: {' '.join(str(exc).split())[:300]}") from exc
        self.trainer = trainer
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # our callback records (and shows) the logs
        if args.precompute_ref_log_probs and trainer.ref_model is not None:
            trainer.ref_model = None  # reference numbers are precomputed: free its weights
        policy = trainer.accelerator.unwrap_model(trainer.model)

        before = after = None
        ref_eval = None
        if cfg.evaluate and held is not None and len(held):
            kw = {"batch_size": cfg.eval_batch_size, "max_length": cfg.max_length}
            if ref is not None:  # an explicit reference (live, or used for the precompute)
                ref_eval = reference_logps(policy, tok, held, ref_model=_to(ref, policy), **kw)
            elif not _is_peft(policy):
                # the reference is the initial policy: its numbers, computed now, are the reference
                c, r, _ = reference_logps(policy, tok, held, ref_model=policy, **kw)
                ref_eval = (c, r, "initial-policy")
            else:  # LoRA: the adapter disabled
                ref_eval = reference_logps(policy, tok, held, **kw)
            before = reward_accuracy(policy, tok, held, beta=cfg.beta, ref=ref_eval, **kw)
        if args.precompute_ref_log_probs:
            ref = None  # nothing needs the reference weights any more

        try:
            out = trainer.train(resume_from_checkpoint=resume)
        except torch.OutOfMemoryError as exc:
            raise ModelError("out of memory: lower batch_size or max_length, or turn on "
                             "gradient_checkpointing") from exc
        policy = trainer.accelerator.unwrap_model(trainer.model)
        if ref_eval is not None:
            after = reward_accuracy(policy, tok, held, beta=cfg.beta, ref=ref_eval,
                                    batch_size=cfg.eval_batch_size, max_length=cfg.max_length)

        out_dir = Path(cfg.output_dir)
        final_dir = out_dir / "final" if cfg.save_final else None
        if final_dir is not None:
            self.save_final(trainer, tok, final_dir)
        total_tokens = trainer._total_train_tokens if hasattr(trainer, "_total_train_tokens") else None
        result = DPOResult(
            output_dir=str(out_dir), final_dir=str(final_dir) if final_dir else None,
            global_step=trainer.state.global_step, metrics=progress.rows, data=report, before=before,
            after=after, ref_cache={"dir": str(cache.root), "hits": cache.hits, "misses": cache.misses}
            if cache else {}, train_runtime=out.metrics.get("train_runtime"), train_tokens=total_tokens,
            resumed_from=resume,
        )
        if trainer.accelerator.is_main_process:
            self.write_outputs(result)
        return result

    def write_outputs(self, result: DPOResult) -> None:
        """metrics.json, metrics.csv, summary.json, reward_accuracy_{before,after}.json, metrics.png."""
        out = Path(result.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2), encoding="utf-8")
        keys: list[str] = []
        for r in result.metrics:
            keys += [k for k in r if k not in keys]
        with (out / "metrics.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=keys or ["step"])
            w.writeheader()
            w.writerows(result.metrics)
        result.save(out / "summary.json")
        for tag, acc in (("before", result.before), ("after", result.after)):
            if acc is not None:
                acc.save(out / f"reward_accuracy_{tag}.json")
        if self.config.plot and result.metrics:
            try:
                plot_metrics(result.metrics, out / "metrics.png")
            except ConfigError:
                pass  # matplotlib missing: the JSON/CSV are written anyway


def _is_peft(model: Any) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def _to(ref: Any, like: Any) -> Any:
    if ref is None:
        return None
    device = next(like.parameters()).device
    return ref.to(device)


def train(config: DPOTrainConfig | dict[str, Any]) -> DPOResult:
    """``DPORun(config).train()``."""
    return DPORun(config).train()

