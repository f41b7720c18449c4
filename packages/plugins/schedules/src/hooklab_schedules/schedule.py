"""Learning-rate schedules as composable segments over optimizer steps.

A :class:`Plan` is a list of segments laid end to end; ``plan.lr(step)`` is the absolute learning
rate at optimizer step ``step`` (0-based). After the last segment the final value is held.
Nothing here imports torch: :func:`to_lambda_lr` imports it when called.

The formulas are the seed's (linear warmup ``initial_lr + step * (peak_lr - initial_lr) /
warmup_steps``, then ``min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress))``) and agree with
``transformers``' ``get_cosine_schedule_with_warmup``, ``get_linear_schedule_with_warmup``,
``get_inverse_sqrt_schedule`` and ``get_wsd_schedule`` where they overlap.

Example::

    from hooklab_schedules import cosine_with_warmup, multi_phase, to_lambda_lr
    plan = cosine_with_warmup(total_steps=1000, peak_lr=3e-4, warmup_fraction=0.05, initial_lr=3e-5)
    plan.lr(0), plan.lr(50), plan.lr(999)       # 3e-5, 3e-4, ~3e-6 (min_lr = 0.1 * initial_lr)
    two = multi_phase([{"steps": 500, "peak_lr": 3e-4, "warmup_steps": 50},
                       {"steps": 500, "peak_lr": 1e-4, "warmup_steps": 50}])   # re-warm, re-decay
    scheduler = to_lambda_lr(plan, optimizer)   # a torch LambdaLR; call scheduler.step() per step
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hooklab.errors import ConfigError

SHAPES = ("linear", "cosine", "1-sqrt")


def _check_nonneg(**values: float | None) -> None:
    for name, v in values.items():
        if v is not None and (v < 0 or (isinstance(v, float) and math.isnan(v))):
            raise ConfigError(f"{name} must be >= 0, got {v}")


def _check_shape(name: str, shape: str) -> None:
    if shape not in SHAPES:
        raise ConfigError(f"unknown {name} {shape!r}: use one of {', '.join(SHAPES)}")


# -- segments ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """``steps`` optimizer steps of a learning-rate curve; ``value(i)`` for ``0 <= i < steps``."""

    steps: int

    def value(self, i: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def end_lr(self) -> float:
        """The value the curve reaches at ``i == steps`` (held after the plan ends)."""
        raise NotImplementedError  # pragma: no cover

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"{self.kind} segment needs steps >= 1, got {self.steps!r}")


@dataclass(frozen=True)
class Constant(Segment):
    """A flat learning rate."""

    lr: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_nonneg(lr=self.lr)

    def value(self, i: int) -> float:
        return self.lr

    @property
    def end_lr(self) -> float:
        return self.lr


@dataclass(frozen=True)
class Warmup(Segment):
    """From ``start_lr`` up to ``end_lr``; ``linear`` is the seed's ``start + i * increment``."""

    start_lr: float = 0.0
    end_lr_: float = 0.0
    shape: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_nonneg(initial_lr=self.start_lr, peak_lr=self.end_lr_)
        _check_shape("warmup shape", self.shape)
        if self.start_lr > self.end_lr_:
            raise ConfigError(
                f"warmup goes down: initial_lr {self.start_lr} is above peak_lr {self.end_lr_}; "
                f"lower initial_lr or use a decay segment"
            )

    def value(self, i: int) -> float:
        if self.shape == "linear":
            return self.start_lr + i * ((self.end_lr_ - self.start_lr) / self.steps)
        p = i / self.steps
        f = 0.5 * (1.0 - math.cos(math.pi * p)) if self.shape == "cosine" else 1.0 - math.sqrt(1.0 - p)
        return self.start_lr + (self.end_lr_ - self.start_lr) * f

    @property
    def end_lr(self) -> float:
        return self.end_lr_


@dataclass(frozen=True)
class Decay(Segment):
    """From ``start_lr`` down to the floor ``end_lr``: ``cosine`` (half a cycle by default),
    ``linear`` or ``1-sqrt``."""

    start_lr: float = 0.0
    end_lr_: float = 0.0
    shape: str = "cosine"
    cycles: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_nonneg(peak_lr=self.start_lr, min_lr=self.end_lr_)
        _check_shape("decay shape", self.shape)
        if self.end_lr_ > self.start_lr:
            raise ConfigError(
                f"min_lr {self.end_lr_} is above peak_lr {self.start_lr}: the decay would go up; "
                f"set min_lr <= peak_lr"
            )

    def value(self, i: int) -> float:
        progress = i / self.steps
        lo, hi = self.end_lr_, self.start_lr
        if self.shape == "cosine":
            return lo + (hi - lo) * 0.5 * (1 + math.cos(math.pi * (2.0 * self.cycles) * progress))
        if self.shape == "linear":
            return hi + (lo - hi) * progress
        return lo + (hi - lo) * (1.0 - math.sqrt(progress))

    @property
    def end_lr(self) -> float:
        if self.shape == "cosine":
            return self.end_lr_ + (self.start_lr - self.end_lr_) * 0.5 * (
                1 + math.cos(math.pi * 2.0 * self.cycles)
            )
        return self.end_lr_


@dataclass(frozen=True)
class InverseSqrt(Segment):
    """``lr / sqrt((i + timescale) / timescale)``: the classic Transformer decay after warmup."""

    lr: float = 0.0
    timescale: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_nonneg(lr=self.lr)
        if self.timescale < 1:
            raise ConfigError(f"timescale must be >= 1, got {self.timescale}")

    def value(self, i: int) -> float:
        return self.lr * (1.0 / math.sqrt((i + self.timescale) / self.timescale))

    @property
    def end_lr(self) -> float:
        return self.value(self.steps)


# -- plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Segments laid end to end: ``lr(step)`` for any step, ``total_steps``, ``phase_starts``.

    Plans concatenate with ``+``; ``phase_starts`` marks where each re-warm phase begins (for plots).
    """

    segments: tuple[Segment, ...]
    phase_starts: tuple[int, ...] = (0,)
    name: str = "plan"
    _starts: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        segs = tuple(self.segments)
        if not segs:
            raise ConfigError("a schedule needs at least one segment")
        starts, pos = [], 0
        for s in segs:
            if not isinstance(s, Segment):
                raise ConfigError(f"not a schedule segment: {s!r}")
            starts.append(pos)
            pos += s.steps
        object.__setattr__(self, "segments", segs)
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def total_steps(self) -> int:
        """Number of optimizer steps the plan covers."""
        return self._starts[-1] + self.segments[-1].steps

    @property
    def peak_lr(self) -> float:
        """The highest learning rate anywhere on the curve."""
        best = 0.0
        for s in self.segments:
            best = max(best, s.value(0), s.end_lr)
        return best

    def lr(self, step: int) -> float:
        """The learning rate at optimizer step ``step`` (0-based); the final value after the end.

        Raises:
            ConfigError: ``step`` is negative.
        """
        if step < 0:
            raise ConfigError(f"step must be >= 0, got {step}")
        if step >= self.total_steps:
            return self.segments[-1].end_lr
        k = bisect.bisect_right(self._starts, step) - 1
        return self.segments[k].value(step - self._starts[k])

    __call__ = lr

    def lrs(self, steps: int | None = None) -> list[float]:
        """The learning rate at every step ``0 .. steps-1`` (default: the whole plan)."""
        return [self.lr(i) for i in range(self.total_steps if steps is None else steps)]

    def __add__(self, other: Plan) -> Plan:
        shift = self.total_steps
        return Plan(self.segments + other.segments,
                    self.phase_starts + tuple(s + shift for s in other.phase_starts),
                    name=f"{self.name}+{other.name}")

    def describe(self) -> list[dict[str, Any]]:
        """One row per segment: kind, first step, steps, LR at its start and end."""
        return [{"segment": s.kind, "start": st, "steps": s.steps, "lr_start": s.value(0),
                 "lr_end": s.end_lr} for s, st in zip(self.segments, self._starts, strict=True)]

    def table(self, rows: int = 21) -> str:
        """A text table of the curve: about ``rows`` evenly spaced steps plus every segment edge."""
        T = self.total_steps
        picks = {round(i * (T - 1) / max(1, rows - 1)) for i in range(rows)} | set(self._starts)
        picks |= {s - 1 for s in self._starts if s > 0}
        width = max(4, len(str(T)))
        lines = [f"{'step'.rjust(width)}  lr", f"{'-' * width}  {'-' * 12}"]
        lines += [f"{str(i).rjust(width)}  {self.lr(i):.6e}" for i in sorted(p for p in picks if 0 <= p < T)]
        return "\n".join(lines)

    def plot(self, path: str | None = None, *, title: str | None = None, ax: Any = None) -> Any:
        """Plot the curve (matplotlib, the ``plot`` extra); save a PNG when ``path`` is given.

        Returns the matplotlib ``Figure``.
        """
        try:
            import matplotlib

            if ax is None and path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError('plotting needs matplotlib: pip install "hooklab-schedules[plot]"') from exc
        T = self.total_steps
        xs = list(range(T))
        ys = self.lrs()
        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
        ax.plot(xs, ys, lw=1.8, color="#1f77b4")
        for i, s in enumerate(self.phase_starts):
            if i:
                ax.axvline(s, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.set_xlim(0, max(1, T - 1))
        ax.set_ylim(bottom=0)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        ax.grid(alpha=0.3)
        ax.set_title(title or f"{self.name}: {T} steps, peak {self.peak_lr:.3g}")
        fig = fig or ax.figure
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
            plt.close(fig)
        return fig


# -- builders ------------------------------------------------------------------------------------
def _warmup_steps(total: int, steps: int | None, fraction: float | None) -> int:
    if steps is not None and fraction is not None:
        raise ConfigError("give warmup_steps or warmup_fraction, not both")
    if fraction is not None:
        if not 0 <= fraction <= 1:
            raise ConfigError(f"warmup_fraction must be between 0 and 1, got {fraction}")
        steps = int(fraction * total)  # the seed: int(0.2 * total_steps)
    steps = steps or 0
    _check_nonneg(warmup_steps=steps)
    if steps > total:
        raise ConfigError(
            f"warmup ({steps} steps) is longer than the run ({total} steps): lower warmup_steps "
            f"or raise total_steps"
        )
    return steps


def _check_run(total_steps: int, peak_lr: float, initial_lr: float, min_lr: float) -> None:
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ConfigError(f"total_steps must be an integer >= 1, got {total_steps!r}")
    _check_nonneg(peak_lr=peak_lr, initial_lr=initial_lr, min_lr=min_lr)
    if peak_lr <= 0:
        raise ConfigError(f"peak_lr must be > 0, got {peak_lr}")
    if min_lr > peak_lr:
        raise ConfigError(f"min_lr {min_lr} is above peak_lr {peak_lr}: set min_lr <= peak_lr")
    if initial_lr > peak_lr:
        raise ConfigError(f"initial_lr {initial_lr} is above peak_lr {peak_lr}: set initial_lr <= peak_lr")


def _with_warmup(warm: int, initial_lr: float, peak_lr: float, rest: list[Segment],
                 shape: str = "linear") -> list[Segment]:
    head: list[Segment] = [Warmup(warm, initial_lr, peak_lr, shape)] if warm else []
    return head + rest


def constant(lr: float, total_steps: int) -> Plan:
    """A flat learning rate for ``total_steps``."""
    return Plan((Constant(total_steps, lr),), name="constant")


def warmup_constant(total_steps: int, peak_lr: float, *, warmup_steps: int | None = None,
                    warmup_fraction: float | None = None, initial_lr: float = 0.0) -> Plan:
    """The seed's first loop: linear warmup from ``initial_lr`` to ``peak_lr``, then flat."""
    _check_run(total_steps, peak_lr, initial_lr, 0.0)
    w = _warmup_steps(total_steps, warmup_steps, warmup_fraction)
    rest = [Constant(total_steps - w, peak_lr)] if total_steps > w else []
    return Plan(tuple(_with_warmup(w, initial_lr, peak_lr, rest)), name="warmup-constant")


