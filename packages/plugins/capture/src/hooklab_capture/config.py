"""The capture probe's configuration (pydantic; no heavy imports)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CaptureConfig(BaseModel):
    """Options of :class:`hooklab_capture.probe.CaptureProbe` and of ``hooklab capture``."""

    model_config = ConfigDict(extra="forbid")

    points: list[str] = Field(default_factory=lambda: ["layers.*"], description="hook point specs")
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(512, ge=1, description="texts are truncated to this many tokens")
    dtype: Literal["float16", "float32"] | None = Field(
        None, description="storage dtype of the activations (default: the model's, float32 if other)")
    out: str | None = Field(None, description="folder for Parquet shards; None captures in memory")
    shard_texts: int = Field(256, ge=1, description="texts per Parquet shard")
    overwrite: bool = False
    text_field: str = "text"
