from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2}


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2-shaped model + tokenizer saved as safetensors."""
    from hooklab.testing.models import save_tiny

    return save_tiny("qwen2", tmp_path_factory.mktemp("tiny") / "qwen2", **TINY)


@pytest.fixture(scope="session")
def pairs() -> tuple[list[dict], list[dict]]:
    from hooklab_dpo_trl.synthetic import shuffled_sentence_pairs

    return shuffled_sentence_pairs(192, held_out=64, seed=0)


@pytest.fixture
def pairs_file(tmp_path: Path, pairs: tuple[list[dict], list[dict]]) -> Path:
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in pairs[0]))
    return p


def _fast_config(model: Path, out: Path, **over: object) -> dict:
    cfg = {"model": str(model), "output_dir": str(out), "learning_rate": 3e-3, "batch_size": 16,
           "num_train_epochs": 2, "max_length": 64, "lr_scheduler_type": "constant", "device": "cpu",
           "ref_cache_dir": str(out.parent / "refcache"), "logging_steps": 4, "progress": False,
           "plot": False}
    cfg.update(over)
    return cfg


@pytest.fixture
def fast_config():
    """``fast_config(model_path, output_dir, **overrides)``: a config that learns the synthetic task
    in a few seconds on CPU."""
    return _fast_config


@pytest.fixture(scope="session")
def tiny_shape() -> dict:
    return dict(TINY)
