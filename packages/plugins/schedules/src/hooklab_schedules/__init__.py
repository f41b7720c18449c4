"""hooklab-schedules: learning-rate schedules as composable segments.

Example::

    from hooklab_schedules import cosine_with_warmup, to_lambda_lr
    plan = cosine_with_warmup(total_steps=1000, peak_lr=3e-4, warmup_fraction=0.05)
    scheduler = to_lambda_lr(plan, optimizer)        # torch LambdaLR
    # or for transformers.Trainer / TRL:  optimizers=hf_optimizers(model, plan)

Importing this package imports neither torch nor matplotlib.
"""

from __future__ import annotations

from hooklab_schedules.configs import build_schedule, load_schedule
from hooklab_schedules.schedule import (
    Constant,
    Decay,
    InverseSqrt,
    Plan,
    Segment,
    Warmup,
    constant,
    cosine_with_warmup,
    hf_optimizers,
    inverse_sqrt,
    linear_with_warmup,
    make_scheduler,
    multi_phase,
    segments,
    to_lambda_lr,
    warmup_constant,
    wsd,
)

__all__ = [
    "Constant", "Decay", "InverseSqrt", "Plan", "Segment", "Warmup", "build_schedule", "constant",
    "cosine_with_warmup", "hf_optimizers", "inverse_sqrt", "linear_with_warmup", "load_schedule",
    "make_scheduler", "multi_phase", "segments", "to_lambda_lr", "warmup_constant", "wsd",
]
