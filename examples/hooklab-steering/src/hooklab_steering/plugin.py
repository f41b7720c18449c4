from __future__ import annotations

from typing import Any

import hooklab


@hooklab.hookimpl
def register_probes(register: Any) -> None:
    register("steer", "hooklab_steering.steering:SteeringProbe", config="hooklab_steering.steering:SteerConfig",
             description="add a (plus - minus) steering vector to the residual stream at a hook point")


@hooklab.hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_steering.cli import steer

    cli.add_command(steer)
