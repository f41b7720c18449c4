"""The forgetting report: held-out loss and perplexity on the old data D1 and the new data D2,
before continued pretraining, at checkpoints, and after.

Example::

    from hooklab_cpt import ForgettingReport
    rep = ForgettingReport.load("runs/cpt")          # a run directory or its report.json
    print(rep.table())
    rep.plot("forgetting.png"); rep.to_pandas(); rep.summary()
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import DataError

REPORT_FILE = "report.json"


@dataclass
class EvalPoint:
    """Held-out losses at one optimizer step (``label``: before, checkpoint, after)."""

    step: int
    label: str
    old_loss: float | None = None
    new_loss: float | None = None
    old_tokens: int = 0
    new_tokens: int = 0

    @property
    def old_ppl(self) -> float | None:
        return None if self.old_loss is None else math.exp(min(self.old_loss, 700))

    @property
    def new_ppl(self) -> float | None:
        return None if self.new_loss is None else math.exp(min(self.new_loss, 700))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "old_ppl": self.old_ppl, "new_ppl": self.new_ppl}


@dataclass
class ForgettingReport:
    """Evaluation points of a continued-pretraining run, ordered by step."""

    points: list[EvalPoint] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, point: EvalPoint) -> None:
        self.points = [p for p in self.points if p.step != point.step or p.label != point.label]
        self.points.append(point)
        self.points.sort(key=lambda p: (p.step, p.label != "before"))

    def truncate(self, step: int) -> None:
        """Forget points after ``step`` (a resumed run recomputes them)."""
        self.points = [p for p in self.points if p.step <= step]

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "points": [p.to_dict() for p in self.points], "summary": self.summary()}

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (a directory gets ``report.json``); returns the file."""
        p = Path(path)
        if p.is_dir():
            p = p / REPORT_FILE
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> ForgettingReport:
        """Read a report from a run directory or a ``report.json``.

        Raises:
            DataError: no report there, or it is not a report.
        """
        p = Path(path)
        if p.is_dir():
            p = p / REPORT_FILE
        if not p.is_file():
            raise DataError(f"no forgetting report at {p}: run `hooklab cpt --config ...` with "
                            f"[eval] old/new held-out data first")
        try:
            data = json.loads(p.read_text())
            keys = {"step", "label", "old_loss", "new_loss", "old_tokens", "new_tokens"}
            points = [EvalPoint(**{k: v for k, v in d.items() if k in keys}) for d in data["points"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{p} is not a forgetting report: {exc}") from None
        return cls(points, data.get("meta", {}))

    # -- views ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Before/after losses and their change on D1 (forgetting) and D2 (learning)."""
        if not self.points:
            return {}
        first, last = self.points[0], self.points[-1]

        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        return {"before_step": first.step, "after_step": last.step,
                "old_loss_before": first.old_loss, "old_loss_after": last.old_loss,
                "old_loss_change": delta(first.old_loss, last.old_loss),
                "new_loss_before": first.new_loss, "new_loss_after": last.new_loss,
                "new_loss_change": delta(first.new_loss, last.new_loss)}

    def to_pandas(self) -> Any:
        """One row per evaluation point: step, label, old/new loss and perplexity."""
        import pandas as pd

        return pd.DataFrame([p.to_dict() for p in self.points])

    def table(self) -> str:
        """A text table of the points."""
        def f(x: float | None, fmt: str = ".4f") -> str:
            return "-" if x is None else format(x, fmt)

        head = f"{'step':>7}  {'point':<10}  {'D1 loss':>9}  {'D1 ppl':>9}  {'D2 loss':>9}  {'D2 ppl':>9}"
        rows = [head, "-" * len(head)]
        for p in self.points:
            rows.append(f"{p.step:>7}  {p.label:<10}  {f(p.old_loss):>9}  {f(p.old_ppl, '.2f'):>9}  "
                        f"{f(p.new_loss):>9}  {f(p.new_ppl, '.2f'):>9}")
        s = self.summary()
        if s.get("old_loss_change") is not None or s.get("new_loss_change") is not None:
            rows.append(f"change: D1 loss {f(s['old_loss_change'], '+.4f')} (old data; > 0 = forgetting), "
                        f"D2 loss {f(s['new_loss_change'], '+.4f')} (new data)")
        return "\n".join(rows)

    def plot(self, path: str | Path | None = None) -> Any:
        """Held-out loss on D1 and D2 against the step; saves a PNG when ``path`` is given.

        Returns the matplotlib ``Figure``.
        """
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if not self.points:
            raise DataError("the report has no evaluation points to plot")
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        steps = [p.step for p in self.points]
        for attr, label, color in (("old_loss", "D1 (old data) held-out", "#d62728"),
                                   ("new_loss", "D2 (new data) held-out", "#1f77b4")):
            ys = [getattr(p, attr) for p in self.points]
            if any(y is not None for y in ys):
                xs = [s for s, y in zip(steps, ys, strict=True) if y is not None]
                ax.plot(xs, [y for y in ys if y is not None], marker="o", color=color, label=label)
        ax.set_xlabel("optimizer step of continued pretraining")
        ax.set_ylabel("cross-entropy loss (nats / token)")
        title = self.meta.get("title") or "Forgetting report"
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
            plt.close(fig)
        return fig
