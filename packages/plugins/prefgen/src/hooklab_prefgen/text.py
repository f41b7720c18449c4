"""Text preparation, the seed's way: :func:`clean_text` and sentence-aligned :func:`chunk_text`."""

from __future__ import annotations

import re

#: The seed's sentence boundary: whitespace after . ! or ?, except after an abbreviation like
#: "e.g." or "Dr.".
SENTENCE_BOUNDARY = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|\!)\s")
_NOT_KEPT = re.compile(r"[^\w\s.,!?']")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Keep letters, digits, whitespace and ``. , ! ? '``; every other character becomes a space;
    runs of whitespace collapse to one space. Returns the stripped text."""
    return _SPACES.sub(" ", _NOT_KEPT.sub(" ", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Split (cleaned) text into sentences at the seed's :data:`SENTENCE_BOUNDARY`."""
    return [s.strip() for s in SENTENCE_BOUNDARY.split(text) if s.strip()]


def chunk_text(text: str, min_length: int = 1000, max_length: int = 2000, *, clean: bool = True) -> list[str]:
    """Cut ``text`` into chunks of ``min_length``–``max_length`` characters, splitting only
    after a sentence ends (the seed's ``extract_substrings`` for one article).

    Sentences are added while the chunk stays within ``max_length``; a chunk shorter than
    ``min_length`` when the next sentence does not fit is dropped, as in the seed, and so is a
    sentence longer than ``max_length`` on its own.

    Raises:
        ValueError: ``min_length`` > ``max_length`` or ``max_length`` < 1.
    """
    if max_length < 1 or min_length > max_length:
        raise ValueError(f"need 0 <= min_length <= max_length, got {min_length} and {max_length}")
    chunks: list[str] = []
    current = ""
    for sentence in split_sentences(clean_text(text) if clean else text):
        if len(current) + len(sentence) <= max_length:
            current += sentence + " "
        else:
            if len(current.strip()) >= min_length:
                chunks.append(current.strip())
            current = sentence + " " if len(sentence) <= max_length else ""
    if len(current.strip()) >= min_length:
        chunks.append(current.strip())
    return chunks


def text_stats(texts: list[str]) -> dict[str, int]:
    """Articles, characters, words and lines of ``texts`` (the seed's input table)."""
    return {"articles": len(texts), "characters": sum(len(t) for t in texts),
            "words": sum(len(t.split()) for t in texts),
            "lines": sum(t.count("\n") + 1 for t in texts if t)}
