"""DPO with a PEFT LoRA adapter through TRL.

The policy is the base model plus a LoRA adapter; the reference is the same model with the
adapter disabled, so one copy of the base weights is in memory. With ``reference="precompute"``
(default) the reference log-probs are computed once with the adapter disabled and cached on disk
(keyed by the *base* weights, so full and LoRA runs on the same base share entries); with
``reference="copy"`` they are computed every step with the adapter disabled — still no copy.

Outputs in ``output_dir``: checkpoints (adapter + optimizer; resumable), ``final/`` (the adapter
and tokenizer), ``merged/`` with ``merge = true`` (a plain model with the adapter merged in), and
the metrics files of :class:`~hooklab_dpo_trl.trainer.DPORun`.

Example::

    from hooklab_dpo_peft.trainer import LoraDPORun
    res = LoraDPORun({"model": "path/to/base", "data": "pairs.jsonl", "eval_fraction": 0.1,
                      "lora": {"r": 16, "target_modules": "all-linear"}, "merge": True}).train()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hooklab.errors import ConfigError
from hooklab_dpo_peft.config import LoraDPOConfig
from hooklab_dpo_trl.trainer import DPORun


class LoraDPORun(DPORun):
    """``LoraDPORun(config).train() -> DPOResult`` (see :class:`~hooklab_dpo_trl.trainer.DPORun`)."""

    name = "dpo-peft-lora"
    config_class = LoraDPOConfig
    config: LoraDPOConfig

    def lora_config(self) -> Any:
        """The ``peft.LoraConfig`` built from the ``lora`` section."""
        from peft import LoraConfig

        o = self.config.lora
        return LoraConfig(task_type="CAUSAL_LM", r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout,
                          target_modules=o.target_modules, bias=o.bias, modules_to_save=o.modules_to_save,
                          use_rslora=o.use_rslora)

    def prepare_model(self, model: Any) -> Any:
        from peft import PeftModel

        if isinstance(model, PeftModel):
            raise ConfigError("pass the base model: the LoRA trainer adds the adapter itself "
                              "(to continue an adapter, use resume)")
        import torch

        base_bf16 = self.config.base_bf16
        if base_bf16 is None:
            base_bf16 = self.use_bf16()
        if base_bf16 and model.dtype == torch.float32:
            # the base is frozen: no fp32 master weights needed. Half the weight memory and no
            # per-step casts under autocast; the adapter stays fp32 (PEFT upcasts it)
            model = model.to(torch.bfloat16)
        return model

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"peft_config": self.lora_config()}

    def reference_model(self, model: Any) -> Any:
        if self.config.ref_model or self._ref_model is not None:
            raise ConfigError("the LoRA trainer's reference is the base model with the adapter disabled: "
                              "remove ref_model, or use the trl trainer for another reference")
        return None  # never a copy: TRL disables the adapter for reference passes

    def save_final(self, trainer: Any, tokenizer: Any, path: Path) -> None:
        """Save the adapter (and, with ``merge``, the merged model to ``output_dir/merged``)."""
        trainer.save_model(str(path))
        tokenizer.save_pretrained(str(path))
        if self.config.merge and trainer.accelerator.is_main_process:
            policy = trainer.accelerator.unwrap_model(trainer.model)
            merged = policy.merge_and_unload()
            out = Path(self.config.output_dir) / "merged"
            merged.save_pretrained(str(out), safe_serialization=True)
            tokenizer.save_pretrained(str(out))
