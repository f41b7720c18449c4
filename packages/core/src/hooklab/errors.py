"""The hooklab error hierarchy.

Every error hooklab raises on purpose is a :class:`HooklabError`. Its message is one line that says
what went wrong and what to do next; the CLI prints it and exits with code 2 (no traceback unless
``--debug``). Subclasses also inherit from the closest built-in exception so that ordinary
``except ValueError`` / ``except LookupError`` code keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HooklabError(Exception):
    """Base class of all deliberate hooklab errors (bad input, bad config, broken plugin...)."""

    exit_code = 2


class ConfigError(HooklabError, ValueError):
    """A configuration file, option or override is invalid."""


class PluginError(HooklabError):
    """A plugin failed to load, registered a duplicate name, or misspelled a hook."""


class UnknownComponentError(HooklabError, LookupError):
    """No component of the requested kind has the requested name."""


class ModelError(HooklabError):
    """A model cannot be used as asked (no layer list, no final norm, no LM head, ...)."""


class HookPointError(ModelError, KeyError):
    """A hook point name does not resolve on this model."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataError(HooklabError, ValueError):
    """Input data is missing, empty or has the wrong shape/columns."""


class BackendError(HooklabError):
    """An LLM backend failed (HTTP error after retries, missing API key, unparseable output)."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ``" Did you mean: a, b?"`` suffix for ``name`` among ``choices`` ('' if none)."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def unknown(what: str, name: str, choices: Iterable[str]) -> str:
    """Format the standard message for an unknown name: lists the valid ones and close matches."""
    choices = sorted(set(choices))
    listed = ", ".join(choices) if choices else "(none registered)"
    return f"unknown {what} {name!r}.{suggest(name, choices)} Available: {listed}"
