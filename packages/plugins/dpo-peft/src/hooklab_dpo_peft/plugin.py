"""hooklab-dpo-peft's entry point: the ``dpo-peft-lora`` trainer. The ``hooklab dpo`` verb (with
``--trainer peft-lora``) and ``hooklab eval reward-accuracy`` come from hooklab-dpo-trl, which this
package depends on, so they are registered once. Importing this module imports neither torch nor peft."""

from __future__ import annotations

from typing import Any

from hooklab import hookimpl


@hookimpl
def register_trainers(register: Any) -> None:
    register("dpo-peft-lora", "hooklab_dpo_peft.trainer:LoraDPORun", config="hooklab_dpo_peft.config:LoraDPOConfig",
             description="DPO with a PEFT LoRA adapter; reference = base model with the adapter disabled")
