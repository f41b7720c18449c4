"""A synthetic preference task a tiny model can learn, for tests, examples and benchmarks.

chosen = a real sentence from a local corpus (``pydoc_data.topics``, in every Python install),
rejected = the same words shuffled. Learning it means learning word order, which generalises to
held-out sentences. No download.

Example::

    from hooklab_dpo_trl.synthetic import shuffled_sentence_pairs
    train, held_out = shuffled_sentence_pairs(256, held_out=64, seed=0)
"""

from __future__ import annotations

import random
import re
from typing import Any


def corpus_sentences(min_words: int = 6, max_words: int = 14) -> list[str]:
    """Distinct ASCII sentences of ``min_words``..``max_words`` words from the local corpus, sorted."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    sents = (" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text))
    return sorted({s for s in sents if min_words <= len(s.split()) <= max_words and s.isascii() and s[:1].isupper()})


def shuffled_sentence_pairs(n: int, *, held_out: int = 0, seed: int = 0, prompt: str = "",
                            min_words: int = 6, max_words: int = 14,
                            subsets: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, held_out)`` lists of ``{"prompt", "chosen", "rejected"}`` dicts (no sentence in both).

    With ``subsets=True`` each pair has a ``subset`` column: ``"short"`` (< 10 words) or ``"long"``.
    """
    rng = random.Random(seed)
    sents = corpus_sentences(min_words, max_words)
    rng.shuffle(sents)
    if n + held_out > len(sents):
        raise ValueError(f"only {len(sents)} sentences available, asked for {n + held_out}")

    def pair(s: str) -> dict[str, Any]:
        words = s.split()
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        row: dict[str, Any] = {"prompt": prompt, "chosen": s, "rejected": " ".join(shuffled)}
        if subsets:
            row["subset"] = "short" if len(words) < 10 else "long"
        return row

    return [pair(s) for s in sents[:n]], [pair(s) for s in sents[n:n + held_out]]
