from __future__ import annotations

from pathlib import Path

import pytest

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2}


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hooklab.testing.models import save_tiny

    return save_tiny("qwen2", tmp_path_factory.mktemp("tiny") / "qwen2", **TINY)


@pytest.fixture(scope="session")
def pairs() -> tuple[list[dict], list[dict]]:
    from hooklab_dpo_trl.synthetic import shuffled_sentence_pairs

    return shuffled_sentence_pairs(192, held_out=64, seed=0)


def _lora_config(model: Path, out: Path, **over: object) -> dict:
    cfg = {"model": str(model), "output_dir": str(out), "learning_rate": 1e-2, "batch_size": 16,
           "num_train_epochs": 3, "max_length": 64, "lr_scheduler_type": "constant", "device": "cpu",
           "ref_cache_dir": str(out.parent / "refcache"), "logging_steps": 4, "progress": False, "plot": False,
           "lora": {"r": 8, "alpha": 16, "dropout": 0.0}}
    cfg.update(over)
    return cfg


@pytest.fixture
def lora_config():
    """``lora_config(model_path, output_dir, **overrides)``: learns the synthetic task on CPU."""
    return _lora_config
