"""A scripted "LLM" that answers the prefgen prompt the way a good model would: triples whose
extracted answers are sentences copied from the chunk (deterministic, so reruns compare)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_articles.json"


def chunk_of(request: dict) -> str:
    return request["messages"][-1]["content"].rsplit("Extract:\n", 1)[1].strip()


def triples_for(chunk: str, n: int = 5) -> dict:
    sentences = re.split(r"(?<=[.!?])\s", chunk)
    triples = []
    for i in range(n):
        s = sentences[i % len(sentences)]
        topic = " ".join(s.split()[:3])
        triples.append({"instruction": f"What is said about {topic}?",
                        "generated_answer": f"Basically, {s[:1].lower()}{s[1:]}",
                        "extracted_answer": s})
    return {"preference_triples": triples}


def good_llm(request: dict, index: int) -> str:
    """The responder: JSON triples for the chunk in the request."""
    return json.dumps(triples_for(chunk_of(request)))


@pytest.fixture
def sample_docs() -> Path:
    return SAMPLE


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
