"""hooklab-dpo-trl's entry point: the ``dpo-trl`` trainer and the ``hooklab dpo`` and
``hooklab eval reward-accuracy`` verbs (shared with hooklab-dpo-peft, which registers only its
trainer). Importing this module imports neither torch nor TRL."""

from __future__ import annotations

from typing import Any

from hooklab import hookimpl


@hookimpl
def register_trainers(register: Any) -> None:
    register("dpo-trl", "hooklab_dpo_trl.trainer:DPORun", config="hooklab_dpo_trl.config:DPOTrainConfig",
             description="DPO full fine-tuning through TRL (reference log-probs precomputed and cached)")


@hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_dpo_trl.cli import dpo_command, eval_group, reward_accuracy_command

    cli.add_command(dpo_command)
    group = cli.commands.get("eval")
    if group is None or not hasattr(group, "add_command"):  # another plugin may own `eval`: join it
        group = eval_group
        cli.add_command(group)
    group.add_command(reward_accuracy_command)
