"""The test kit itself: tiny models offline, the scripted server against the real openai client."""

from __future__ import annotations

import json

import openai
import pytest
import torch

from hooklab.testing import (
    FAMILIES,
    Reply,
    ScriptedOpenAIServer,
    save_tiny,
    tiny_model,
    tiny_tokenizer,
)


def test_tokenizer_round_trips_text():
    tok = tiny_tokenizer()
    text = "The quick brown fox, said the lambda."
    assert tok.decode(tok(text).input_ids) == text
    assert len(tok) == 512 and tok.pad_token_id == 0 and tok.eos_token_id == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_family_is_deterministic_and_loads_from_disk(family, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = torch.tensor([[3, 4, 5]])
    a, b = tiny_model(family, seed=1), tiny_model(family, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(a(ids).logits, b(ids).logits)
        assert not torch.allclose(a(ids).logits, tiny_model(family, seed=2)(ids).logits)
    path = save_tiny(family, tmp_path / family, seed=1)
    assert (path / "model.safetensors").exists()
    loaded = AutoModelForCausalLM.from_pretrained(path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, a(ids).logits)
    assert AutoTokenizer.from_pretrained(path)("hello").input_ids == tiny_tokenizer()("hello").input_ids


def _client(srv, **kw):
    return openai.OpenAI(base_url=srv.base_url, api_key="test-key", **kw)


def test_server_answers_the_real_client_with_usage():
    with ScriptedOpenAIServer(script=[Reply.json({"a": 1})]) as srv:
        r = _client(srv).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "two words"}])
        assert json.loads(r.choices[0].message.content) == {"a": 1}
        assert r.usage.prompt_tokens == 2
        assert srv.requests[0]["messages"][0]["content"] == "two words"
        assert [m.id for m in _client(srv).models.list()] == ["scripted"]


def test_server_faults_429_500_are_retried_by_the_client():
    with ScriptedOpenAIServer(script=[Reply.rate_limited(retry_after=0.05), Reply.server_error(), "fine"]) as srv:
        r = _client(srv, max_retries=3).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert r.choices[0].message.content == "fine"
        assert len(srv.requests) == 3


def test_server_timeout_malformed_and_truncated():
    with ScriptedOpenAIServer(script=[Reply.timeout(2.0), Reply.malformed(), Reply.truncated("hello")]) as srv:
        c = _client(srv, max_retries=0, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        for _ in range(2):
            with pytest.raises(Exception) as err:  # the client cannot parse either body
                resp = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
                resp.choices[0].message.content  # noqa: B018
            assert not isinstance(err.value, openai.APITimeoutError)


def test_responder_decides_dynamically(openai_server):
    openai_server.responder = lambda req, i: f"answer {i}"
    c = _client(openai_server)
    outs = [c.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}]).choices[0].message.content
            for _ in range(3)]
    assert outs == ["answer 0", "answer 1", "answer 2"]
