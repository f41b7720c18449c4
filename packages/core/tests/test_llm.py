"""The LLM backend interface: JSON extraction, keys, the rate limiter, the batch runner, the journal."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from hooklab.errors import BackendError, ConfigError
from hooklab.llm import (
    BatchRunner,
    Journal,
    LLMBackend,
    LLMRequest,
    LLMResponse,
    RateLimiter,
    RetryableBackendError,
    RunnerConfig,
    Usage,
    extract_json,
    finish_response,
    request_key,
)


class ScriptedBackend(LLMBackend):
    """A real backend whose outcomes a test scripts per prompt: a list of exceptions/answers."""

    name = "scripted"
    model = "m1"

    def __init__(self, outcomes=None, delay=0.0):
        self.outcomes = {k: list(v) for k, v in (outcomes or {}).items()}
        self.calls: list[str] = []
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def complete(self, request):
        prompt = request.messages[-1]["content"]
        self.calls.append(prompt)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            queue = self.outcomes.get(prompt)
            outcome = queue.pop(0) if queue else f'{{"echo": "{prompt}"}}'
            if isinstance(outcome, BaseException):
                raise outcome
            resp = LLMResponse(text=outcome, model=self.model_for(request),
                               usage=Usage(len(prompt.split()), len(outcome.split())))
            return finish_response(request, resp)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        self.closed = True


FAST = {"backoff_base": 0.0, "jitter": 0.0}


# -- JSON extraction ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    '{"a": 1}',
    'Sure! Here it is:\n```json\n{"a": 1}\n```\nAnything else?',
    'The answer is {"a": 1} as requested.',
    '{"a": 1,}',
])
def test_extract_json_finds_the_object(text):
    assert extract_json(text) == ({"a": 1}, None)


def test_extract_json_repairs_a_truncated_answer_once():
    value, err = extract_json('{"items": [{"x": "one"}, {"x": "tw')
    assert err is None
    assert value == {"items": [{"x": "one"}, {"x": "tw"}]}


def test_extract_json_without_repair_reports_the_error():
    value, err = extract_json('{"items": [1, 2', repair=False)
    assert value is None and "invalid JSON" in err


@pytest.mark.parametrize("text", ["", "no json here at all", "{{{{ :::"])
def test_extract_json_never_raises(text):
    value, err = extract_json(text)
    assert value is None and err


# -- keys --------------------------------------------------------------------------------------
def test_request_key_depends_on_backend_model_prompt_and_params_but_not_on_id():
    req = LLMRequest.chat("hi", temperature=0.7, id="a", metadata={"x": 1})
    same = LLMRequest.chat("hi", temperature=0.7, id="b")
    assert request_key("openai", "m", req) == request_key("openai", "m", same)
    assert request_key("openai", "m", req) != request_key("local", "m", req)
    assert request_key("openai", "m", req) != request_key("openai", "m2", req)
    assert request_key("openai", "m", req) != request_key("openai", "m", LLMRequest.chat("hi!", temperature=0.7))
    assert request_key("openai", "m", req) != request_key("openai", "m", LLMRequest.chat("hi", temperature=0.1))


# -- rate limiter (fake clock: no waiting, no timing thresholds) ---------------------------------
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    async def sleep(self, s):
        self.t += s


def test_rpm_limiter_spaces_requests_at_the_configured_rate():
    clock = FakeClock()
    lim = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep)

    async def go():
        times = []
        for _ in range(5):
            await lim.acquire()
            times.append(clock.t)
        return times

    times = asyncio.run(go())
    assert times[0] == 0.0
    assert times[-1] == pytest.approx(4.0)  # 1 request per second after the first


def test_tpm_limiter_waits_for_tokens():
    clock = FakeClock()
    lim = RateLimiter(tpm=600, clock=clock, sleep=clock.sleep)  # 10 tokens/s, bucket of 10

    async def go():
        await lim.acquire(10)
        await lim.acquire(5)

    asyncio.run(go())
    assert clock.t == pytest.approx(0.5)


# -- the runner --------------------------------------------------------------------------------
def test_runner_returns_results_in_input_order_and_parses_json():
    backend = ScriptedBackend(delay=0.001)
    reqs = [LLMRequest.chat(f"p{i}", json_mode=True, id=str(i)) for i in range(20)]
    results = BatchRunner(backend, {"concurrency": 4}).run(reqs)
    assert [r.response.parsed["echo"] for r in results] == [f"p{i}" for i in range(20)]
    assert [r.request.id for r in results] == [str(i) for i in range(20)]
    assert backend.closed


def test_runner_bounds_concurrency():
    backend = ScriptedBackend(delay=0.005)
    BatchRunner(backend, {"concurrency": 3}).run([LLMRequest.chat(f"p{i}") for i in range(12)])
    assert backend.max_in_flight == 3


def test_runner_retries_transient_errors_then_succeeds():
    backend = ScriptedBackend({"p": [RetryableBackendError("500", kind="server_error"),
                                     RetryableBackendError("timeout", kind="timeout"), '{"ok": 1}']})
    runner = BatchRunner(backend, FAST)
    [res] = runner.run([LLMRequest.chat("p", json_mode=True)])
    assert res.ok and res.response.parsed == {"ok": 1}
    assert res.attempts == 3 and runner.stats.retries == 2 and runner.stats.sent == 3
    assert runner.stats.errors_by_kind == {"server_error": 1, "timeout": 1}


def test_runner_gives_up_after_max_retries_and_keeps_the_raw_text():
    errors = [RetryableBackendError("bad body", kind="malformed", raw="{this is not json")] * 4
    backend = ScriptedBackend({"p": errors})
    runner = BatchRunner(backend, {**FAST, "max_retries": 2})
    [res] = runner.run([LLMRequest.chat("p")])
    assert not res.ok and "gave up after 3 attempts" in res.error
    assert len(backend.calls) == 3
    assert runner.stats.failed == 1
    assert runner.stats.failures[0].raw == "{this is not json"


def test_runner_does_not_retry_permanent_errors_and_finishes_the_rest():
    backend = ScriptedBackend({"bad": [BackendError("400 invalid model")]})
    runner = BatchRunner(backend, FAST)
    results = runner.run([LLMRequest.chat("bad"), LLMRequest.chat("good")])
    assert not results[0].ok and "invalid model" in results[0].error
    assert results[1].ok
    assert backend.calls.count("bad") == 1


def test_backoff_is_exponential_with_jitter_and_honours_retry_after():
    runner = BatchRunner(ScriptedBackend(), {"backoff_base": 1.0, "backoff_max": 5.0, "jitter": 0.5})
    assert 1.0 <= runner.backoff(1) <= 1.5
    assert 2.0 <= runner.backoff(2) <= 3.0
    assert 5.0 <= runner.backoff(10) <= 7.5  # capped
    assert 7.0 <= runner.backoff(1, retry_after=7.0) <= 10.5
    no_jitter = BatchRunner(ScriptedBackend(), {"jitter": 0.0, "retry_after_max": 30})
    assert no_jitter.backoff(1, retry_after=100) == 30


def test_retry_after_pauses_every_worker():
    backend = ScriptedBackend({"p0": [RetryableBackendError("429", retry_after=0.2, kind="rate_limit")]},
                              delay=0.0)
    runner = BatchRunner(backend, {"concurrency": 4, "jitter": 0.0})
    # p0 fails first; the others start while the cooldown is active and must wait it out
    asyncio.run(runner.arun([LLMRequest.chat(f"p{i}") for i in range(8)]))
    assert runner.stats.errors_by_kind == {"rate_limit": 1}
    assert runner.stats.done == 8 and runner.stats.elapsed_s >= 0.2


def test_unparseable_answers_are_counted_with_their_raw_text():
    backend = ScriptedBackend({"p": ["I cannot answer in JSON, sorry."]})
    runner = BatchRunner(backend, FAST)
    [res] = runner.run([LLMRequest.chat("p", json_mode=True)])
    assert res.ok and res.response.parsed is None and res.response.parse_error
    assert runner.stats.parse_failures == 1
    assert runner.stats.failures[0].raw == "I cannot answer in JSON, sorry."


def test_usage_and_cost_from_the_price_table():
    backend = ScriptedBackend({"a b c d": ["x y"]})
    cfg = {"prices": {"m": {"input": 1.0, "output": 10.0}, "m1": {"input": 2.0, "output": 4.0}}}
    runner = BatchRunner(backend, cfg)
    runner.run([LLMRequest.chat("a b c d")])
    assert runner.stats.usage == Usage(4, 2)
    assert runner.stats.cost == pytest.approx((4 * 2.0 + 2 * 4.0) / 1e6)  # exact name beats prefix
    assert RunnerConfig(prices={"gpt-4o": {"input": 1}}).price_for("gpt-4o-mini-2024").input == 1


def test_identical_requests_in_one_batch_are_sent_once():
    backend = ScriptedBackend()
    results = BatchRunner(backend).run([LLMRequest.chat("same", id="1"), LLMRequest.chat("same", id="2")])
    assert backend.calls == ["same"]
    assert all(r.ok for r in results) and [r.request.id for r in results] == ["1", "2"]


def test_progress_is_called_for_every_request():
    seen = []
    BatchRunner(ScriptedBackend(), progress=lambda s, r: seen.append((s.finished, r.index))).run(
        [LLMRequest.chat(f"p{i}") for i in range(5)])
    assert sorted(i for _, i in seen) == list(range(5))
    assert max(f for f, _ in seen) == 5


def test_bad_runner_config_is_a_config_error():
    with pytest.raises(ConfigError, match="concurrency"):
        BatchRunner(ScriptedBackend(), {"concurrency": 0})


# -- the journal -------------------------------------------------------------------------------
def test_rerun_with_journal_skips_finished_requests(tmp_path):
    reqs = [LLMRequest.chat(f"p{i}", json_mode=True) for i in range(6)]
    first = ScriptedBackend({"p2": [BackendError("boom")]})
    r1 = BatchRunner(first, journal=tmp_path / "j.db").run(reqs)
    assert sum(r.ok for r in r1) == 5
    second = ScriptedBackend()
    runner = BatchRunner(second, journal=tmp_path / "j.db")
    r2 = runner.run(reqs)
    assert second.calls == ["p2"]  # only the failed one is sent again
    assert all(r.ok for r in r2)
    assert [r.from_journal for r in r2] == [True, True, False, True, True, True]
    assert [r.response.parsed for r in r2] == [r.response.parsed for r in r1[:2]] + [
        {"echo": "p2"}] + [r.response.parsed for r in r1[3:]]
    assert runner.stats.skipped == 5 and runner.stats.done == 1


def test_journal_keeps_failures_with_raw_text_and_never_overwrites_success(tmp_path):
    j = Journal(tmp_path / "j.db")
    req = LLMRequest.chat("p")
    j.record("k", backend="b", model="m", request=req, error="gave up", raw="<html>502</html>")
    assert j.count("failed") == 1 and j.failures()[0].raw == "<html>502</html>"
    j.record("k", backend="b", model="m", request=req, response=LLMResponse(text="hi", usage=Usage(3, 1)))
    j.record("k", backend="b", model="m", request=req, error="later failure")
    assert j.get("k").text == "hi" and j.count("ok") == 1 and j.count("failed") == 0
    assert j.usage() == Usage(3, 1)
    j.close()
    with Journal(tmp_path / "j.db") as again:
        assert again.get("k").usage == Usage(3, 1)


def test_a_corrupt_journal_is_a_config_error(tmp_path):
    bad = tmp_path / "j.db"
    bad.write_bytes(b"this is not a sqlite file" * 100)
    with pytest.raises(ConfigError, match="journal"):
        Journal(bad)


def test_importing_llm_imports_neither_torch_nor_openai():
    code = ("import sys, hooklab.llm; bad = [m for m in ('torch', 'openai', 'transformers') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
