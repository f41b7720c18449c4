"""Checks and filters on preference samples (rows with ``prompt``, ``chosen``, ``rejected``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Row = dict[str, Any]
_WS = re.compile(r"\s+")


class FilterConfig(BaseModel):
    """The filters, seed defaults. Each runs in the order of the fields."""

    model_config = ConfigDict(extra="forbid")
    verbatim: str = Field("drop", pattern="^(drop|flag|off)$",
                          description="extracted answer not verbatim in its chunk: drop the "
                                      "sample, flag it (column 'verbatim'), or don't check")
    min_length: int = Field(100, ge=0, description="chosen answer at least this many characters")
    starts_uppercase: bool = Field(True, description="chosen answer starts with an uppercase letter")
    end_chars: str = Field(".!?", description="chosen answer ends with one of these ('' = any)")
    dedupe: bool = Field(True, description="drop repeated (prompt, chosen) pairs")


def is_verbatim(extract: str, chunk: str) -> bool:
    """True when ``extract`` occurs in ``chunk`` exactly, or with only whitespace differing."""
    if extract in chunk:
        return True
    return _WS.sub(" ", extract).strip() in _WS.sub(" ", chunk)


def long_enough(row: Row, min_length: int = 100) -> bool:
    """The seed's ``filter_short_answers``: ``chosen`` has at least ``min_length`` characters."""
    return len(row["chosen"]) >= min_length


def good_format(row: Row, starts_uppercase: bool = True, end_chars: str = ".!?") -> bool:
    """The seed's ``filter_answer_format``: ``chosen`` is non-empty, starts uppercase and ends
    with one of ``end_chars``."""
    chosen = row["chosen"]
    if not chosen:
        return False
    if starts_uppercase and not chosen[0].isupper():
        return False
    return not end_chars or chosen[-1] in end_chars


def dedupe(rows: Iterable[Row]) -> list[Row]:
    """Keep the first of rows with the same prompt and chosen answer (case and spacing ignored)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        key = (_WS.sub(" ", row["prompt"]).strip().lower(), _WS.sub(" ", row["chosen"]).strip().lower())
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def apply_filters(rows: list[Row], cfg: FilterConfig) -> tuple[list[Row], dict[str, int]]:
    """Run the configured filters in order. Returns the kept rows and the number of samples
    after each step: ``{"generated": N, "verbatim": N, "min_length": N, "format": N, "dedupe": N}``
    (a step that is off keeps everything). Rows need a ``chunk`` key for the verbatim check."""
    counts = {"generated": len(rows)}
    steps: list[tuple[str, Callable[[list[Row]], list[Row]]]] = []
    if cfg.verbatim == "drop":
        steps.append(("verbatim", lambda rs: [r for r in rs if r["verbatim"]]))
    else:
        steps.append(("verbatim", lambda rs: rs))
    steps.append(("min_length", lambda rs: [r for r in rs if long_enough(r, cfg.min_length)]))
    steps.append(("format", lambda rs: [r for r in rs if good_format(r, cfg.starts_uppercase, cfg.end_chars)]))
    steps.append(("dedupe", dedupe if cfg.dedupe else (lambda rs: rs)))
    for name, step in steps:
        rows = step(rows)
        counts[name] = len(rows)
    return rows, counts
