"""hooklab-openai's hooks: the ``openai`` backend. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab

_B = "hooklab_openai.backend"


@hooklab.hookimpl
def register_backends(register: Any) -> None:
    register("openai", f"{_B}:OpenAIBackend", config=f"{_B}:OpenAIConfig",
             description="OpenAI or any OpenAI-compatible server (base_url); key from an env var")


@hooklab.hookimpl
def register_judges(register: Any) -> None:
    # The judge logic is backend-agnostic (hooklab.judges); this names it after the backend.
    from hooklab.judges import backend_judge

    register("openai", backend_judge("openai"), config="hooklab.judges:JudgeConfig",
             description="LLM judge (pairwise A/B, 1-5 scores) on the openai backend; "
                         "backend={model, base_url, ...}")
