"""hooklab-openai: the ``openai`` LLM backend (OpenAI and any OpenAI-compatible server)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["OpenAIBackend", "OpenAIConfig"]


def __getattr__(name: str) -> object:
    # lazy, so that importing the package does not import the openai client
    if name in __all__:
        from hooklab_openai import backend

        return getattr(backend, name)
    raise AttributeError(name)
