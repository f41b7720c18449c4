"""Component registries: named, lazily imported factories of every kind.

Plugins fill the registry through the ``register_<kind>s(register)`` hooks (see
:mod:`hooklab.hookspecs`). Nothing a factory needs is imported before the component is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hooklab.errors import PluginError, UnknownComponentError, unknown

KINDS: tuple[str, ...] = ("adapter", "probe", "schedule", "source", "backend", "judge", "trainer")


def import_string(ref: str, *, what: str = "object") -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module.attr"``) and return the attribute.

    Raises:
        PluginError: the module cannot be imported or has no such attribute.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep:
        module_name, _, attr = ref.rpartition(".")
    if not module_name or not attr:
        raise PluginError(f"invalid {what} reference {ref!r}: expected 'package.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"cannot import {what} {ref!r}: {exc}. Is the plugin installed with its dependencies?"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"cannot import {what} {ref!r}: {module_name} has no {attr!r}") from exc
    return obj


@dataclass(frozen=True)
class Component:
    """One registered component: what ``hooklab.get(kind, name)`` builds."""

    kind: str
    name: str
    factory: Callable[..., Any] | str
    config: Any = None  # pydantic model class, "module:attr" or None
    description: str = ""
    plugin: str = ""
    distribution: str = ""

    def load_factory(self) -> Callable[..., Any]:
        """Return the factory callable, importing it if it was registered as a string."""
        if isinstance(self.factory, str):
            return import_string(self.factory, what=f"{self.kind} factory")  # type: ignore[no-any-return]
        return self.factory

    def load_config(self) -> Any:
        """Return the pydantic config model class, or ``None`` when the component has none."""
        if isinstance(self.config, str):
            return import_string(self.config, what=f"{self.kind} config")
        return self.config

    def create(self, **options: Any) -> Any:
        """Build the component from ``options``.

        Returns whatever the factory returns. Raises :class:`~hooklab.errors.ConfigError` (one readable message)
        when ``options`` do not validate against the component's config model.
        """
        factory = self.load_factory()
        model = self.load_config()
        if model is None:
            return factory(**options)
        from hooklab.config import validate

        return factory(validate(model, options, where=f"{self.kind} {self.name!r}"))


@dataclass
class Registry:
    """All components, by kind and name, plus the names registered twice (an error on use)."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    duplicates: dict[tuple[str, str], list[Component]] = field(default_factory=dict)

    def add(self, component: Component) -> Component | None:
        """Add ``component``; return the already registered one if the name is taken."""
        table = self.components.setdefault(component.kind, {})
        existing = table.get(component.name)
        if existing is not None:
            self.duplicates.setdefault((component.kind, component.name), [existing]).append(component)
            return existing
        table[component.name] = component
        return None

    def names(self, kind: str) -> list[str]:
        """Sorted names of the components of ``kind``."""
        self._check_kind(kind)
        return sorted(self.components.get(kind, {}))

    def lookup(self, kind: str, name: str) -> Component:
        """Return the component; raise a helpful error for unknown or duplicated names."""
        self._check_kind(kind)
        dup = self.duplicates.get((kind, name))
        if dup:
            who = " and ".join(f"{c.distribution or c.plugin} (plugin {c.plugin!r})" for c in dup)
            raise PluginError(
                f"{kind} {name!r} is registered by more than one plugin: {who}. "
                f"Uninstall one of them or restrict loading with HOOKLAB_LOAD_PLUGINS."
            )
        try:
            return self.components[kind][name]
        except KeyError:
            raise UnknownComponentError(unknown(kind, name, self.names(kind))) from None

    def _check_kind(self, kind: str) -> None:
        if kind not in self.components:
            raise UnknownComponentError(unknown("component kind", kind, self.components))
