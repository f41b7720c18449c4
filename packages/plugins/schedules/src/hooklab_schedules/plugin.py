"""hooklab-schedules' entry point: the registered schedules and the ``hooklab schedule`` verb.

Importing this module imports neither torch nor matplotlib.
"""

from __future__ import annotations

from typing import Any

import hooklab

_C = "hooklab_schedules.configs"


@hooklab.hookimpl
def register_schedules(register: Any) -> None:
    register("cosine", f"{_C}:cosine", config=f"{_C}:CosineConfig",
             description="linear warmup from initial_lr, cosine decay to min_lr (the seed)")
    register("linear", f"{_C}:linear", config=f"{_C}:LinearConfig",
             description="linear warmup, linear decay to min_lr")
    register("constant", f"{_C}:constant", config=f"{_C}:ConstantConfig",
             description="a flat learning rate")
    register("warmup-constant", f"{_C}:warmup_constant", config=f"{_C}:WarmupConstantConfig",
             description="linear warmup, then flat at peak_lr")
    register("inverse-sqrt", f"{_C}:inverse_sqrt", config=f"{_C}:InverseSqrtConfig",
             description="linear warmup, then peak_lr / sqrt(step / timescale)")
    register("wsd", f"{_C}:wsd", config=f"{_C}:WSDConfig",
             description="warmup-stable-decay")
    register("multi-phase", f"{_C}:multi_phase", config=f"{_C}:MultiPhaseConfig",
             description="re-warm and re-decay: one warmup + decay per phase (per dataset)")
    register("segments", f"{_C}:segments", config=f"{_C}:SegmentsConfig",
             description="any list of constant/warmup/cosine/linear/1-sqrt/inverse-sqrt segments")


@hooklab.hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_schedules.cli import schedule_group

    cli.add_command(schedule_group)
