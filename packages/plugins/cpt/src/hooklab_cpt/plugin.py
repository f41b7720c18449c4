"""hooklab-cpt's entry point: the ``replay-mix`` source, the ``cpt`` trainer and ``hooklab cpt``.

Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

from typing import Any

import hooklab


@hooklab.hookimpl
def register_sources(register: Any) -> None:
    register("replay-mix", "hooklab_cpt.mixer:replay_mix_source", config="hooklab_cpt.mixer:ReplayMixConfig",
             description="new data plus a fraction of replayed old data, streamed and packed")


@hooklab.hookimpl
def register_trainers(register: Any) -> None:
    register("cpt", "hooklab_cpt.trainer:cpt_trainer", config="hooklab_cpt.trainer:CPTConfig",
             description="continued pretraining with replay, LR schedule, clipping, forgetting report")


@hooklab.hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_cpt.cli import cpt_group

    cli.add_command(cpt_group)
