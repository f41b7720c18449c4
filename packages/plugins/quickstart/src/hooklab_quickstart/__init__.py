"""hooklab-quickstart: every first-party plugin, offline, on an embedded tiny model.

Example::

    import hooklab_quickstart
    result = hooklab_quickstart.run("quickstart-out", fast=True)
    print(result.summary())            # the lines `hooklab quickstart` prints at the end
    result.report_path                 # quickstart-out/report.html (self-contained)

Importing this package imports neither torch nor transformers (they load when a step runs).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["QuickstartConfig", "QuickstartResult", "run"]


def __getattr__(name: str) -> Any:
    if name in {"run", "QuickstartResult"}:
        from hooklab_quickstart import pipeline

        return getattr(pipeline, name)
    if name == "QuickstartConfig":
        from hooklab_quickstart.config import QuickstartConfig

        return QuickstartConfig
    raise AttributeError(f"module 'hooklab_quickstart' has no attribute {name!r}")
