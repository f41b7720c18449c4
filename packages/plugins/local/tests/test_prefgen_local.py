"""prefgen with the local backend, offline: the seed-format sample through in-process generation.

A randomly initialised tiny model writes nonsense, so its answers are counted as parse failures
with their raw text (real plumbing, empty dataset). A tiny model that has memorised a good answer
for a one-article input shows the full path to a filtered preference dataset offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hooklab.testing import tiny_model, tiny_tokenizer
from hooklab_local.backend import LocalBackend, render_prompt

prefgen = pytest.importorskip("hooklab_prefgen.pipeline")

SAMPLE = Path(prefgen.__file__).resolve().parents[2] / "examples" / "sample_articles.json"


@pytest.mark.slow
def test_random_tiny_model_runs_the_whole_pipeline_and_counts_parse_failures(tmp_path):
    if not SAMPLE.is_file():  # an installed (non-editable) hooklab-prefgen has no examples folder
        pytest.skip("sample_articles.json not found next to hooklab-prefgen")
    model = tiny_model("gpt2", num_layers=1, hidden_size=32, max_positions=2048)
    backend = LocalBackend.from_model(model, tiny_tokenizer(), name="tiny-gpt2", batch_size=3)
    cfg = {"docs": str(SAMPLE), "llm": "local:tiny-gpt2", "out": str(tmp_path / "o"),
           "prompt": {"max_tokens": 8, "temperature": None}, "runner": {"concurrency": 3}}
    result = prefgen.run_prefgen(cfg, backend=backend)
    s = result.stats
    assert s["requests"] == s["chunks"] == 3 and s["failed_requests"] == 0
    assert s["parse_failures"] == 3 and s["samples"]["generated"] == 0 and len(result) == 0
    assert all(f["kind"] == "parse" and isinstance(f["raw"], str) for f in result.failures)
    assert s["input_tokens"] > 1000 and 3 <= s["output_tokens"] <= 24
    assert (tmp_path / "o" / "preference.parquet").is_file()


ARTICLE = ("Preference pairs teach a model which of two answers is better, not only what a good "
           "answer looks like. The chosen answer is copied word for word from the source text, so "
           "it is always grounded in the document it came from.")


@pytest.mark.slow
def test_a_memorising_tiny_model_yields_a_filtered_preference_dataset_offline(tmp_path):
    import torch

    docs = tmp_path / "articles.json"
    docs.write_text(json.dumps({"artifact_data": [{
        "id": "a1", "content": ARTICLE, "platform": "hooklab.example", "author_id": "x",
        "author_full_name": "hooklab contributors", "link": "https://hooklab.example/a1"}]}))
    cfg = prefgen.PrefgenConfig.model_validate({
        "docs": str(docs), "llm": "local:memorised", "out": str(tmp_path / "o"),
        "triples_per_chunk": 1, "chunk": {"min_length": 100, "max_length": 400},
        "prompt": {"system": "", "template": "One triple as JSON. Extract: {extract}",
                   "temperature": None},
        "runner": {"concurrency": 1}})
    chunks = prefgen.build_chunks(prefgen.load_documents(cfg.docs), cfg.chunk)
    [request] = prefgen.build_requests(chunks, cfg)
    second = chunks[0].text.split(". ")[1]
    answer = json.dumps({"preference_triples": [{
        "instruction": "Why is the chosen answer grounded?",
        "generated_answer": "Because it comes from the model.",
        "extracted_answer": second}]})

    tok = tiny_tokenizer()
    model = tiny_model("gpt2", num_layers=2, hidden_size=64, seed=0)
    ids = tok(render_prompt(tok, request.messages) + answer, return_tensors="pt",
              add_special_tokens=False)["input_ids"]
    ids = torch.cat([ids, torch.tensor([[tok.eos_token_id]])], dim=1)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # about 35 steps reach the threshold
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.05:
            break
    model.eval()

    n_answer = len(tok(answer, add_special_tokens=False)["input_ids"])
    cfg.prompt.max_tokens = n_answer + 8
    backend = LocalBackend.from_model(model, tok, name="memorised")
    result = prefgen.run_prefgen(cfg, backend=backend)
    assert result.stats["parse_failures"] == 0, result.failures
    assert len(result) == 1
    row = result.rows[0]
    assert row["chosen"] == second and row["rejected"] == "Because it comes from the model."
    assert row["model"] == "memorised" and row["verbatim"] and row["article_id"] == "a1"
    assert result.stats["samples"]["dedupe"] == 1


@pytest.mark.slow
def test_the_cli_runs_offline_with_a_local_model_path(tmp_path):
    from click.testing import CliRunner

    from hooklab.testing import save_tiny
    from hooklab_cli import main as cli_main

    if not SAMPLE.is_file():
        pytest.skip("sample_articles.json not found next to hooklab-prefgen")
    path = save_tiny("gpt2", tmp_path / "m", num_layers=1, hidden_size=32, max_positions=2048)
    cli_main._add_plugin_commands()
    res = CliRunner().invoke(cli_main.cli, [
        "prefgen", "--docs", str(SAMPLE), "--llm", f"local:{path}", "--out", str(tmp_path / "o"),
        "--concurrency", "3", "--set", "prompt.max_tokens=4", "--set", "backend.device=cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["backend"] == "local" and stats["model"] == str(path)
    assert stats["requests"] == 3 and stats["failed_requests"] == 0 and stats["parse_failures"] == 3
