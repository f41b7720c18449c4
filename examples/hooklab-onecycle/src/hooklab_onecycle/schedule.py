"""The one-cycle policy, written to match ``torch.optim.lr_scheduler.OneCycleLR`` exactly."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OneCycleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total_steps: int = Field(ge=2)
    max_lr: float = Field(gt=0)
    pct_start: float = Field(0.3, gt=0, lt=1, description="fraction of the run spent increasing")
    div_factor: float = Field(25.0, gt=0, description="initial_lr = max_lr / div_factor")
    final_div_factor: float = Field(1e4, gt=0, description="min_lr = initial_lr / final_div_factor")

    @model_validator(mode="after")
    def _phases(self) -> OneCycleConfig:
        if self.pct_start * self.total_steps - 1 <= 0:
            raise ValueError("pct_start * total_steps must exceed 1 step (the warm-up phase is empty)")
        return self


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class OneCycle:
    """``lr(step)`` for steps ``0 .. total_steps - 1``; later steps stay at the final LR."""

    def __init__(self, cfg: OneCycleConfig) -> None:
        self.cfg = cfg
        self.total_steps = cfg.total_steps
        self.initial_lr = cfg.max_lr / cfg.div_factor
        self.min_lr = self.initial_lr / cfg.final_div_factor
        self._end_up = float(cfg.pct_start * cfg.total_steps) - 1
        self._end_down = float(cfg.total_steps - 1)

    def lr(self, step: int) -> float:
        step = min(max(step, 0), self.total_steps - 1)
        if step <= self._end_up:
            return _cos(self.initial_lr, self.cfg.max_lr, step / self._end_up)
        pct = (step - self._end_up) / (self._end_down - self._end_up)
        return _cos(self.cfg.max_lr, self.min_lr, pct)

    def lrs(self) -> list[float]:
        return [self.lr(s) for s in range(self.total_steps)]

    def table(self, rows: int = 21) -> str:
        """The curve as a text table (``hooklab schedule plot`` prints it)."""
        n = self.total_steps
        steps = sorted({round(i * (n - 1) / max(rows - 1, 1)) for i in range(rows)})
        return "\n".join(["  step  lr"] + [f"{s:6d}  {self.lr(s):.6g}" for s in steps])

    def plot(self, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(range(self.total_steps), self.lrs())
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title("one-cycle")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return Path(path)
