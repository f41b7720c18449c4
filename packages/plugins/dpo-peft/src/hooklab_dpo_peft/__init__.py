"""hooklab-dpo-peft: DPO with a PEFT LoRA adapter. The reference is the base model with the
adapter disabled, so one copy of the base weights is in memory.

Importing this package imports neither torch nor peft::

    from hooklab_dpo_peft.trainer import LoraDPORun    # LoraDPORun(config).train() -> DPOResult
"""

__version__ = "0.1.0"
