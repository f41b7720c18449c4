"""hooklab-quickstart's hooks: the ``hooklab quickstart`` verb. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab


@hooklab.hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_quickstart.cli import quickstart_command

    cli.add_command(quickstart_command)
