"""The local (in-process transformers) backend against the contract kit, on a saved tiny model."""

from __future__ import annotations

import tempfile

from hooklab.testing import save_tiny
from hooklab.testing.contracts import BackendContract

_MODEL_DIR = None


def _model_dir() -> str:
    global _MODEL_DIR
    if _MODEL_DIR is None:
        _MODEL_DIR = str(save_tiny("llama", tempfile.mkdtemp(prefix="local-contract-")))
    return _MODEL_DIR


class TestLocalBackendContract(BackendContract):
    name = "local"

    @property
    def options(self):  # type: ignore[override]
        return {"model": _model_dir(), "max_new_tokens": 8, "batch_size": 4}
