"""hooklab-capture's entry point: the ``capture`` probe and the ``hooklab capture`` verb.

Free of heavy imports: the work is in :mod:`hooklab_capture.capture` and :mod:`hooklab_capture.cli`.
"""

from __future__ import annotations

from typing import Any

from hooklab import hookimpl


@hookimpl
def register_probes(register: Any) -> None:
    register("capture", "hooklab_capture.probe:CaptureProbe", config="hooklab_capture.config:CaptureConfig",
             description="activations at hook points over many texts, in memory or to Parquet shards")


@hookimpl
def register_commands(cli: Any) -> None:
    from hooklab_capture.cli import capture_command

    cli.add_command(capture_command)
