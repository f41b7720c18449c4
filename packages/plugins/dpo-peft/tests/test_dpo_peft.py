"""DPO with a LoRA adapter: learning, one base copy in memory, resume, merge, evaluation."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hooklab
from hooklab_dpo_peft.trainer import LoraDPORun


def test_importing_the_entry_point_imports_nothing_heavy() -> None:
    code = ("import sys, hooklab_dpo_peft.plugin, hooklab_dpo_peft.config\n"
            "print(','.join(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_registered_as_a_trainer_with_the_shared_cli(hooklab_plugins) -> None:
    assert hooklab.components("trainer")["dpo-peft-lora"].distribution == "hooklab-dpo-peft"
    from hooklab_cli.main import _add_plugin_commands, cli

    _add_plugin_commands()
    assert "dpo" in cli.commands and "reward-accuracy" in cli.commands["eval"].commands


def test_lora_options_are_validated() -> None:
    with pytest.raises(hooklab.ConfigError, match=r"lora\.rank: unknown option"):
        hooklab.get("trainer", "dpo-peft-lora", model="m", lora={"rank": 8})


def test_learns_the_synthetic_task(tiny_path, pairs, lora_config, tmp_path) -> None:
    # checkpointing (the LoRA default) only saves memory; off here to keep the CPU test short
    res = LoraDPORun(lora_config(tiny_path, tmp_path / "run", gradient_checkpointing=False), train_data=pairs[0],
                     eval_data=pairs[1]).train()
    assert res.before.reference == "adapter-disabled"
    assert res.before.ties == len(pairs[1]) and res.before.accuracy_ties_half == 0.5  # chance
    assert res.after.accuracy >= 0.8 and res.after.mean_margin > 0
    final = Path(res.final_dir)
    assert (final / "adapter_model.safetensors").is_file() and (final / "adapter_config.json").is_file()
    assert not (final / "model.safetensors").exists()  # the adapter only


def _base_models_alive(before: set[int]) -> list:
    from transformers import PreTrainedModel

    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, PreTrainedModel) and id(o) not in before]


@pytest.mark.parametrize("reference", ["precompute", "copy"])
def test_one_copy_of_the_base_weights_in_memory(tiny_path, pairs, lora_config, tmp_path, reference) -> None:
    from transformers import PreTrainedModel

    gc.collect()
    before = {id(o) for o in gc.get_objects() if isinstance(o, PreTrainedModel)}
    run = LoraDPORun(lora_config(tiny_path, tmp_path / reference, max_steps=2, reference=reference,
                                 save_final=False), train_data=pairs[0][:32], eval_data=pairs[1][:8])
    res = run.train()
    trainer = run.trainer
    assert trainer.ref_model is None
    # every model object alive from this run (wrappers included) shares the policy's storages:
    # no second copy of the base weights exists anywhere
    policy_storages = {p.untyped_storage().data_ptr() for p in trainer.model.parameters()}
    alive = _base_models_alive(before)
    assert alive
    for m in alive:
        assert {p.untyped_storage().data_ptr() for p in m.parameters()} <= policy_storages

    base = trainer.model.get_base_model()
    storages = {p.untyped_storage().data_ptr() for p in trainer.model.parameters()}
    lora = sum(p.numel() for n, p in trainer.model.named_parameters() if "lora_" in n)
    total = sum(p.numel() for p in trainer.model.parameters())
    assert lora > 0 and total == sum(p.numel() for p in base.parameters())
    assert len(storages) == len(list(trainer.model.parameters())) - _tied(trainer.model)
    assert res.after is not None and res.after.reference == "adapter-disabled"


def test_the_memory_check_finds_a_second_copy(tiny_path, pairs, lora_config, tmp_path) -> None:
    """Control: the full trainer with reference="copy" keeps a second base copy, and the check above sees it."""
    from transformers import PreTrainedModel

    from hooklab_dpo_trl.trainer import DPORun

    gc.collect()
    before = {id(o) for o in gc.get_objects() if isinstance(o, PreTrainedModel)}
    cfg = lora_config(tiny_path, tmp_path / "full", max_steps=1, reference="copy", save_final=False, evaluate=False)
    cfg.pop("lora")
    run = DPORun(cfg, train_data=pairs[0][:16])
    run.train()
    policy_storages = {p.untyped_storage().data_ptr() for p in run.trainer.model.parameters()}
    outside = [m for m in _base_models_alive(before)
               if not {p.untyped_storage().data_ptr() for p in m.parameters()} <= policy_storages]
    assert any(m is run.trainer.ref_model for m in outside)


def _tied(model) -> int:
    ptrs = [p.untyped_storage().data_ptr() for p in model.parameters()]
    return len(ptrs) - len(set(ptrs))


def test_an_explicit_reference_is_refused(tiny_path, pairs, lora_config, tmp_path) -> None:
    with pytest.raises(hooklab.ConfigError, match="adapter disabled"):
        LoraDPORun(lora_config(tiny_path, tmp_path / "r", ref_model=str(tiny_path)), train_data=pairs[0][:8]).train()


def test_reference_cache_is_keyed_by_the_base_weights(tiny_path) -> None:
    from peft import LoraConfig, get_peft_model

    from hooklab.models import load_model
    from hooklab_dpo_trl.refcache import model_fingerprint

    base, _ = load_model(str(tiny_path))
    fp = model_fingerprint(base)
    wrapped = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear"))
    assert model_fingerprint(wrapped) == fp


def test_resume_restores_the_adapter(tiny_path, pairs, lora_config, tmp_path) -> None:
    cfg = lora_config(tiny_path, tmp_path / "run", max_steps=4, save_steps=2, logging_steps=1, evaluate=False,
                      save_final=False)
    first = LoraDPORun(cfg, train_data=pairs[0][:64]).train()
    ckpt = tmp_path / "run" / "checkpoint-4"
    assert first.global_step == 4 and (ckpt / "adapter_model.safetensors").is_file()
    second = LoraDPORun(dict(cfg, max_steps=6, resume=True), train_data=pairs[0][:64]).train()
    assert second.resumed_from.endswith("checkpoint-4") and second.global_step == 6
    assert [r["step"] for r in second.metrics if "loss" in r] == [5, 6]


def test_merged_model_and_adapter_evaluate_the_same(tiny_path, pairs, lora_config, tmp_path) -> None:
    import torch
    from click.testing import CliRunner

    from hooklab.models import load_model
    from hooklab_cli.main import _add_plugin_commands, cli
    from hooklab_dpo_trl.cli import load_any

    res = LoraDPORun(lora_config(tiny_path, tmp_path / "run", max_steps=6, merge=True),
                     train_data=pairs[0][:96], eval_data=pairs[1][:16]).train()
    merged, tok = load_model(str(tmp_path / "run" / "merged"))
    adapted, _ = load_any(res.final_dir, device="cpu")
    ids = tok(pairs[1][0]["chosen"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)

    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps(r) + "\n" for r in pairs[1][:16]))
    _add_plugin_commands()
    out = CliRunner().invoke(cli, ["eval", "reward-accuracy", "--model", res.final_dir, "--pairs", str(held),
                                   "--device", "cpu", "--max-length", "64", "--beta", "0.1", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output[out.output.index("{"):])
    assert summary["reference"] == "adapter-disabled"
    assert summary["accuracy"] == pytest.approx(res.after.accuracy)
    assert summary["mean_margin"] == pytest.approx(res.after.mean_margin, abs=1e-4)


def test_cli_trains_with_the_peft_trainer(tiny_path, pairs, lora_config, tmp_path) -> None:
    from click.testing import CliRunner

    from hooklab_cli.main import _add_plugin_commands, cli

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in pairs[0][:32]))
    cfg = lora_config(tiny_path, tmp_path / "run", data=str(data), max_steps=1, evaluate=False)
    conf = tmp_path / "dpo.json"
    conf.write_text(json.dumps(cfg))
    _add_plugin_commands()
    res = CliRunner().invoke(cli, ["dpo", "--config", str(conf), "--trainer", "peft-lora", "--set", "lora.r=4"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "final" / "adapter_config.json").read_text())["r"] == 4
    bad = CliRunner().invoke(cli, ["dpo", "--config", str(conf), "--trainer", "peft-lora", "--set", "lora.rank=4"])
    assert bad.exit_code == 2 and "lora.rank: unknown option" in bad.output and "Traceback" not in bad.output
