from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def write_jsonl(path: Path, docs: list[str]) -> Path:
    with path.open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"text": d}) + "\n")
    return path


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """D1 = every other pydoc topic, D2 = the rest, each with 20 held-out documents; a tiny GPT-2."""
    from hooklab.testing.models import corpus_documents, save_tiny

    root = tmp_path_factory.mktemp("cpt-data")
    docs = corpus_documents()
    d1, d2 = docs[::2], docs[1::2]
    return {
        "d1": write_jsonl(root / "d1.jsonl", d1[:-20]),
        "d1_held": write_jsonl(root / "d1_held.jsonl", d1[-20:]),
        "d2": write_jsonl(root / "d2.jsonl", d2[:-20]),
        "d2_held": write_jsonl(root / "d2_held.jsonl", d2[-20:]),
        "model": save_tiny("gpt2", root / "model", num_layers=1, hidden_size=32),
    }


@pytest.fixture
def cpt_config(corpora, tmp_path) -> dict:
    return {
        "model": str(corpora["model"]), "output_dir": str(tmp_path / "run"), "max_steps": 6,
        "batch_size": 2, "grad_accum": 2, "save_every": 2, "progress": False,
        "data": {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "strong",
                 "block_size": 32, "shuffle_buffer": 50},
        "eval": {"old": str(corpora["d1_held"]), "new": str(corpora["d2_held"]), "max_blocks": 4},
        "schedule": {"name": "cosine", "peak_lr": 2e-3, "warmup_steps": 2},
    }


def hooklab_cmd(*args: str, prefix: list[str] | None = None) -> list[str]:
    return [*(prefix or [sys.executable, "-m"]), "hooklab_cli", *args]


def run_env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "HOOKLAB_STRICT_PLUGINS": "1", "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1"}


def run_hooklab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(hooklab_cmd(*args), capture_output=True, text=True, env=run_env())
