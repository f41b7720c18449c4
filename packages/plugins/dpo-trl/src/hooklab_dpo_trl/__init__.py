"""hooklab-dpo-trl: DPO full fine-tuning through TRL, preference-pair validation and
reward-accuracy evaluation (shared with hooklab-dpo-peft).

Importing this package imports neither torch nor TRL; the modules below do when used::

    from hooklab_dpo_trl.config import DPOTrainConfig
    from hooklab_dpo_trl.trainer import DPORun           # DPORun(config).train() -> DPOResult
    from hooklab_dpo_trl.rewards import reward_accuracy  # RewardBench-style accuracy
    from hooklab_dpo_trl.data import validate_pairs      # clean prompt/chosen/rejected data
"""

__version__ = "0.1.0"
