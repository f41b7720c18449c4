"""hooklab-local: the ``local`` LLM backend (in-process transformers generation)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["LocalBackend", "LocalConfig"]


def __getattr__(name: str) -> object:
    # lazy, so that importing the package does not import torch
    if name in __all__:
        from hooklab_local import backend

        return getattr(backend, name)
    raise AttributeError(name)
