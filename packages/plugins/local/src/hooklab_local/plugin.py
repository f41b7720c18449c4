"""hooklab-local's hooks: the ``local`` backend. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab

_B = "hooklab_local.backend"


@hooklab.hookimpl
def register_backends(register: Any) -> None:
    register("local", f"{_B}:LocalBackend", config=f"{_B}:LocalConfig",
             description="a transformers causal LM in this process (batched, left padding)")


@hooklab.hookimpl
def register_judges(register: Any) -> None:
    # The judge logic is backend-agnostic (hooklab.judges); this names it after the backend.
    from hooklab.judges import backend_judge

    register("local", backend_judge("local"), config="hooklab.judges:JudgeConfig",
             description="LLM judge (pairwise A/B, 1-5 scores) on a local transformers model; "
                         "backend={model: PATH, device, ...}")
