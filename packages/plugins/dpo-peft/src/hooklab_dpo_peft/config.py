"""The LoRA DPO configuration: everything of :class:`~hooklab_dpo_trl.config.DPOTrainConfig` plus
a ``lora`` section and ``merge``. Example ``dpo.toml``::

    model = "Qwen/Qwen2-0.5B-Instruct"
    data = "pairs.jsonl"
    learning_rate = 5e-6
    merge = true                   # also save the merged model to output_dir/merged

    [lora]
    r = 16
    alpha = 32
    dropout = 0.05
    target_modules = "all-linear"  # or ["q_proj", "v_proj"]
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hooklab_dpo_trl.config import DPOTrainConfig


class LoraOptions(BaseModel):
    """The LoRA adapter."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, description="rank")
    alpha: float = Field(32, gt=0, description="scaling numerator (lora_alpha)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field("all-linear", description="'all-linear' or module names")
    bias: str = Field("none", pattern="^(none|all|lora_only)$")
    modules_to_save: list[str] | None = None
    use_rslora: bool = False


class LoraDPOConfig(DPOTrainConfig):
    """DPO with a LoRA adapter: the reference is the base model with the adapter disabled."""

    lora: LoraOptions = Field(default_factory=LoraOptions)  # type: ignore[assignment]
    learning_rate: float = Field(5e-6, gt=0)
    merge: bool = Field(False, description="also save the base model with the adapter merged in")
    gradient_checkpointing: bool = Field(
        True, description="on by default for LoRA: activations dominate its memory, and the frozen base "
        "needs no weight gradients, so the recompute costs less than in full fine-tuning")
    base_bf16: bool | None = Field(
        None, description="keep the frozen base weights in bf16 (default: when training in bf16)")
