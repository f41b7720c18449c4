"""hooklab-lens's entry point: registers the ``lens`` probe and the ``hooklab lens`` verb.

Kept free of heavy imports: the work is in :mod:`hooklab_lens.lens` and :mod:`hooklab_lens.cli`.
"""

from __future__ import annotations

from typing import Any

from hooklab import hookimpl


@hookimpl
def register_probes(register: Any) -> None:
    register("lens", "hooklab_lens.lens:LogitLensProbe", config="hooklab_lens.config:LensConfig",
             description="logit lens: top-k, target rank/prob, entropy, KL per layer x position")


@hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_lens.cli import lens_command

    cli.add_command(lens_command)
