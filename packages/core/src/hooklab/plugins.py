"""Plugin loading: entry points, isolation of broken plugins, strict mode, the global manager.

Environment:

* ``HOOKLAB_STRICT_PLUGINS=1`` — any plugin error (import failure, exception inside a hook,
  misspelled hook, duplicate component name) raises :class:`~hooklab.errors.PluginError` instead
  of being recorded. Tests and CI set it.
* ``HOOKLAB_LOAD_PLUGINS=a,b`` — load only the entry points named ``a`` and ``b``; ``''`` loads
  none (core's built-ins are always there).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from hooklab import hookspecs
from hooklab.errors import PluginError
from hooklab.registry import Component, Registry

ENTRY_POINT_GROUP = "hooklab.plugins"
CORE_PLUGIN = "core"


def strict_mode() -> bool:
    """True when ``HOOKLAB_STRICT_PLUGINS`` is set to a true value."""
    return os.environ.get("HOOKLAB_STRICT_PLUGINS", "").lower() in {"1", "true", "yes", "on"}


@dataclass
class LoadError:
    """A plugin problem that was recorded instead of raised."""

    plugin: str
    distribution: str
    error: str
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "distribution": self.distribution, "error": self.error}


@dataclass
class PluginInfo:
    """What ``hooklab plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HooklabPluginManager(pluggy.PluginManager):
    """A pluggy manager that records plugin errors and builds the component registry lazily."""

    def __init__(self) -> None:
        super().__init__("hooklab")
        self.add_hookspecs(hookspecs)
        self.load_errors: list[LoadError] = []  # import / validation problems
        self.registry_errors: list[LoadError] = []  # problems while calling register hooks
        self.infos: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------------------
    def add_plugin(
        self, plugin: ModuleType | object, name: str, *, distribution: str = "", version: str = ""
    ) -> bool:
        """Register ``plugin`` under ``name``; record (or, in strict mode, raise) any problem.

        Returns True when the plugin was registered.
        """
        try:
            self.register(plugin, name=name)
        except Exception as exc:  # pluggy validation errors (wrong hook arguments, ...)
            self._fail(name, distribution, exc)
            return False
        bad = [hc.name for hc in (self.get_hookcallers(plugin) or []) if not hc.has_spec()]
        if bad:
            self.unregister(plugin)
            specs = [n for n in dir(hookspecs) if n.startswith("register_")]
            hints = "; ".join(
                f"{b!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(b, specs, 1)) else "")
                for b in bad
            )
            self._fail(name, distribution, PluginError(f"implements unknown hook(s): {hints}"))
            return False
        module = getattr(plugin, "__name__", type(plugin).__name__)
        hooks = sorted(hc.name for hc in (self.get_hookcallers(plugin) or []))
        self.infos[name] = PluginInfo(name, distribution, version, module, hooks)
        self._registry = None
        return True

    def remove_plugin(self, name: str) -> None:
        """Unregister the plugin ``name`` (no error if it is not registered)."""
        plugin = self.get_plugin(name)
        if plugin is not None:
            self.unregister(plugin)
        self.infos.pop(name, None)
        self._registry = None

    def load_entrypoints(self) -> None:
        """Load every ``hooklab.plugins`` entry point, each in isolation."""
        allow_env = os.environ.get("HOOKLAB_LOAD_PLUGINS")
        allowed = None if allow_env is None else {s.strip() for s in allow_env.split(",") if s.strip()}
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.get_plugin(ep.name) is not None or ep.name in self.infos:
                continue
            dist = ep.dist.name if ep.dist else ""
            version = ep.dist.version if ep.dist else ""
            try:
                module = ep.load()
            except Exception as exc:
                self._fail(ep.name, dist, exc)
                continue
            self.add_plugin(module, ep.name, distribution=dist, version=version)

    @property
    def errors(self) -> list[LoadError]:
        """Every recorded plugin problem (building the registry first, so hook errors show)."""
        self.registry  # noqa: B018 - building it records errors raised inside register hooks
        return [*self.load_errors, *self.registry_errors]

    def _fail(
        self, plugin: str, distribution: str, exc: BaseException, into: list[LoadError] | None = None
    ) -> None:
        err = LoadError(plugin, distribution, _one_line(exc), traceback.format_exc())
        if strict_mode():
            raise PluginError(
                f"plugin {plugin!r} ({distribution or 'not installed'}) failed: {err.error} "
                f"(HOOKLAB_STRICT_PLUGINS is set)"
            ) from exc
        (self.load_errors if into is None else into).append(err)

    # -- the registry -------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The component registry, built on first use from every plugin's register hooks."""
        with self._lock:
            if self._registry is None:
                self._registry = self._build_registry()
            return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        self.registry_errors = []
        for spec, kind in hookspecs.COMPONENT_HOOKS.items():
            for impl in getattr(self.hook, spec).get_hookimpls():
                info = self.infos.get(impl.plugin_name)
                dist = info.distribution if info else ""
                try:
                    impl.function(register=self._registrar(registry, kind, impl.plugin_name, dist))
                except Exception as exc:
                    if strict_mode() and isinstance(exc, PluginError):
                        raise  # already a strict-mode error from register()
                    msg = str(exc) if isinstance(exc, PluginError) else _one_line(exc)
                    self._fail(
                        impl.plugin_name, dist, PluginError(f"hook {spec}: {msg}"), self.registry_errors
                    )
        return registry

    def _registrar(self, registry: Registry, kind: str, plugin: str, dist: str) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any] | str,
            *,
            config: Any = None,
            description: str = "",
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{kind} name must be a non-empty string, got {name!r}")
            if not (callable(factory) or isinstance(factory, str)):
                raise PluginError(f"{kind} {name!r}: factory must be callable or 'module:attr'")
            comp = Component(kind, name, factory, config, description, plugin, dist)
            existing = registry.add(comp)
            if existing is not None:
                # Recorded, not raised, so the plugin's other components still register; using
                # the ambiguous name raises (Registry.lookup) naming both distributions.
                self._fail(
                    plugin,
                    dist,
                    PluginError(
                        f"duplicate {kind} name {name!r}: registered by "
                        f"{existing.distribution or existing.plugin} and by {dist or plugin}"
                    ),
                    self.registry_errors,
                )

        return register

    def invalidate(self) -> None:
        """Forget the built registry (after plugins were added or removed)."""
        self._registry = None


