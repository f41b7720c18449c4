"""Parse an LLM's answer into preference triples, with validation.

The seed's ``PreferenceSet.from_json`` trusted the answer: one missing key or a sentence of prose
before the JSON dropped a whole batch. :func:`parse_triples` keeps every valid triple and says
what was wrong with the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hooklab.llm import extract_json

KEYS = ("instruction", "generated_answer", "extracted_answer")


@dataclass(frozen=True)
class Triple:
    """One instruction with a generated answer (rejected) and an extracted answer (chosen)."""

    instruction: str
    generated_answer: str
    extracted_answer: str


@dataclass
class PreferenceSet:
    """The triples parsed from one answer, plus what was wrong with it.

    ``error`` is set when nothing could be used (no JSON, no list of triples); ``problems`` lists
    per-triple issues (missing keys, wrong types) and count mismatches.
    """

    triples: list[Triple] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def __iter__(self) -> Iterator[Triple]:
        return iter(self.triples)

    def __len__(self) -> int:
        return len(self.triples)

    @classmethod
    def from_json(cls, text: str, n: int | None = None) -> PreferenceSet:
        """Parse the text of an answer (see :func:`parse_triples`)."""
        return parse_triples(text, n)


def _triple_list(obj: Any) -> list[Any] | None:
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        if isinstance(obj.get("preference_triples"), list):
            return obj["preference_triples"]  # type: ignore[no-any-return]
        lists = [v for v in obj.values() if isinstance(v, list)]
        if len(lists) == 1:  # e.g. {"triples": [...]}: a harmless variation
            return lists[0]
        if all(k in obj for k in KEYS):  # a single triple, not wrapped
            return [obj]
    return None


def parse_triples(answer: str | Any, n: int | None = None) -> PreferenceSet:
    """Turn an answer (text, or already decoded JSON) into a :class:`PreferenceSet`.

    Accepts ``{"preference_triples": [...]}``, a bare list, or an object with one list; JSON inside
    prose or a code fence; a truncated answer (one repair). Each triple needs the three string
    keys of :data:`KEYS` (non-empty, surrounding whitespace stripped). With ``n``, more than ``n``
    valid triples are cut to the first ``n`` and both more and fewer are noted in ``problems``.
    Never raises.
    """
    if isinstance(answer, str):
        obj, err = extract_json(answer)
        if err is not None:
            return PreferenceSet(error=err)
    else:
        obj = answer
    items = _triple_list(obj)
    if items is None:
        return PreferenceSet(error="no 'preference_triples' list in the answer")
    out = PreferenceSet()
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            out.problems.append(f"triple {i}: not an object ({type(item).__name__})")
            continue
        missing = [k for k in KEYS if k not in item]
        if missing:
            out.problems.append(f"triple {i}: missing {', '.join(missing)}")
            continue
        bad = [k for k in KEYS if not isinstance(item[k], str)]
        if bad:
            out.problems.append(f"triple {i}: {', '.join(bad)} not a string")
            continue
        values = [item[k].strip() for k in KEYS]
        if not all(values):
            out.problems.append(f"triple {i}: empty {', '.join(k for k, v in zip(KEYS, values, strict=True) if not v)}")
            continue
        out.triples.append(Triple(*values))
    if n is not None:
        if len(out.triples) > n:
            out.problems.append(f"{len(out.triples)} triples, expected {n}: kept the first {n}")
            out.triples = out.triples[:n]
        elif len(out.triples) < n:
            out.problems.append(f"{len(out.triples)} valid triples, expected {n}")
    return out
