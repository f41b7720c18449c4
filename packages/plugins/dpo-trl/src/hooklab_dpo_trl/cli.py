"""``hooklab dpo`` and ``hooklab eval reward-accuracy``. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hooklab.errors import ConfigError

#: --trainer values -> registered trainer names
TRAINERS = {"trl": "dpo-trl", "full": "dpo-trl", "peft-lora": "dpo-peft-lora", "lora": "dpo-peft-lora"}
_INSTALL = {"dpo-peft-lora": "hooklab-dpo-peft", "dpo-trl": "hooklab-dpo-trl"}


@click.command("dpo")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="dpo.toml / .yaml / .json")
@click.option("--trainer", "trainer", default=None,
              help="trl (full fine-tuning, default) or peft-lora; also the config's `trainer` key.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def dpo_command(config_path: str | None, trainer: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Train with DPO on prompt/chosen/rejected pairs.

    Writes checkpoints, metrics.json/.csv, metrics.png, summary.json and the reward accuracy on the
    held-out pairs before and after training to output_dir.
    """
    import hooklab
    from hooklab.config import apply_overrides, load_config

    data: dict[str, Any] = load_config(config_path) if config_path else {}
    data = apply_overrides(data, overrides)
    choice = trainer or data.pop("trainer", None) or "trl"
    data.pop("trainer", None)
    name = TRAINERS.get(choice, choice)
    if name not in hooklab.components("trainer"):
        if name in _INSTALL:
            raise ConfigError(f"trainer {choice!r} is not installed: pip install {_INSTALL[name]}")
        raise ConfigError(f"unknown DPO trainer {choice!r}; use one of: trl, peft-lora")
    if name == "dpo-trl" and data.get("lora"):
        click.echo("note: the lora section is ignored by the trl trainer (use --trainer peft-lora)", err=True)
    run = hooklab.get("trainer", name, **data)
    result = run.train()
    if as_json:
        click.echo(json.dumps(result.summary(), indent=2, default=str))
        return
    click.echo(f"trained {result.global_step} steps -> {result.output_dir}")
    click.echo(f"data: {result.data}")
    if result.before is not None and result.after is not None:
        click.echo(f"held-out reward accuracy: {result.before.accuracy:.3f} -> {result.after.accuracy:.3f} "
                   f"(mean margin {result.before.mean_margin:.4g} -> {result.after.mean_margin:.4g})")
    if result.final_dir:
        click.echo(f"final model: {result.final_dir}")


@click.group("eval")
def eval_group() -> None:
    """Evaluate models (reward accuracy on preference pairs, ...)."""


@eval_group.command("reward-accuracy")
@click.option("--model", "model_path", required=True, help="model path/id, or a PEFT adapter folder")
@click.option("--ref", "ref_path", default=None,
              help="reference model (default: base with the adapter disabled for adapters; "
                   "reference-free log-probs for plain models)")
@click.option("--pairs", "pairs", required=True, help="prompt/chosen/rejected data: a file or a saved dataset")
@click.option("--beta", type=float, default=1.0, show_default=True, help="reward scale")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-length", type=int, default=None, help="truncate prompt+completion to N tokens")
@click.option("--limit", type=int, default=None, help="evaluate the first N pairs")
@click.option("--dtype", default="auto", show_default=True)
@click.option("--device", default=None, help="cpu, cuda... (default: cuda when available)")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="write .json or .csv")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def reward_accuracy_command(model_path: str, ref_path: str | None, pairs: str, beta: float, batch_size: int,
                            max_length: int | None, limit: int | None, dtype: str, device: str | None,
                            out: str | None, as_json: bool) -> None:
    """How often MODEL's implicit reward prefers the chosen answer (ties count as wrong)."""
    from hooklab_dpo_trl.data import check_columns, load_pairs
    from hooklab_dpo_trl.rewards import reward_accuracy

    if beta <= 0:
        raise ConfigError(f"--beta must be > 0, got {beta}")
    ds = load_pairs(pairs)
    check_columns(ds)
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    model, tok = load_any(model_path, dtype=dtype, device=device)
    ref = None
    if ref_path:
        ref, _ = load_any(ref_path, dtype=dtype, device=device, tokenizer=False)
    res = reward_accuracy(model, tok, ds, ref_model=ref, beta=beta, batch_size=batch_size, max_length=max_length)
    if out:
        res.save(out)
    if as_json:
        click.echo(json.dumps(res.summary(), indent=2))
    else:
        click.echo(str(res))
        if res.reference == "none":
            click.echo("note: no reference given: rewards are beta * log p(completion) (reference-free)", err=True)


def load_any(path: str, *, dtype: str = "auto", device: str | None = None, tokenizer: bool = True) -> tuple[Any, Any]:
    """Load a causal LM, or a base model + PEFT adapter when ``path`` holds ``adapter_config.json``.

    Returns ``(model, tokenizer)``. Raises ModelError / ConfigError.
    """
    import torch

    from hooklab.models import load_model

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    adapter = Path(path) / "adapter_config.json"
    if adapter.is_file():
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise ConfigError(f"{path} is a PEFT adapter: pip install hooklab-dpo-peft (or peft)") from exc
        base = json.loads(adapter.read_text()).get("base_model_name_or_path")
        if not base:
            raise ConfigError(f"{adapter} names no base_model_name_or_path")
        model, tok = load_model(base, dtype=dtype, device=dev, tokenizer=tokenizer)
        if tokenizer and (Path(path) / "tokenizer_config.json").is_file():
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(path)
        model = PeftModel.from_pretrained(model, path).eval()
    else:
        model, tok = load_model(path, dtype=dtype, device=dev, tokenizer=tokenizer)
    if tok is not None and tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok
