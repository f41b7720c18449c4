"""The whole pipeline over the openai backend against the scripted server (real client, real HTTP)."""

from __future__ import annotations

import json

import pytest
from conftest import good_llm, triples_for

import hooklab
from hooklab.errors import ConfigError, DataError
from hooklab.testing import Reply
from hooklab_prefgen.documents import load_documents
from hooklab_prefgen.pipeline import PrefgenConfig, build_chunks, build_requests, run_prefgen


def config(openai_server, sample_docs, out, **kw):
    base = {"docs": str(sample_docs), "llm": "openai:gpt-4o-mini", "base_url": openai_server.base_url,
            "out": str(out), "chunk": {"min_length": 300, "max_length": 700},
            "runner": {"concurrency": 4, "backoff_base": 0.01, "jitter": 0.0,
                       "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}}}
    base.update(kw)
    return PrefgenConfig.model_validate(base)


def test_the_seed_sample_becomes_a_filtered_preference_dataset(openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    cfg = config(openai_server, sample_docs, tmp_path / "out")
    result = run_prefgen(cfg)
    n_chunks = len(build_chunks(load_documents(sample_docs), cfg.chunk))
    s = result.stats
    assert s["chunks"] == n_chunks == s["requests"] == len(openai_server.requests)
    assert s["samples"]["generated"] == 5 * n_chunks
    assert 0 < len(result) < s["samples"]["generated"]  # the short sentences were filtered out
    assert s["samples"]["dedupe"] == len(result)
    for r in result.rows:
        assert len(r["chosen"]) >= 100 and r["chosen"][0].isupper() and r["chosen"][-1] in ".!?"
        assert r["rejected"].startswith("Basically, ") and r["verbatim"]
        assert r["model"] == "gpt-4o-mini" and r["article_id"].startswith("article-")
        assert r["chunk_id"].startswith(r["article_id"] + ":") and len(r["raw_output_hash"]) == 64
    assert s["input"]["articles"] == 3 and s["input"]["words"] > 500
    assert s["input_tokens"] > 0 and s["output_tokens"] > 0
    assert s["cost_usd"] == pytest.approx((s["input_tokens"] * 0.15 + s["output_tokens"] * 0.6) / 1e6, abs=1e-6)
    assert s["parse_failures"] == 0 and s["failed_requests"] == 0
    # what was sent: the seed's system message, JSON mode, temperature and max tokens
    body = openai_server.requests[0]
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.7 and body["max_tokens"] == 2000
    assert body["messages"][0]["role"] == "system"
    assert "generate five instruction-answer triples" in body["messages"][1]["content"]


def test_outputs_are_written_and_load_as_datasets(openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    result = run_prefgen(config(openai_server, sample_docs, tmp_path / "out"))
    out = tmp_path / "out"
    jsonl = [json.loads(line) for line in (out / "preference.jsonl").read_text().splitlines()]
    assert jsonl == [{k: r[k] for k in jsonl[0]} for r in result.rows]
    ds = hooklab.load_source(str(out / "preference.parquet"))
    assert ds.column_names[:3] == ["prompt", "chosen", "rejected"] and len(ds) == len(result)
    assert result.to_dataset()["chosen"] == ds["chosen"]
    assert json.loads((out / "stats.json").read_text())["samples"] == result.stats["samples"]
    assert "after dedupe" in result.report() and "cost" in result.report()


def test_faults_lose_nothing_and_failures_keep_their_raw_text(openai_server, sample_docs, tmp_path):
    cfg = config(openai_server, sample_docs, tmp_path / "out", runner={
        "concurrency": 3, "backoff_base": 0.01, "jitter": 0.0, "max_retries": 3})
    chunks = build_chunks(load_documents(sample_docs), cfg.chunk)
    reqs = build_requests(chunks, cfg)
    prose = "Here are your triples:\n" + json.dumps(triples_for(chunks[1].text)) + "\nEnjoy!"
    bad_shape = {"preference_triples": [{"instruction": "Q?", "generated_answer": "A."}]}

    first_faults = [Reply.rate_limited(0.05), Reply.server_error(), Reply.truncated()]

    def responder(req, i):
        content = req["messages"][-1]["content"]
        if content == reqs[0].messages[-1]["content"] and first_faults:
            return first_faults.pop(0)
        if content == reqs[1].messages[-1]["content"]:
            return prose
        if content == reqs[2].messages[-1]["content"]:
            return "I am not able to produce JSON today."
        if content == reqs[3].messages[-1]["content"]:
            return json.dumps(bad_shape)
        if content == reqs[4].messages[-1]["content"]:
            return Reply.malformed()
        return good_llm(req, i)

    openai_server.responder = responder
    result = run_prefgen(cfg)
    s = result.stats
    assert s["failed_requests"] == 1 and s["parse_failures"] == 1 and s["triple_problems"] >= 2
    assert s["errors_by_kind"]["malformed"] == 4 + 1 and s["errors_by_kind"]["rate_limit"] == 1
    by_chunk = {f["chunk_id"]: f for f in result.failures}
    assert by_chunk[chunks[2].id]["raw"] == "I am not able to produce JSON today."
    assert "missing extracted_answer" in by_chunk[chunks[3].id]["error"]
    assert by_chunk[chunks[4].id]["kind"] == "request" and "malformed" in by_chunk[chunks[4].id]["error"]
    assert {r["chunk_id"] for r in result.rows} >= {chunks[0].id, chunks[1].id}  # retried / prose
    lines = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    assert len(lines) == len(result.failures)


def test_the_prefgen_source_returns_a_dataset(openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    ds = hooklab.load_source({"source": "prefgen", "docs": str(sample_docs), "llm": "openai:m",
                              "base_url": openai_server.base_url, "out": str(tmp_path / "o"),
                              "chunk": {"min_length": 300, "max_length": 700}})
    assert len(ds) > 0 and set(ds.column_names) >= {"prompt", "chosen", "rejected", "chunk_id"}


def test_a_custom_template_and_triple_count(openai_server, sample_docs, tmp_path):
    openai_server.responder = lambda req, i: json.dumps(triples_for(req["messages"][-1]["content"].split("TEXT:")[1].strip(), 2))
    cfg = config(openai_server, sample_docs, tmp_path / "o", triples_per_chunk=2,
                 prompt={"system": "", "template": "Give {n} ({n_words}) triples as JSON. TEXT: {extract}"})
    result = run_prefgen(cfg)
    assert openai_server.requests[0]["messages"][0]["content"].startswith("Give 2 (two) triples")
    assert result.stats["samples"]["generated"] == 2 * result.stats["chunks"]
    assert result.stats["triple_problems"] == 0


def test_config_errors(openai_server, sample_docs, tmp_path):
    with pytest.raises(ConfigError, match="extract"):
        run_prefgen(config(openai_server, sample_docs, tmp_path, prompt={"template": "no placeholder"}))
    with pytest.raises(ConfigError, match="BACKEND:MODEL"):
        run_prefgen(config(openai_server, sample_docs, tmp_path, llm="gpt-4o-mini"))
    with pytest.raises(hooklab.UnknownComponentError, match="nosuch"):
        run_prefgen(config(openai_server, sample_docs, tmp_path, llm="nosuch:m"))
    with pytest.raises(DataError, match=r"lower chunk\.min_length"):
        run_prefgen(config(openai_server, sample_docs, tmp_path, chunk={"min_length": 5000, "max_length": 9000}))
