"""hooklab-cpt's components against the contract kit (hooklab.testing.contracts)."""

from __future__ import annotations

import pytest

from hooklab.testing.contracts import SourceContract, TrainerContract


class TestReplayMixContract(SourceContract):
    name = "replay-mix"
    columns = ("text", "source")
    options = {"new": [f"new document {i}" for i in range(50)], "old": [f"old document {i}" for i in range(50)],
               "replay": "strong", "unit": "examples", "total": 40}


class TestPackedReplayMixContract(SourceContract):
    name = "replay-mix"
    columns = ("input_ids", "labels", "source", "old_tokens")

    @pytest.fixture(autouse=True)
    def _data(self, corpora) -> None:
        self.options = {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "weak",
                        "block_size": 16, "total": 20, "tokenizer": str(corpora["model"])}


class TestCPTTrainerContract(TrainerContract):
    name = "cpt"

    @pytest.fixture(autouse=True)
    def _data(self, corpora, tmp_path) -> None:
        self.options = {"model": str(corpora["model"]), "output_dir": str(tmp_path / "run"), "max_steps": 2,
                        "batch_size": 1, "progress": False,
                        "data": {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "weak",
                                 "block_size": 16}}
