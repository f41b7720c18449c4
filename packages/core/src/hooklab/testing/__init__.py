"""The hooklab test kit, for hooklab's own tests and for third-party plugin authors.

* :mod:`hooklab.testing.models` — tiny models of eight families built from configs and a
  tokenizer trained locally (no hub): :func:`tiny_model`, :func:`tiny_tokenizer`, :func:`save_tiny`.
* :mod:`hooklab.testing.server` — :class:`ScriptedOpenAIServer`, an OpenAI-compatible HTTP server
  on 127.0.0.1 whose answers, latency and faults a test scripts.
* :mod:`hooklab.testing.pytest_plugin` — fixtures ``openai_server``, ``hooklab_plugins``,
  ``tiny_tokenizer`` (registered automatically through the ``pytest11`` entry point).

Importing this package imports neither torch nor transformers; the functions do, when called.
"""

from __future__ import annotations

from typing import Any

from hooklab.testing.server import Reply, ScriptedOpenAIServer

__all__ = ["FAMILIES", "Reply", "ScriptedOpenAIServer", "save_tiny", "tiny_config", "tiny_model", "tiny_tokenizer"]

FAMILIES = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma", "opt", "phi")


def tiny_model(family: str = "gpt2", **kwargs: Any) -> Any:
    """See :func:`hooklab.testing.models.tiny_model`."""
    from hooklab.testing.models import tiny_model as f

    return f(family, **kwargs)


def tiny_tokenizer(vocab_size: int = 512, **kwargs: Any) -> Any:
    """See :func:`hooklab.testing.models.tiny_tokenizer`."""
    from hooklab.testing.models import tiny_tokenizer as f

    return f(vocab_size, **kwargs)


def tiny_config(family: str, **kwargs: Any) -> Any:
    """See :func:`hooklab.testing.models.tiny_config`."""
    from hooklab.testing.models import tiny_config as f

    return f(family, **kwargs)


def save_tiny(family: str, path: Any, **kwargs: Any) -> Any:
    """See :func:`hooklab.testing.models.save_tiny`."""
    from hooklab.testing.models import save_tiny as f

    return f(family, path, **kwargs)
