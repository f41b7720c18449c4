"""The local backend on the test kit's tiny models: real generation, batching with left padding,
chat template, JSON handling, errors."""

from __future__ import annotations

import pytest

import hooklab
from hooklab.errors import ModelError
from hooklab.llm import BatchRunner, LLMRequest
from hooklab.testing import tiny_model, tiny_tokenizer
from hooklab_local.backend import LocalBackend, render_prompt


class CountingBackend(LocalBackend):
    """The real backend, recording the size of every batch it generates."""

    def generate(self, requests):
        self.batches = [*getattr(self, "batches", []), len(requests)]
        return super().generate(requests)


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama", num_layers=2, hidden_size=64), tiny_tokenizer()


def prompts(n):
    return [LLMRequest.chat(f"Question number {i}: what is a {'very ' * i}long list?", max_tokens=8)
            for i in range(n)]


def test_generates_text_with_usage(llama):
    backend = LocalBackend.from_model(*llama, name="tiny-llama")
    resp = backend.complete_sync(LLMRequest.chat("hello world", max_tokens=6))
    assert isinstance(resp.text, str)
    assert 1 <= resp.usage.completion_tokens <= 6 and resp.usage.prompt_tokens > 3
    assert resp.finish_reason in {"stop", "length"} and resp.model == "tiny-llama"


def test_uses_the_chat_template(llama):
    _, tok = llama
    text = render_prompt(tok, [{"role": "user", "content": "hi"}])
    assert text == "<|bos|>user\nhi<|endoftext|>\n<|bos|>assistant\n"
    backend = LocalBackend.from_model(*llama)
    assert backend.complete_sync(LLMRequest.chat("hi", max_tokens=2)).raw["prompt"] == text


def test_concurrent_requests_are_batched_and_match_unbatched_greedy_answers(llama):
    reqs = prompts(6)
    batched = CountingBackend.from_model(*llama, batch_size=3, batch_wait_s=0.05)
    together = BatchRunner(batched, {"concurrency": 6}).run(reqs)
    assert max(batched.batches) > 1 and sum(batched.batches) == 6
    alone = LocalBackend.from_model(*llama, batch_size=1)
    single = [alone.complete_sync(r) for r in reqs]
    assert [r.response.text for r in together] == [s.text for s in single]
    assert [r.response.usage for r in together] == [s.usage for s in single]


def test_seeded_sampling_is_reproducible(llama):
    backend = LocalBackend.from_model(*llama)
    req = LLMRequest.chat("sample me", temperature=1.0, seed=7, max_tokens=8)
    assert backend.complete_sync(req).text == backend.complete_sync(req).text


def test_json_requests_report_unparseable_nonsense(llama):
    backend = LocalBackend.from_model(*llama)
    runner = BatchRunner(backend)
    [res] = runner.run([LLMRequest.chat("give me JSON", json_mode=True, max_tokens=8)])
    assert res.ok and res.response.parsed is None and res.response.parse_error
    assert runner.stats.parse_failures == 1 and runner.stats.failures[0].raw == res.response.text


def test_loads_a_saved_model_by_path_offline(tmp_path):
    from hooklab.testing import save_tiny

    path = save_tiny("gpt2", tmp_path / "m", num_layers=1, hidden_size=32)
    backend = hooklab.get("backend", "local", model=str(path), batch_size=2, device="cpu")
    resp = backend.complete_sync(LLMRequest.chat("hi", max_tokens=4))
    assert resp.usage.completion_tokens >= 1 and resp.model == str(path)


def test_a_missing_model_is_a_one_line_model_error(tmp_path):
    backend = hooklab.get("backend", "local", model=str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="cannot load model"):
        backend.load()


def test_a_prompt_longer_than_the_context_fails_without_retries(llama):
    model = tiny_model("gpt2", num_layers=1, hidden_size=32, max_positions=64)
    backend = LocalBackend.from_model(model, llama[1])
    runner = BatchRunner(backend, {"backoff_base": 0})
    [res] = runner.run([LLMRequest.chat("word " * 200, max_tokens=4)])
    assert not res.ok and "exceeds the context" in res.error and res.attempts == 1


def test_bad_options_are_config_errors():
    with pytest.raises(hooklab.ConfigError, match="batch_size"):
        hooklab.get("backend", "local", model="x", batch_size=0)
    with pytest.raises(hooklab.ConfigError, match="trust_remote_code"):
        hooklab.get("backend", "local", model="x", trust_remote_code="maybe")
