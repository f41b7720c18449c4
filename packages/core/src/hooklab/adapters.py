"""Built-in architecture adapters: what probing cannot find on some families.

An adapter has ``matches(model) -> bool`` and ``paths(model) -> dict``; keys are ``layers``,
``embed``, ``final_norm``, ``unembed`` (dotted paths from the model root) and ``attn``, ``mlp``
(paths relative to a block). Only the keys it returns override probing.
"""

from __future__ import annotations

from typing import Any


class ModelTypeAdapter:
    """Adapter for every model whose ``config.model_type`` is in ``model_types``."""

    def __init__(self, model_types: tuple[str, ...], paths: dict[str, str]) -> None:
        self.model_types = model_types
        self._paths = paths

    def matches(self, model: Any) -> bool:
        return getattr(getattr(model, "config", None), "model_type", None) in self.model_types

    def paths(self, model: Any) -> dict[str, str]:
        return dict(self._paths)


def opt_adapter() -> ModelTypeAdapter:
    """OPT blocks have no MLP module: ``fc2``'s output is the MLP sublayer's output."""
    return ModelTypeAdapter(("opt",), {"mlp": "fc2"})
