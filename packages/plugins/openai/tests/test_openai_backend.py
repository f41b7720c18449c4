"""The openai backend against the scripted OpenAI-compatible server on 127.0.0.1 (real client,
real HTTP): JSON, parameters, faults and retries, keys."""

from __future__ import annotations

import json

import pytest

import hooklab
from hooklab.errors import BackendError
from hooklab.llm import BatchRunner, Journal, LLMRequest
from hooklab.testing import Reply

FAST = {"backoff_base": 0.01, "jitter": 0.0}


@pytest.fixture
def backend(openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return hooklab.get("backend", "openai", model="scripted", base_url=openai_server.base_url,
                       timeout=0.5)


def test_json_answer_is_parsed_with_usage(openai_server, backend):
    openai_server.push(Reply.json({"a": 1}))
    resp = backend.complete_sync(LLMRequest.chat("one two three", json_mode=True))
    assert resp.parsed == {"a": 1} and resp.parse_error is None
    assert resp.usage.prompt_tokens == 3 and resp.usage.completion_tokens == 2
    assert resp.model == "scripted" and resp.finish_reason == "stop"
    assert resp.raw["choices"][0]["message"]["content"] == '{"a": 1}'


def test_request_parameters_reach_the_server(openai_server, backend):
    backend.complete_sync(LLMRequest.chat("hi", system="be brief", json_mode=True, temperature=0.7,
                                          max_tokens=50, seed=3))
    body = openai_server.requests[-1]
    assert body["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "hi"}]
    assert body["response_format"] == {"type": "json_object"}
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.7, 50, 3)


def test_json_schema_becomes_structured_output(openai_server, backend):
    schema = {"title": "triples", "type": "object", "properties": {"a": {"type": "integer"}}}
    openai_server.push(Reply.json({"a": 2}))
    resp = backend.complete_sync(LLMRequest.chat("hi", json_schema=schema))
    assert resp.parsed == {"a": 2}
    rf = openai_server.requests[-1]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == schema


def test_prose_around_json_is_parsed(openai_server, backend):
    openai_server.push('Here you go:\n```json\n{"preference_triples": []}\n```\nHope it helps!')
    resp = backend.complete_sync(LLMRequest.chat("x", json_mode=True))
    assert resp.parsed == {"preference_triples": []}


def test_429_with_retry_after_is_honoured_then_retried(openai_server, backend):
    openai_server.push(Reply.rate_limited(retry_after=0.3), Reply.json({"ok": True}))
    runner = BatchRunner(backend, {**FAST, "jitter": 0.0})
    [res] = runner.run([LLMRequest.chat("x", json_mode=True)])
    assert res.ok and res.response.parsed == {"ok": True}
    assert len(openai_server.requests) == 2 and res.attempts == 2
    assert runner.stats.errors_by_kind == {"rate_limit": 1}
    assert runner.stats.elapsed_s >= 0.3  # it waited what the server asked for


@pytest.mark.parametrize("fault,kind", [
    (Reply.server_error(500), "server_error"),
    (Reply.server_error(503), "server_error"),
    (Reply.timeout(2.0), "timeout"),
    (Reply.malformed(), "malformed"),
    (Reply.truncated('{"a": 1}'), "malformed"),
])
def test_transient_faults_are_retried(openai_server, backend, fault, kind):
    openai_server.push(fault, Reply.json({"a": 1}))
    runner = BatchRunner(backend, FAST)
    [res] = runner.run([LLMRequest.chat("x", json_mode=True)])
    assert res.ok and res.response.parsed == {"a": 1}
    assert runner.stats.errors_by_kind == {kind: 1} and runner.stats.retries == 1


def test_a_persistently_malformed_server_is_a_counted_failure_with_raw_text(openai_server, backend, tmp_path):
    openai_server.default = Reply.malformed()
    runner = BatchRunner(backend, {**FAST, "max_retries": 2}, journal=tmp_path / "j.db")
    [res] = runner.run([LLMRequest.chat("x")])
    assert not res.ok and "malformed" in res.error
    assert len(openai_server.requests) == 3
    assert runner.stats.failures[0].raw == "{this is not json"
    with Journal(tmp_path / "j.db") as j:
        assert j.failures()[0].raw == "{this is not json"


def test_client_errors_are_not_retried(openai_server, backend):
    openai_server.push(Reply(content=None, status=404, body=json.dumps({"error": {"message": "no such model"}})))
    runner = BatchRunner(backend, FAST)
    [res] = runner.run([LLMRequest.chat("x")])
    assert not res.ok and "HTTP 404" in res.error and "no such model" in res.error
    assert len(openai_server.requests) == 1


def test_slow_answers_run_concurrently(openai_server):
    backend = hooklab.get("backend", "openai", model="scripted", base_url=openai_server.base_url,
                          timeout=30)
    openai_server.default = Reply.json({"slow": True}, delay=0.3)
    runner = BatchRunner(backend, {"concurrency": 8})
    results = runner.run([LLMRequest.chat(f"q{i}", json_mode=True) for i in range(16)])
    assert all(r.ok and r.response.parsed == {"slow": True} for r in results)
    assert runner.stats.sent == 16 and runner.stats.retries == 0
    assert all(r.response.latency_s >= 0.3 for r in results)


def test_a_storm_of_faults_loses_nothing(openai_server, backend):
    faults = [Reply.rate_limited(0.05), Reply.server_error(), Reply.malformed(), Reply.truncated(),
              Reply.timeout(1.0)]

    def responder(req, i):
        prompt = req["messages"][-1]["content"]
        if i < 15:
            return faults[i % len(faults)]
        return Reply.json({"echo": prompt}, delay=0.01)

    openai_server.responder = responder
    runner = BatchRunner(backend, {**FAST, "concurrency": 8, "max_retries": 8})
    reqs = [LLMRequest.chat(f"item {i}", json_mode=True) for i in range(30)]
    results = runner.run(reqs)
    assert [r.response.parsed["echo"] for r in results] == [f"item {i}" for i in range(30)]
    assert runner.stats.done == 30 and runner.stats.failed == 0
    # 15 faults, each retried (a loaded machine may time out one more: still nothing lost)
    assert runner.stats.retries >= 15 and runner.stats.sent == 30 + runner.stats.retries
    assert set(runner.stats.errors_by_kind) == {"rate_limit", "server_error", "malformed", "timeout"}


def test_usage_and_cost_accounting(openai_server, backend):
    openai_server.default = Reply.json({"w": "one two"})  # content '{"w": "one two"}' = 3 tokens
    runner = BatchRunner(backend, {"prices": {"scripted": {"input": 0.15, "output": 0.6}}})
    runner.run([LLMRequest.chat(f"a b c {i}") for i in range(10)])
    assert runner.stats.usage.prompt_tokens == 40 and runner.stats.usage.completion_tokens == 30
    assert runner.stats.cost == pytest.approx((40 * 0.15 + 30 * 0.6) / 1e6)


def test_missing_key_for_a_remote_server_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(BackendError, match="set the environment variable MY_KEY"):
        hooklab.get("backend", "openai", model="gpt-4o-mini", api_key_env="MY_KEY")


def test_the_key_comes_from_the_environment_and_is_never_shown_or_saved(openai_server, monkeypatch, tmp_path):
    secret = "sk-test-SECRET-1234567890"
    monkeypatch.setenv("MY_KEY", secret)
    backend = hooklab.get("backend", "openai", model="scripted", base_url=openai_server.base_url,
                          api_key_env="MY_KEY")
    openai_server.push(Reply.server_error(401))
    runner = BatchRunner(backend, FAST, journal=tmp_path / "j.db")
    runner.run([LLMRequest.chat("x"), LLMRequest.chat("y")])
    assert openai_server.headers_seen[0]["authorization"] == f"Bearer {secret}"
    assert secret not in repr(backend) and secret not in str(backend.config)
    assert secret not in json.dumps(runner.stats.to_dict())
    assert all(secret not in p.read_bytes().decode("latin-1") for p in tmp_path.iterdir())


def test_unknown_option_is_a_config_error(openai_server):
    with pytest.raises(hooklab.ConfigError, match="api_key: unknown option"):
        hooklab.get("backend", "openai", model="m", base_url=openai_server.base_url, api_key="sk-1")


def test_importing_the_plugin_imports_no_client():
    import subprocess
    import sys

    code = "import sys, hooklab_openai.plugin; print([m for m in ('openai', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_one_backend_serves_several_runs(openai_server, backend):
    runner = BatchRunner(backend, close_backend=False)
    first = runner.run([LLMRequest.chat("a")])
    second = runner.run([LLMRequest.chat("b")])  # a new event loop: the client is renewed
    assert first[0].ok and second[0].ok and len(openai_server.requests) == 2


def test_connection_errors_are_retried_then_reported(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = hooklab.get("backend", "openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    runner = BatchRunner(backend, {**FAST, "max_retries": 2})
    [res] = runner.run([LLMRequest.chat("x")])
    assert not res.ok and "connection failed" in res.error
    assert runner.stats.errors_by_kind == {"connection": 3} and runner.stats.sent == 3
