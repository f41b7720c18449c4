"""The ``capture`` probe: ``hooklab.get("probe", "capture", points=[...]).run(model, texts, tokenizer=tok)``."""

from __future__ import annotations

from typing import Any

from hooklab_capture.capture import Activations, CaptureRun, capture
from hooklab_capture.config import CaptureConfig


class CaptureProbe:
    """Capture activations with the options of a :class:`CaptureConfig`.

    ``run(model, inputs, tokenizer=...)`` returns :class:`Activations` (in memory) or, when the
    config has ``out``, a :class:`CaptureRun`; both have ``to_pandas()``.
    """

    def __init__(self, config: CaptureConfig | None = None) -> None:
        self.config = config or CaptureConfig()

    def run(self, model: Any, inputs: Any, *, tokenizer: Any = None, **kwargs: Any) -> Activations | CaptureRun:
        from hooklab.errors import ConfigError

        if tokenizer is None:
            raise ConfigError("the capture probe needs tokenizer=...: run(model, texts, tokenizer=tok)")
        c = self.config
        return capture(model, tokenizer, inputs, c.points, out=c.out, batch_size=c.batch_size,
                       max_length=c.max_length, dtype=c.dtype, shard_texts=c.shard_texts,
                       overwrite=c.overwrite, text_field=c.text_field, **kwargs)
