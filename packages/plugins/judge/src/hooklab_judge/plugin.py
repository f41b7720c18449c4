"""hooklab-judge's hooks: the ``judge`` command group. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab


@hooklab.hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_judge.cli import judge

    cli.add_command(judge)