_manager: HooklabPluginManager | None = None
_manager_lock = threading.Lock()


def new_manager(*, entrypoints: bool = True) -> HooklabPluginManager:
    """A fresh manager with core's built-ins and (optionally) every installed plugin."""
    pm = HooklabPluginManager()
    from hooklab import default_plugin

    pm.add_plugin(default_plugin, CORE_PLUGIN, distribution="hooklab-core", version=_core_version())
    if entrypoints:
        pm.load_entrypoints()
    return pm


def get_manager() -> HooklabPluginManager:
    """The process-wide plugin manager (created and loaded on first use)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = new_manager()
        return _manager


def set_manager(pm: HooklabPluginManager | None) -> HooklabPluginManager | None:
    """Replace the process-wide manager (``None`` reloads on next use); returns the old one."""
    global _manager
    with _manager_lock:
        old, _manager = _manager, pm
        return old


@contextmanager
def temporary_plugins(*plugins: ModuleType | object, names: list[str] | None = None) -> Iterator[HooklabPluginManager]:
    """Register ``plugins`` on the global manager for the duration of the ``with`` block.

    Example::

        class MyPlugin:
            @hooklab.hookimpl
            def register_schedules(self, register):
                register("flat", lambda lr=1.0: lr)

        with temporary_plugins(MyPlugin()):
            assert "flat" in hooklab.components("schedule")
    """
    pm = get_manager()
    added: list[str] = []
    try:
        for i, plugin in enumerate(plugins):
            name = names[i] if names else f"temporary-{id(plugin)}"
            if pm.add_plugin(plugin, name, distribution="(temporary)"):
                added.append(name)
        yield pm
    finally:
        for name in added:
            pm.remove_plugin(name)


def components(kind: str) -> dict[str, Component]:
    """All components of ``kind`` (``adapter``, ``probe``, ``schedule``, ``source``, ``backend``,
    ``judge``, ``trainer``), by name.

    Raises:
        UnknownComponentError: ``kind`` is not a component kind.
    """
    reg = get_manager().registry
    return {name: reg.lookup(kind, name) for name in reg.names(kind) if (kind, name) not in reg.duplicates}


def get(kind: str, name: str, /, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with ``options``.

    Returns what the component's factory returns (a schedule, a dataset, a backend...).

    Raises:
        UnknownComponentError: no such component (the message lists the available names).
        ConfigError: ``options`` do not validate against the component's config model.
        PluginError: the name is registered twice, or the factory cannot be imported.
    """
    return get_manager().registry.lookup(kind, name).create(**options)


def _core_version() -> str:
    try:
        return md.version("hooklab-core")
    except md.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def reload() -> HooklabPluginManager:
    """Drop the global manager and load plugins again (after ``pip install`` in-process)."""
    importlib.invalidate_caches()
    set_manager(None)
    return get_manager()
