"""hooklab: look inside language models and train them further.

The public API of the core::

    import hooklab
    hooklab.components("schedule")            # {name: Component} of one kind
    hooklab.get("source", "jsonl", path=...)  # build a component from options
    hooklab.load_source("data.parquet")       # a dataset from a path or a mapping
    @hooklab.hookimpl                          # for plugin authors

Importing ``hooklab`` never imports torch; model features live in ``hooklab.models`` and
``hooklab.hooks``.
"""

from __future__ import annotations

from typing import Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("hooklab")

from hooklab.errors import (  # noqa: E402
    BackendError,
    ConfigError,
    DataError,
    HooklabError,
    HookPointError,
    ModelError,
    PluginError,
    UnknownComponentError,
)
from hooklab.plugins import components, get, get_manager  # noqa: E402


def load_source(spec: Any, /, **options: Any) -> Any:
    """Load a dataset from a path or a ``{"source": NAME, ...}`` mapping (see
    :func:`hooklab.sources.load_source`)."""
    from hooklab.sources import load_source as _load

    return _load(spec, **options)


__all__ = [
    "BackendError",
    "ConfigError",
    "DataError",
    "HookPointError",
    "HooklabError",
    "ModelError",
    "PluginError",
    "UnknownComponentError",
    "__version__",
    "components",
    "get",
    "get_manager",
    "hookimpl",
    "load_source",
]
