"""The lens probe's options (pydantic; importing this module imports no torch)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LensConfig(BaseModel):
    """Options of the ``lens`` probe (``hooklab.get("probe", "lens", **options)``).

    ``points``: ``"resid"``, ``"attn"``, ``"mlp"``, a comma-separated mix, or a list of hook-point
    names. ``targets``: tokens (strings or ids) whose rank/probability is reported instead of the
    actual next token. ``memory_budget``: bytes (or ``"512MB"``) the chunked unembedding may use at
    once; ``None`` picks 256 MB on CPU, up to 2 GB on CUDA.
    """

    model_config = ConfigDict(extra="forbid")

    points: str | list[str] = "resid"
    topk: int = Field(5, ge=1, le=1000)
    targets: str | int | list[str | int] | None = None
    positions: int | list[int] | None = None
    memory_budget: int | str | None = None
    truncate: bool = False
    fused: bool = False
