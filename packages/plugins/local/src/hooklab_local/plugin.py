"""hooklab-local's hooks: the ``local`` backend. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab

_B = "hooklab_local.backend"


@hooklab.hookimpl
def register_backends(register: Any) -> None:
    register("local", f"{_B}:LocalBackend", config=f"{_B}:LocalConfig",
             description="a transformers causal LM in this process (batched, left padding)")
