"""The quickstart's sizes. Three presets: ``full`` (the default, under 5 minutes on 2 CPU cores),
``fast`` (``--fast``, under 2 minutes) and ``test`` (hidden; the package's own tests)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import ConfigError, unknown


class TinyConfig(BaseModel):
    """hooklab-tiny: a GPT-2-style model trained from scratch on ``pydoc_data.topics``.

    Every field is part of the cache key: change one and the model is trained again.
    """

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(2048, ge=64, description="byte-level BPE trained on pydoc_data.topics")
    hidden_size: int = Field(128, ge=8)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    max_positions: int = Field(1024, ge=64, description="context length (the seed's triple prompt is ~1,000 tokens)")
    block_size: int = Field(64, ge=8, description="tokens per training block")
    batch_size: int = Field(16, ge=1)
    steps: int = Field(600, ge=1, description="optimizer steps on pydoc_data.topics")
    peak_lr: float = Field(3e-3, gt=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    seed: int = 0

    def key(self) -> str:
        """The cache key: a hash of this config, the corpus and the recipe version."""
        from hooklab.testing.models import corpus_text

        corpus = hashlib.sha256(corpus_text().encode()).hexdigest()[:16]
        blob = json.dumps({"tiny": self.model_dump(), "corpus": corpus, "recipe": 1}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class QuickstartConfig(BaseModel):
    """Sizes of every step (see :data:`PRESETS`)."""

    model_config = ConfigDict(extra="forbid")

    tiny: TinyConfig = Field(default_factory=TinyConfig)
    cpt_steps: int = Field(150, ge=1, description="continued-pretraining steps per replay setting")
    cpt_replays: list[float] = Field(default_factory=lambda: [0.0, 0.05])
    eval_blocks: int = Field(32, ge=1, description="held-out blocks per corpus in the forgetting report")
    lens_prompt: str = 'The "if" statement is used for conditional execution:'
    capture_texts: int = Field(24, ge=1)
    pairs: int = Field(64, ge=4, description="preference pairs (training + held-out)")
    held_out: int = Field(16, ge=2)
    prefgen_chunks: int = Field(8, ge=1, description="chunks sent through the seed's triple prompt")
    gen_tokens: int = Field(24, ge=4, description="tokens the tiny model generates per rejected answer")
    judge_pairs: int = Field(32, ge=2)
    freeform_judge_pairs: int = Field(6, ge=1, description="pairs asked of the free-form local judge")
    dpo_epochs: float = Field(3.0, gt=0)
    dpo_lr: float = Field(5e-3, gt=0)
    seed: int = 0


PRESETS: dict[str, dict[str, Any]] = {
    "full": {},
    "fast": {"tiny": {"steps": 300, "hidden_size": 64, "vocab_size": 1024}, "cpt_steps": 60, "eval_blocks": 16,
             "capture_texts": 12, "pairs": 40, "held_out": 12, "prefgen_chunks": 4, "judge_pairs": 16,
             "freeform_judge_pairs": 4, "dpo_epochs": 2.0},
    # the package's tests: the real command on the smallest sizes that still show every section
    "test": {"tiny": {"steps": 30, "hidden_size": 32, "num_layers": 2, "vocab_size": 1024, "batch_size": 8},
             "cpt_steps": 8, "eval_blocks": 4, "capture_texts": 4, "pairs": 16, "held_out": 6,
             "prefgen_chunks": 2, "gen_tokens": 8, "judge_pairs": 6, "freeform_judge_pairs": 2,
             "dpo_epochs": 4.0, "dpo_lr": 1e-2},
}


def preset(name: str) -> QuickstartConfig:
    """The config of preset ``name``. Raises ConfigError for an unknown name."""
    if name not in PRESETS:
        raise ConfigError(unknown("quickstart preset", name, tuple(PRESETS)))
    return QuickstartConfig.model_validate(PRESETS[name])