def cosine_with_warmup(total_steps: int, peak_lr: float, *, warmup_steps: int | None = None,
                       warmup_fraction: float | None = None, initial_lr: float = 0.0,
                       min_lr: float | None = None, cycles: float = 0.5) -> Plan:
    """Linear warmup then cosine decay to ``min_lr`` (default the seed's ``0.1 * initial_lr``).

    Equal to the seed's loop and, with ``initial_lr=min_lr=0``, to ``transformers``'
    ``get_cosine_schedule_with_warmup`` times ``peak_lr``.

    Raises:
        ConfigError: warmup longer than the run, ``min_lr`` above ``peak_lr``, negative values.
    """
    floor = 0.1 * initial_lr if min_lr is None else min_lr
    _check_run(total_steps, peak_lr, initial_lr, floor)
    w = _warmup_steps(total_steps, warmup_steps, warmup_fraction)
    rest = [Decay(total_steps - w, peak_lr, floor, "cosine", cycles)] if total_steps > w else []
    return Plan(tuple(_with_warmup(w, initial_lr, peak_lr, rest)), name="cosine")


def linear_with_warmup(total_steps: int, peak_lr: float, *, warmup_steps: int | None = None,
                       warmup_fraction: float | None = None, initial_lr: float = 0.0,
                       min_lr: float = 0.0) -> Plan:
    """Linear warmup then linear decay to ``min_lr`` (``get_linear_schedule_with_warmup``)."""
    _check_run(total_steps, peak_lr, initial_lr, min_lr)
    w = _warmup_steps(total_steps, warmup_steps, warmup_fraction)
    rest = [Decay(total_steps - w, peak_lr, min_lr, "linear")] if total_steps > w else []
    return Plan(tuple(_with_warmup(w, initial_lr, peak_lr, rest)), name="linear")


def inverse_sqrt(total_steps: int, peak_lr: float, *, warmup_steps: int | None = None,
                 warmup_fraction: float | None = None, initial_lr: float = 0.0,
                 timescale: int | None = None) -> Plan:
    """Linear warmup then ``peak_lr / sqrt((step - warmup + timescale) / timescale)``; the default
    ``timescale`` is ``warmup_steps`` or 10,000 (as ``get_inverse_sqrt_schedule``)."""
    _check_run(total_steps, peak_lr, initial_lr, 0.0)
    w = _warmup_steps(total_steps, warmup_steps, warmup_fraction)
    ts = timescale if timescale is not None else (w or 10_000)
    rest = [InverseSqrt(total_steps - w, peak_lr, ts)] if total_steps > w else []
    return Plan(tuple(_with_warmup(w, initial_lr, peak_lr, rest)), name="inverse-sqrt")


def wsd(total_steps: int, peak_lr: float, *, warmup_steps: int | None = None,
        warmup_fraction: float | None = None, decay_steps: int | None = None,
        decay_fraction: float | None = None, initial_lr: float | None = None, min_lr: float = 0.0,
        warmup_shape: str = "linear", decay_shape: str = "cosine") -> Plan:
    """Warmup-stable-decay: warmup, a flat stretch at ``peak_lr``, then a decay to ``min_lr`` over
    the last ``decay_steps``. ``initial_lr`` defaults to ``min_lr`` (as ``get_wsd_schedule``)."""
    start = min_lr if initial_lr is None else initial_lr
    _check_run(total_steps, peak_lr, start, min_lr)
    _check_shape("warmup_shape", warmup_shape)
    _check_shape("decay_shape", decay_shape)
    w = _warmup_steps(total_steps, warmup_steps, warmup_fraction)
    if decay_steps is not None and decay_fraction is not None:
        raise ConfigError("give decay_steps or decay_fraction, not both")
    if decay_fraction is not None:
        if not 0 <= decay_fraction <= 1:
            raise ConfigError(f"decay_fraction must be between 0 and 1, got {decay_fraction}")
        decay_steps = int(decay_fraction * total_steps)
    if decay_steps is None:
        raise ConfigError("wsd needs decay_steps or decay_fraction (e.g. decay_fraction=0.1)")
    _check_nonneg(decay_steps=decay_steps)
    if w + decay_steps > total_steps:
        raise ConfigError(
            f"warmup ({w}) + decay ({decay_steps}) steps are longer than the run ({total_steps} "
            f"steps): shorten them or raise total_steps"
        )
    rest: list[Segment] = []
    if total_steps - w - decay_steps:
        rest.append(Constant(total_steps - w - decay_steps, peak_lr))
    if decay_steps:
        rest.append(Decay(decay_steps, peak_lr, min_lr, decay_shape))
    return Plan(tuple(_with_warmup(w, start, peak_lr, rest, warmup_shape)), name="wsd")


