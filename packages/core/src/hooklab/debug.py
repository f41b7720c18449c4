"""Debug and profile helpers built on :mod:`hooklab.hooks`: what flows through each module, and
how long each module takes.

Example::

    from hooklab.debug import log_activations, time_modules

    with log_activations(model, "layers.*") as log:
        model(ids)
    print(log)                 # name, shape, dtype, norm, mean, max|x| per call
    log.to_pandas()

    with time_modules(model, "layers.*.{attn,mlp}") as times:
        model(ids)
    print(times)               # calls, total and mean milliseconds per module, slowest first

Both remove their hooks on exit. ``spec`` takes hook point names, globs and module paths;
``spec=None`` means every submodule of the model (works on any ``nn.Module``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from hooklab.hooks import Hooks, main_tensor
from hooklab.models import HookPoint


@dataclass(frozen=True)
class ActivationRecord:
    """What one module produced in one call."""

    call: int
    name: str
    path: str
    shape: tuple[int, ...]
    dtype: str
    norm: float
    mean: float
    absmax: float
    nonfinite: int


@dataclass
class ActivationLog:
    """The records of :func:`log_activations`, in call order."""

    records: list[ActivationRecord] = field(default_factory=list)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.records])

    def __str__(self) -> str:
        lines = [f"{'name':<28} {'shape':<18} {'dtype':<9} {'norm':>10} {'mean':>10} {'max|x|':>10}"]
        for r in self.records:
            flag = f"  {r.nonfinite} non-finite!" if r.nonfinite else ""
            lines.append(f"{r.name:<28} {list(r.shape)!s:<18} {r.dtype:<9} {r.norm:>10.4g} "
                         f"{r.mean:>10.4g} {r.absmax:>10.4g}{flag}")
        return "\n".join(lines)


def _all_modules(model: Any) -> list[HookPoint]:
    return [HookPoint(p, p, m) for p, m in model.named_modules() if p]


@contextmanager
def log_activations(model: Any, spec: Any = None, *, printer: Any = None) -> Iterator[ActivationLog]:
    """Log shape, dtype, L2 norm, mean, max |x| and the count of NaN/inf of each module's output.

    ``printer`` (e.g. ``print`` or ``logger.info``) is also called with one line per record.
    Yields an :class:`ActivationLog`.
    """
    import torch

    log = ActivationLog()
    calls = [0]

    def record(act: Any, hp: HookPoint) -> None:
        if not isinstance(act, torch.Tensor):
            return
        with torch.no_grad():
            x = act.detach()
            xf = x.float() if x.is_floating_point() else x.double()
            rec = ActivationRecord(
                call=calls[0], name=hp.name, path=hp.path, shape=tuple(x.shape), dtype=str(x.dtype).replace("torch.", ""),
                norm=float(xf.norm()), mean=float(xf.mean()) if xf.numel() else 0.0,
                absmax=float(xf.abs().max()) if xf.numel() else 0.0,
                nonfinite=int((~torch.isfinite(xf)).sum()),
            )
        calls[0] += 1
        log.records.append(rec)
        if printer is not None:
            printer(f"{rec.name} {list(rec.shape)} {rec.dtype} norm={rec.norm:.4g} mean={rec.mean:.4g}")

    with Hooks(model, owner="log_activations") as h:
        h.forward(_all_modules(model) if spec is None else spec, record)
        yield log


@dataclass
class ModuleTime:
    """Wall time spent in one module (inclusive of its children)."""

    name: str
    path: str
    calls: int = 0
    total_s: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 1000 * self.total_s / self.calls if self.calls else 0.0


@dataclass
class ModuleTimes:
    """The result of :func:`time_modules`: ``{name: ModuleTime}``."""

    times: dict[str, ModuleTime] = field(default_factory=dict)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"name": t.name, "path": t.path, "calls": t.calls, "total_ms": 1000 * t.total_s,
                              "mean_ms": t.mean_ms} for t in self.times.values()])

    def __str__(self) -> str:
        rows = sorted(self.times.values(), key=lambda t: -t.total_s)
        lines = [f"{'name':<28} {'calls':>6} {'total ms':>10} {'mean ms':>10}"]
        lines += [f"{t.name:<28} {t.calls:>6} {1000 * t.total_s:>10.3f} {t.mean_ms:>10.3f}" for t in rows]
        return "\n".join(lines)


@contextmanager
def time_modules(model: Any, spec: Any = None, *, sync: bool = True) -> Iterator[ModuleTimes]:
    """Time each module's forward (wall clock, children included).

    On CUDA, ``sync=True`` synchronizes before reading the clock so that times are real, at the
    cost of serializing the GPU. Yields :class:`ModuleTimes`.
    """
    import torch

    times = ModuleTimes()
    starts: dict[str, list[float]] = {}
    do_sync = sync and torch.cuda.is_available()

    def start(module: Any, args: Any, kwargs: Any, hp: HookPoint) -> None:
        if do_sync:
            torch.cuda.synchronize()
        starts.setdefault(hp.name, []).append(time.perf_counter())

    def stop(module: Any, args: Any, output: Any, hp: HookPoint) -> None:
        if do_sync:
            torch.cuda.synchronize()
        stack = starts.get(hp.name)
        if not stack:
            return
        t = times.times.setdefault(hp.name, ModuleTime(hp.name, hp.path))
        t.calls += 1
        t.total_s += time.perf_counter() - stack.pop()

    with Hooks(model, owner="time_modules") as h:
        points = _all_modules(model) if spec is None else h.points(spec)
        for hp in points:
            # both hooks on the module itself, also for input points (time the whole block)
            module_point = HookPoint(hp.name, hp.path, hp.module, "output", hp.layer)
            h.forward_pre(module_point, lambda m, a, k, _hp=hp: start(m, a, k, _hp), raw=True)
            h.forward(module_point, lambda m, a, o, _hp=hp: stop(m, a, o, _hp), raw=True)
        yield times


__all__ = ["ActivationLog", "ActivationRecord", "ModuleTime", "ModuleTimes", "log_activations",
           "main_tensor", "time_modules"]
