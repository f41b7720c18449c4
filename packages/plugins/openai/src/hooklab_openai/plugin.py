"""hooklab-openai's hooks: the ``openai`` backend. Imports nothing heavy."""

from __future__ import annotations

from typing import Any

import hooklab

_B = "hooklab_openai.backend"


@hooklab.hookimpl
def register_backends(register: Any) -> None:
    register("openai", f"{_B}:OpenAIBackend", config=f"{_B}:OpenAIConfig",
             description="OpenAI or any OpenAI-compatible server (base_url); key from an env var")
