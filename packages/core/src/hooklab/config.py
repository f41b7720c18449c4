"""Configs: load TOML / YAML / JSON, apply ``--set a.b=value`` overrides, validate with pydantic.

Every component with options has a pydantic model; :func:`validate` turns pydantic's errors into
one readable :class:`~hooklab.errors.ConfigError` line.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from hooklab.errors import ConfigError

T = TypeVar("T")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file into a dict.

    Raises:
        ConfigError: the file is missing, has another extension, does not parse, or is not a
            mapping at the top level.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config {p}: unsupported extension {suffix!r} (use .toml, .yaml or .json)")
    except ConfigError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"config {p} does not parse: {detail}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {p}: the top level must be a mapping, got {type(data).__name__}")
    return data


def parse_value(text: str) -> Any:
    """Parse an override value as YAML would (``3`` -> int, ``true`` -> bool, ``[a, b]`` -> list,
    ``null`` -> None), plus ``1e-4`` -> float (YAML 1.1 leaves it a string); else the string."""
    import yaml

    s = text.strip()
    if not s:
        return ""
    try:
        value = yaml.safe_load(s)
    except yaml.YAMLError:
        return s
    if isinstance(value, str):
        try:
            return float(s)
        except ValueError:
            return value
    return value


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a deep copy of ``data`` with each ``"a.b.c=value"`` override applied.

    Raises:
        ConfigError: an override has no ``=`` or an empty key, or walks through a non-mapping.
    """
    out: dict[str, Any] = json.loads(json.dumps(data, default=str)) if data else {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"invalid override {item!r}: expected KEY=VALUE, e.g. train.lr=3e-4")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"invalid override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = parse_value(raw)
    return out


def format_validation_error(exc: Any, where: str = "config") -> str:
    """One line for a pydantic ``ValidationError``: ``where: a.b: message; c: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(root)"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown option"
        parts.append(f"{loc}: {msg}")
    return f"invalid {where}: " + "; ".join(parts)


def validate(model: type[T], data: Mapping[str, Any] | Any, *, where: str = "config") -> T:
    """Validate ``data`` into the pydantic ``model``.

    Returns the model instance. Raises :class:`ConfigError` with every problem on one line.
    """
    from pydantic import ValidationError

    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None


def load(model: type[T], path: str | Path | None = None, overrides: Iterable[str] = (), **defaults: Any) -> T:
    """Load ``path`` (optional), apply ``overrides``, and validate into ``model``.

    ``defaults`` are applied first, then the file, then the overrides.
    """
    data: dict[str, Any] = dict(defaults)
    if path is not None:
        data.update(load_config(path))
    data = apply_overrides(data, overrides)
    return validate(model, data, where=str(path) if path else "config")
