"""The ``local`` judge on a saved tiny model: real generation, nonsense answers. The run completes,
every unparseable answer is an invalid verdict with its raw text, and nothing is made up."""

from __future__ import annotations

import pytest

import hooklab
from hooklab.judges import PairItem, ScoreItem
from hooklab.testing.contracts import JudgeContract


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from hooklab.testing import save_tiny

    return str(save_tiny("gpt2", tmp_path_factory.mktemp("judge") / "m", num_layers=1, hidden_size=32))


def test_local_judge_is_registered():
    assert "local" in hooklab.components("judge")


def test_a_tiny_local_judge_gives_invalid_verdicts_never_guesses(model_path, tmp_path):
    judge = hooklab.get("judge", "local", backend={"model": model_path, "device": "cpu", "batch_size": 4},
                        order="both", max_tokens=8, journal=str(tmp_path / "j.db"))
    items = [PairItem(f"i{k}", f"Question {k}?", "a short answer", "a somewhat longer answer") for k in range(3)]
    result = judge.pairwise(items)
    assert judge.name == f"local:{model_path}"
    calls = [c for v in result.verdicts for c in v.calls]
    assert len(calls) == 6 and all(c.raw is not None for c in calls)  # the model did answer
    for c in calls:  # whatever it said, the verdict is what parse_verdict reads, or None
        assert (c.verdict is None) == (c.error == "unparseable verdict")
    stats = result.report().rows[0]
    assert stats["invalid_rate"] == sum(c.verdict is None for c in calls) / 6


def test_a_tiny_local_judge_scores_are_none_or_in_range(model_path):
    judge = hooklab.get("judge", "local", backend={"model": model_path, "device": "cpu"}, max_tokens=8)
    result = judge.score([ScoreItem("s0", "Say hi.", "hi"), ScoreItem("s1", "Say bye.", "bye")])
    assert all(v.score is None or 1 <= v.score <= 5 for v in result.verdicts)
    assert all(v.raw is not None for v in result.verdicts)


class TestLocalJudgeContract(JudgeContract):
    name = "local"
    n_items = 3

    @pytest.fixture(autouse=True)
    def _tiny_model(self, model_path):
        self.options = {"backend": {"model": model_path, "device": "cpu", "batch_size": 6}, "max_tokens": 6}
