"""pytest fixtures of the hooklab test kit (loaded automatically where hooklab-core is installed).

* ``openai_server`` — a started :class:`~hooklab.testing.ScriptedOpenAIServer`; script it with
  ``openai_server.push(...)`` or set ``openai_server.responder``.
* ``hooklab_plugins`` — a fresh plugin manager (core built-ins plus installed plugins) installed
  as the global one for the test; ``hooklab_plugins.register(obj)`` adds a temporary plugin. The
  previous manager is restored afterwards, whatever happens.
* ``tiny_tokenizer`` — the test kit's locally trained tokenizer (session-scoped).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


class _Plugins:
    def __init__(self, pm: Any) -> None:
        self.pm = pm
        self._n = 0

    def register(self, plugin: Any, name: str | None = None, distribution: str = "(test)") -> bool:
        """Register ``plugin`` (a module or an object with ``@hookimpl`` methods)."""
        self._n += 1
        return bool(self.pm.add_plugin(plugin, name or f"test-plugin-{self._n}", distribution=distribution))


@pytest.fixture
def hooklab_plugins() -> Iterator[_Plugins]:
    from hooklab.plugins import new_manager, set_manager

    pm = new_manager()
    old = set_manager(pm)
    try:
        yield _Plugins(pm)
    finally:
        set_manager(old)


@pytest.fixture
def openai_server() -> Iterator[Any]:
    from hooklab.testing.server import ScriptedOpenAIServer

    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    from hooklab.testing.models import tiny_tokenizer as build

    return build()
