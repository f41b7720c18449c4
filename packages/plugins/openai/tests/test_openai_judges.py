"""The ``openai`` judge against the scripted server playing a biased judge (real client, real
HTTP on 127.0.0.1): bias recovery on >= 400 items, both-order ties, garbage answers, and a
SIGKILL in the middle of a run followed by a rerun that repeats no request."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import hooklab
from hooklab.judges import pair_items, score_items
from hooklab.testing import Reply
from hooklab.testing.contracts import JudgeContract
from hooklab.testing.judges import BiasedJudge, sample_pairs

N = 480
FAST = {"concurrency": 32, "backoff_base": 0.01, "jitter": 0.0}


@pytest.fixture
def judge(openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def make(**options):
        return hooklab.get("judge", "openai", backend={"model": "scripted", "base_url": openai_server.base_url},
                           runner=FAST, **options)

    return make


def test_openai_judge_is_registered():
    assert "openai" in hooklab.components("judge")


def test_report_recovers_the_biases_of_a_judge_over_http(openai_server, judge):
    openai_server.responder = model = BiasedJudge(first_bias=0.7)
    result = judge(order="random").pairwise(pair_items(sample_pairs(N)))
    stats = result.report().rows[0]
    assert len(openai_server.requests) == N
    assert stats["judge"] == "openai:scripted"
    assert stats["first_position_win_rate"] == pytest.approx(0.7, abs=0.05)
    assert stats["longer_answer_win_rate"] == pytest.approx(model.expected_longer_win_rate, abs=0.05)
    assert stats["invalid_rate"] == 0


def test_random_order_over_http_leaves_no_position_bias_in_final_verdicts(openai_server, judge):
    openai_server.responder = BiasedJudge(first_bias=0.7)
    rows = [{"id": f"e{i}", "prompt": f"q{i}", "chosen": f"answer one {i:04d}", "rejected": f"answer two {i:04d}"}
            for i in range(N)]  # equal lengths: only the position bias decides
    fixed = judge(order="fixed").pairwise(pair_items(rows)).report().rows[0]
    randomized = judge(order="random").pairwise(pair_items(rows)).report().rows[0]
    assert fixed["answer1_win_rate"] == pytest.approx(0.7, abs=0.05)
    assert randomized["answer1_win_rate"] == pytest.approx(0.5, abs=0.05)
    assert randomized["first_position_win_rate"] == pytest.approx(0.7, abs=0.05)  # the bias is still measured


def test_both_orders_over_http_make_inconsistent_pairs_ties(openai_server, judge):
    openai_server.responder = BiasedJudge(first_bias=0.7)
    result = judge(order="both").pairwise(pair_items(sample_pairs(N)))
    assert len(openai_server.requests) == 2 * N
    assert all(v.winner == "tie" for v in result.verdicts if v.consistent is False)
    assert result.report().rows[0]["position_consistency"] == pytest.approx(0.6, abs=0.05)


def test_a_judge_answering_garbage_completes_and_reports_it(openai_server, judge):
    openai_server.responder = BiasedJudge(garbage_rate=0.2)
    rows = [{"id": f"s{i}", "prompt": f"q{i}", "answer": "word " * (i % 20)} for i in range(N)]
    result = judge().score(score_items(rows))
    stats = result.report().rows[0]
    assert stats["invalid_rate"] == pytest.approx(0.2, abs=0.05)
    assert all(v.raw is not None for v in result.verdicts if v.score is None)
    valid = [v.score for v in result.verdicts if v.score is not None]
    assert stats["mean_score"] == pytest.approx(sum(valid) / len(valid))


_CHILD = """
import json, sys
import hooklab
from hooklab.judges import pair_items
from hooklab.testing.judges import sample_pairs
base_url, journal = sys.argv[1], sys.argv[2]
judge = hooklab.get("judge", "openai", backend={"model": "scripted", "base_url": base_url},
                    runner={"concurrency": 4}, journal=journal, order="both")
judge.pairwise(pair_items(sample_pairs(150)))
"""


def test_kill_and_rerun_sends_no_request_twice(openai_server, judge, tmp_path):
    model = BiasedJudge()
    openai_server.responder = lambda request, i: Reply.text(model(request, i), delay=0.01)
    journal = tmp_path / "judge.db"
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1"}
    env.pop("OPENAI_API_KEY", None)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, openai_server.base_url, str(journal)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if journal.exists():
                try:
                    with sqlite3.connect(journal) as db:
                        if db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] >= 40:
                            break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.02)
        assert child.poll() is None, "the child finished before it could be killed; make it slower"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    with sqlite3.connect(journal) as db:
        finished = {json.dumps(json.loads(r)["messages"], sort_keys=True)
                    for (r,) in db.execute("SELECT request FROM requests WHERE status='ok'")}
    sent_before = len(openai_server.requests)
    openai_server.responder = model
    result = judge(journal=str(journal), order="both").pairwise(pair_items(sample_pairs(150)))
    rerun = [json.dumps(r["messages"], sort_keys=True) for r in openai_server.requests[sent_before:]]
    assert len(rerun) == 300 - len(finished)  # 150 pairs x 2 orders, minus what had finished
    assert not finished & set(rerun)  # nothing finished before the kill is asked again
    assert all(v.winner is not None for v in result.verdicts)



class TestOpenAIJudgeContract(JudgeContract):
    name = "openai"

    @pytest.fixture(autouse=True)
    def _scripted_server(self, openai_server, monkeypatch):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        openai_server.responder = BiasedJudge()
        self.options = {"backend": {"model": "scripted", "base_url": openai_server.base_url}}
