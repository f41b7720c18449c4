"""The dpo-trl trainer against the contract kit (hooklab.testing.contracts)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hooklab.testing.contracts import TrainerContract


def contract_options(**extra: object) -> dict:
    """A one-epoch run on 32 synthetic pairs and a tiny Qwen2-shaped model, in a new temp dir."""
    from hooklab.testing.models import save_tiny
    from hooklab_dpo_trl.synthetic import shuffled_sentence_pairs

    root = Path(tempfile.mkdtemp(prefix="dpo-contract-"))
    model = save_tiny("qwen2", root / "model", hidden_size=32, num_layers=2, num_heads=2)
    train, _ = shuffled_sentence_pairs(32, held_out=8, seed=0)
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    return {"model": str(model), "data": str(root / "pairs.jsonl"), "output_dir": str(root / "run"),
            "batch_size": 16, "num_train_epochs": 1, "max_length": 48, "device": "cpu",
            "ref_cache_dir": str(root / "refcache"), "progress": False, "plot": False, **extra}


class TestDPOTrlContract(TrainerContract):
    name = "dpo-trl"

    def setup_method(self) -> None:
        self.options = contract_options(learning_rate=1e-3)
