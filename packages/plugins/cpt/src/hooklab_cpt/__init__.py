"""hooklab-cpt: continued pretraining with replay.

* :class:`ReplayMixer` (source ``replay-mix``): new data plus a fraction of old data, streamed,
  deterministic, packed into blocks.
* :func:`train` / :class:`CPTTrainer` (trainer ``cpt``): AdamW + a hooklab schedule + clipping,
  accumulation, checkpoints with exact resume, ``accelerate launch``.
* :class:`ForgettingReport`: held-out loss / perplexity on old and new data before and after.

Importing this package does not import torch (the trainer imports it when it runs).
"""

from __future__ import annotations

from hooklab_cpt.mixer import (
    PRESETS,
    DataConfig,
    ReplayMixConfig,
    ReplayMixer,
    iter_documents,
    pack,
)
from hooklab_cpt.report import EvalPoint, ForgettingReport
from hooklab_cpt.trainer import (
    CPTConfig,
    CPTResult,
    CPTTrainer,
    EvalConfig,
    evaluate,
    latest_checkpoint,
    train,
)

__all__ = [
    "PRESETS", "CPTConfig", "CPTResult", "CPTTrainer", "DataConfig", "EvalConfig", "EvalPoint",
    "ForgettingReport", "ReplayMixConfig", "ReplayMixer", "evaluate", "iter_documents",
    "latest_checkpoint", "pack", "train",
]
