"""The DPO training configuration (shared by the ``dpo-trl`` and ``dpo-peft-lora`` trainers).

A config file (TOML / YAML / JSON) holds these keys at the top level; ``--set key=value`` overrides
them. Example ``dpo.toml``::

    model = "Qwen/Qwen2-0.5B-Instruct"     # or a local path
    data = "pairs.jsonl"                    # any hooklab source: a path or {source = "hf", name = ...}
    output_dir = "runs/qwen-dpo"
    beta = 0.1
    learning_rate = 5e-7
    batch_size = 8
    max_length = 1024
    schedule = {name = "cosine", warmup = 50}   # a hooklab schedule (optional)

Importing this module imports pydantic only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DPOTrainConfig(BaseModel):
    """What users tune in a DPO run. Unknown keys are an error (typos never pass silently)."""

    model_config = ConfigDict(extra="forbid")

    # model and reference
    model: str | None = Field(None, description="policy: HF model id or local path (or pass a model object to DPORun)")
    ref_model: str | None = Field(None, description="explicit reference model (default: the initial policy)")
    reference: Literal["precompute", "copy"] = Field(
        "precompute",
        description="precompute: reference log-probs computed once, cached on disk, no reference in memory "
        "while training; copy: keep a live reference model (ref_model, or an in-memory copy of the policy)",
    )
    ref_cache_dir: str | None = Field(
        None, description="where precomputed reference log-probs are cached (default: the user cache dir)"
    )
    dtype: str = Field("auto", description="dtype to load the model in: auto, float32, bfloat16, float16")
    trust_remote_code: bool = False

    # data
    data: str | dict[str, Any] | None = Field(None, description="training pairs: a path or a source mapping")
    eval_data: str | dict[str, Any] | None = Field(None, description="held-out pairs (reward accuracy before/after)")
    eval_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="hold out this fraction of data when no eval_data")
    max_length: int | None = Field(1024, ge=2, description="max tokens of prompt + completion (truncated, counted)")
    max_prompt_length: int | None = Field(None, ge=1, description="keep the last N prompt tokens (text prompts)")
    drop_empty: bool = Field(False, description="drop rows with an empty chosen/rejected instead of failing")

    # loss
    beta: float = Field(0.1, gt=0)
    loss_type: str | list[str] = Field("sigmoid", description="TRL loss type(s): sigmoid, ipo, hinge, robust...")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)

    # optimisation
    learning_rate: float = Field(1e-6, gt=0)
    schedule: str | dict[str, Any] | None = Field(
        None, description="a hooklab schedule (name or {name = ..., options}) used as the LR plan; "
        "overrides lr_scheduler_type"
    )
    lr_scheduler_type: str = Field("linear", description="TRL/transformers scheduler when no schedule is given")
    warmup_steps: int = Field(0, ge=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after N optimizer steps (-1: run the epochs)")
    batch_size: int = Field(8, ge=1, description="pairs per device per step")
    eval_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    optim: str = Field("adamw_torch", description="transformers optimizer name")
    seed: int = 42

    # speed / memory
    device: str | None = Field(None, description="cpu, cuda, mps (default: what accelerate picks)")
    bf16: bool | None = Field(None, description="bf16 mixed precision (default: on where the device supports it)")
    gradient_checkpointing: bool = Field(False, description="trade compute for activation memory")
    torch_compile: bool = Field(False, description="torch.compile the policy")

    # checkpoints, logging, outputs
    output_dir: str = "dpo-out"
    save_steps: int = Field(500, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    resume: bool | str = Field(
        False, description="true: continue from the latest checkpoint in output_dir; or a checkpoint path"
    )
    logging_steps: int = Field(10, ge=1)
    evaluate: bool = Field(True, description="reward accuracy on the held-out pairs before and after training")
    save_final: bool = Field(True, description="save the trained model (or adapter) to output_dir/final")
    progress: bool = Field(True, description="show a progress bar with loss, reward accuracy and margin")
    plot: bool = Field(True, description="write metrics.png (needs matplotlib)")
    trl_args: dict[str, Any] = Field(
        default_factory=dict, description="extra trl.DPOConfig arguments, passed through as they are"
    )

    # adapter options: validated by the dpo-peft-lora trainer, ignored by dpo-trl
    lora: dict[str, Any] | None = Field(None, description="LoRA options (dpo-peft-lora trainer only)")

    @field_validator("loss_type")
    @classmethod
    def _loss_list(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError("give at least one loss type")
        return v

    def loss_types(self) -> list[str]:
        """The loss types as a list."""
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)