_PHASE_KEYS = {"steps", "peak_lr", "warmup_steps", "warmup_fraction", "initial_lr", "min_lr",
               "decay", "start"}


def multi_phase(phases: Sequence[Mapping[str, Any]]) -> Plan:
    """One warmup + decay per phase (per dataset): "repeat the warmup and decay".

    Each phase is a mapping with ``steps``, ``peak_lr`` and optionally ``warmup_steps`` /
    ``warmup_fraction``, ``initial_lr`` (default: where the previous phase ended, 0 for the first),
    ``min_lr`` (default ``0.1 * initial_lr``), ``decay`` (``cosine``, ``linear``, ``1-sqrt``,
    ``constant``) and ``start`` (the step where it begins; it must equal the previous phase's end).

    Raises:
        ConfigError: phases overlap or leave a gap, or any phase is invalid (message names it).
    """
    if not phases:
        raise ConfigError("multi-phase schedule needs at least one phase")
    plan: Plan | None = None
    prev_end_lr = 0.0
    for n, raw in enumerate(phases, 1):
        ph = dict(raw)
        unknown_keys = set(ph) - _PHASE_KEYS
        if unknown_keys:
            raise ConfigError(f"phase {n}: unknown option(s) {', '.join(sorted(unknown_keys))}; "
                              f"use {', '.join(sorted(_PHASE_KEYS))}")
        here = 0 if plan is None else plan.total_steps
        start = ph.pop("start", None)
        if start is not None and start != here:
            prev = f"phase {n - 1} runs to step {here}" if plan is not None else "the plan starts at 0"
            what = "overlap" if start < here else "leave a gap"
            raise ConfigError(f"phase {n} starts at step {start} but {prev}: phases {what}; "
                              f"set start={here} or drop it")
        if "steps" not in ph or "peak_lr" not in ph:
            raise ConfigError(f"phase {n} needs steps and peak_lr")
        decay = ph.pop("decay", "cosine")
        init = ph.pop("initial_lr", None)
        init = (prev_end_lr if plan is not None else 0.0) if init is None else init
        init = min(init, ph["peak_lr"]) if init == prev_end_lr and plan is not None else init
        try:
            if decay == "cosine":
                p = cosine_with_warmup(ph.pop("steps"), ph.pop("peak_lr"), initial_lr=init, **ph)
            elif decay == "linear":
                p = linear_with_warmup(ph.pop("steps"), ph.pop("peak_lr"), initial_lr=init,
                                       min_lr=ph.pop("min_lr", 0.1 * init), **ph)
            elif decay == "1-sqrt":
                total, peak = ph.pop("steps"), ph.pop("peak_lr")
                floor = ph.pop("min_lr", 0.1 * init)
                w = _warmup_steps(total, ph.pop("warmup_steps", None), ph.pop("warmup_fraction", None))
                _check_run(total, peak, init, floor)
                rest = [Decay(total - w, peak, floor, "1-sqrt")] if total > w else []
                p = Plan(tuple(_with_warmup(w, init, peak, rest)))
            elif decay == "constant":
                ph.pop("min_lr", None)
                p = warmup_constant(ph.pop("steps"), ph.pop("peak_lr"), initial_lr=init, **ph)
            else:
                raise ConfigError(f"unknown decay {decay!r}: use cosine, linear, 1-sqrt or constant")
        except ConfigError as exc:
            raise ConfigError(f"phase {n}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"phase {n}: {exc}") from None
        prev_end_lr = p.segments[-1].end_lr
        plan = p if plan is None else plan + p
    assert plan is not None
    return Plan(plan.segments, plan.phase_starts, name=f"{len(phases)}-phase")


def segments(items: Iterable[Mapping[str, Any]]) -> Plan:
    """A plan from segment mappings: ``{"kind": "warmup"|"constant"|"cosine"|"linear"|"1-sqrt"|
    "inverse-sqrt", "steps": N, ...}`` with ``start_lr``/``end_lr`` (or ``lr`` for constant and
    inverse-sqrt, plus ``timescale``)."""
    out: list[Segment] = []
    for n, raw in enumerate(items, 1):
        d = dict(raw)
        kind = d.pop("kind", None)
        try:
            if kind == "constant":
                out.append(Constant(d.pop("steps"), d.pop("lr")))
            elif kind == "warmup":
                out.append(Warmup(d.pop("steps"), d.pop("start_lr", 0.0), d.pop("end_lr"),
                                  d.pop("shape", "linear")))
            elif kind in {"cosine", "linear", "1-sqrt"}:
                out.append(Decay(d.pop("steps"), d.pop("start_lr"), d.pop("end_lr", 0.0), kind,
                                 d.pop("cycles", 0.5)))
            elif kind == "inverse-sqrt":
                out.append(InverseSqrt(d.pop("steps"), d.pop("lr"), d.pop("timescale", 10_000)))
            else:
                raise ConfigError(f"unknown kind {kind!r}: use constant, warmup, cosine, linear, "
                                  f"1-sqrt or inverse-sqrt")
        except KeyError as exc:
            raise ConfigError(f"segment {n} ({kind}): missing {exc.args[0]!r}") from None
        except ConfigError as exc:
            raise ConfigError(f"segment {n}: {exc}") from None
        if d:
            raise ConfigError(f"segment {n} ({kind}): unknown option(s) {', '.join(sorted(d))}")
    return Plan(tuple(out), name="segments")


# -- torch / Trainer -----------------------------------------------------------------------------
def to_lambda_lr(schedule: Any, optimizer: Any, *, relative: bool = False, last_epoch: int = -1) -> Any:
    """A ``torch.optim.lr_scheduler.LambdaLR`` that follows ``schedule`` (call ``.step()`` after
    each optimizer step).

    By default every parameter group gets the schedule's absolute learning rate (their ``lr`` is
    overwritten). With ``relative=True`` each group keeps its own ``lr`` as its peak and follows
    the curve's shape (``lr_group * schedule.lr(step) / schedule.peak_lr``).

    Returns the scheduler; its ``state_dict()`` holds only the step, so it saves with
    ``torch.save`` and loads with ``weights_only=True``.
    """
    from torch.optim.lr_scheduler import LambdaLR

    peak = float(schedule.peak_lr)
    if peak <= 0:
        raise ConfigError("the schedule's peak learning rate must be > 0")
    lr = schedule.lr
    if last_epoch == -1:
        for group in optimizer.param_groups:
            if not relative:
                group["lr"] = peak
            group.pop("initial_lr", None)

    def factor(step: int) -> float:
        return lr(step) / peak

    return LambdaLR(optimizer, factor, last_epoch=last_epoch)


def make_scheduler(schedule: Any, *, relative: bool = False) -> Callable[[Any], Any]:
    """A function ``optimizer -> LambdaLR`` (for code that builds the optimizer later)."""

    def build(optimizer: Any) -> Any:
        return to_lambda_lr(schedule, optimizer, relative=relative)

    return build


def hf_optimizers(model: Any, schedule: Any, *, weight_decay: float = 0.0, **adamw: Any) -> tuple[Any, Any]:
    """``(AdamW, LambdaLR)`` for ``transformers.Trainer(optimizers=...)`` and TRL trainers.

    The trainer steps the scheduler once per optimizer step, so ``schedule.total_steps`` should
    equal the trainer's ``max_steps``. Biases and norm weights get no weight decay.
    """
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=schedule.peak_lr, **adamw)
    return optimizer, to_lambda_lr(schedule, optimizer)
