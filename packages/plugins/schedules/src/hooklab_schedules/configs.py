"""Pydantic configs of the registered schedules, their factories, and loading a schedule from a
mapping or a config file.

A schedule spec is a mapping with ``name`` (a registered schedule: ``cosine``, ``linear``,
``constant``, ``warmup-constant``, ``inverse-sqrt``, ``wsd``, ``multi-phase``, ``segments`` or a
third-party one) and that schedule's options::

    {"name": "cosine", "total_steps": 1000, "peak_lr": 3e-4, "warmup_fraction": 0.05}

In a config file the spec is the top level or the ``[schedule]`` table (so a ``cpt.toml`` works).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import ConfigError
from hooklab_schedules import schedule as S


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Run(_Config):
    total_steps: int = Field(ge=1, description="optimizer steps of the run")
    peak_lr: float = Field(gt=0, description="learning rate at the end of the warmup")
    warmup_steps: int | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, le=1, description="the seed uses 0.001-0.2")
    initial_lr: float = Field(0.0, ge=0, description="learning rate at step 0")


class CosineConfig(_Run):
    min_lr: float | None = Field(None, ge=0, description="floor; default 0.1 * initial_lr (the seed)")
    cycles: float = Field(0.5, gt=0, description="0.5 = one half-cosine down to the floor")


class LinearConfig(_Run):
    min_lr: float = Field(0.0, ge=0)


class WarmupConstantConfig(_Run):
    pass


class InverseSqrtConfig(_Run):
    timescale: int | None = Field(None, ge=1, description="default warmup_steps or 10000")


class WSDConfig(_Config):
    total_steps: int = Field(ge=1)
    peak_lr: float = Field(gt=0)
    warmup_steps: int | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, le=1)
    decay_steps: int | None = Field(None, ge=0)
    decay_fraction: float | None = Field(None, ge=0, le=1)
    initial_lr: float | None = Field(None, ge=0, description="default min_lr")
    min_lr: float = Field(0.0, ge=0)
    warmup_shape: Literal["linear", "cosine", "1-sqrt"] = "linear"
    decay_shape: Literal["linear", "cosine", "1-sqrt"] = "cosine"


class ConstantConfig(_Config):
    total_steps: int = Field(ge=1)
    lr: float = Field(ge=0)


class PhaseConfig(_Config):
    steps: int = Field(ge=1)
    peak_lr: float = Field(gt=0)
    warmup_steps: int | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, le=1)
    initial_lr: float | None = Field(None, ge=0, description="default: where the previous phase ended")
    min_lr: float | None = Field(None, ge=0)
    decay: Literal["cosine", "linear", "1-sqrt", "constant"] = "cosine"
    start: int | None = Field(None, ge=0, description="first step; must equal the previous phase's end")


class MultiPhaseConfig(_Config):
    phases: list[PhaseConfig] = Field(min_length=1)


class SegmentConfig(_Config):
    kind: Literal["constant", "warmup", "cosine", "linear", "1-sqrt", "inverse-sqrt"]
    steps: int = Field(ge=1)
    lr: float | None = Field(None, ge=0)
    start_lr: float | None = Field(None, ge=0)
    end_lr: float | None = Field(None, ge=0)
    shape: Literal["linear", "cosine", "1-sqrt"] | None = None
    cycles: float | None = Field(None, gt=0)
    timescale: int | None = Field(None, ge=1)


class SegmentsConfig(_Config):
    segments: list[SegmentConfig] = Field(min_length=1)


def _kw(cfg: BaseModel) -> dict[str, Any]:
    return cfg.model_dump(exclude_none=True)


def cosine(cfg: CosineConfig) -> S.Plan:
    d = cfg.model_dump()
    return S.cosine_with_warmup(d.pop("total_steps"), d.pop("peak_lr"), **d)


def linear(cfg: LinearConfig) -> S.Plan:
    d = cfg.model_dump()
    return S.linear_with_warmup(d.pop("total_steps"), d.pop("peak_lr"), **d)


def warmup_constant(cfg: WarmupConstantConfig) -> S.Plan:
    d = cfg.model_dump()
    return S.warmup_constant(d.pop("total_steps"), d.pop("peak_lr"), **d)


def inverse_sqrt(cfg: InverseSqrtConfig) -> S.Plan:
    d = cfg.model_dump()
    return S.inverse_sqrt(d.pop("total_steps"), d.pop("peak_lr"), **d)


def wsd(cfg: WSDConfig) -> S.Plan:
    d = cfg.model_dump()
    return S.wsd(d.pop("total_steps"), d.pop("peak_lr"), **d)


def constant(cfg: ConstantConfig) -> S.Plan:
    return S.constant(cfg.lr, cfg.total_steps)


def multi_phase(cfg: MultiPhaseConfig) -> S.Plan:
    return S.multi_phase([_kw(p) for p in cfg.phases])


def segments(cfg: SegmentsConfig) -> S.Plan:
    return S.segments([_kw(s) for s in cfg.segments])


def build_schedule(spec: Any, **defaults: Any) -> Any:
    """Build a schedule from a spec mapping ``{"name": ..., **options}`` (or return ``spec`` if it
    already has ``lr()`` and ``total_steps``). ``defaults`` fill options the spec leaves out
    (e.g. ``total_steps`` from a trainer's ``max_steps``) where the schedule accepts them.

    Raises:
        ConfigError: no ``name``, unknown schedule (lists the available ones), invalid options.
    """
    if hasattr(spec, "lr") and hasattr(spec, "total_steps"):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(f"a schedule spec must be a mapping with a 'name', got {type(spec).__name__}")
    opts = dict(spec)
    name = opts.pop("name", None)
    if not name:
        raise ConfigError("a schedule spec needs a 'name', e.g. name = \"cosine\" (see `hooklab list schedule`)")
    from hooklab.plugins import get_manager

    comp = get_manager().registry.lookup("schedule", name)
    model = comp.load_config()
    fields = getattr(model, "model_fields", {})
    for key, value in defaults.items():
        if value is not None and key not in opts and key in fields:
            opts[key] = value
    return comp.create(**opts)


def load_schedule(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                  **defaults: Any) -> Any:
    """Load a schedule from a TOML/YAML/JSON file (top level or its ``[schedule]`` table) and
    ``a.b=value`` overrides (keys relative to the schedule spec)."""
    from hooklab.config import apply_overrides, load_config

    data: dict[str, Any] = {}
    if path is not None:
        data = load_config(path)
        if isinstance(data.get("schedule"), dict):
            # a trainer config: its max_steps is the schedule's default length
            if isinstance(data.get("max_steps"), int):
                defaults.setdefault("total_steps", data["max_steps"])
            data = data["schedule"]
    data = apply_overrides(data, overrides)
    return build_schedule(data, **defaults)
