"""`hooklab prefgen`: end to end against the scripted server, one-line errors, and SIGKILL + rerun
(a real subprocess killed mid-run) making no duplicate requests and the same dataset."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import good_llm

from hooklab.testing import Reply


@pytest.fixture
def cli():
    from hooklab_cli import main as cli_main

    cli_main._add_plugin_commands()

    def invoke(*args):
        return CliRunner().invoke(cli_main.cli, list(args), catch_exceptions=False)

    return invoke


def args(openai_server, docs, out, *extra):
    return ["prefgen", "--docs", str(docs), "--llm", "openai:gpt-4o-mini", "--base-url",
            openai_server.base_url, "--out", str(out), "--set", "chunk.min_length=300",
            "--set", "chunk.max_length=700", *extra]


def test_prefgen_writes_the_dataset_and_a_report(cli, openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    res = cli(*args(openai_server, sample_docs, tmp_path / "o", "--concurrency", "3", "--triples-per-chunk", "5"))
    assert res.exit_code == 0, res.output
    assert "after dedupe" in res.output and "input tokens" in res.output
    assert "chunks |" in res.output  # the progress line (done, rate, errors, tokens, cost)
    rows = (tmp_path / "o" / "preference.jsonl").read_text().splitlines()
    assert rows and set(json.loads(rows[0])) >= {"prompt", "chosen", "rejected", "article_id", "chunk_id"}
    assert (tmp_path / "o" / "preference.parquet").is_file() and (tmp_path / "o" / "journal.db").is_file()


def test_prices_from_the_command_line(cli, openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    res = cli(*args(openai_server, sample_docs, tmp_path / "o", "--price-in", "1000", "--price-out", "0", "--quiet"))
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert res.exit_code == 0 and stats["cost_usd"] == pytest.approx(stats["input_tokens"] * 1000 / 1e6)


def test_a_config_file_and_overrides(cli, openai_server, sample_docs, tmp_path):
    openai_server.responder = good_llm
    cfg = tmp_path / "prefgen.toml"
    cfg.write_text(f'docs = "{sample_docs}"\nllm = "openai:m"\n[filters]\nmin_length = 0\n'
                   f'[chunk]\nmin_length = 300\nmax_length = 700\n')
    res = cli("prefgen", "--config", str(cfg), "--base-url", openai_server.base_url,
              "--out", str(tmp_path / "o"), "--set", "filters.dedupe=false", "--quiet")
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["samples"]["dedupe"] == stats["samples"]["format"]  # dedupe off


def test_failed_requests_exit_1_and_say_how_to_resume(cli, openai_server, sample_docs, tmp_path):
    openai_server.default = Reply.server_error()
    res = cli(*args(openai_server, sample_docs, tmp_path / "o", "--max-retries", "0", "--quiet"))
    assert res.exit_code == 1
    assert "rerun the same command" in res.output
    openai_server.default = "ok"
    openai_server.responder = good_llm
    again = cli(*args(openai_server, sample_docs, tmp_path / "o", "--quiet"))
    assert again.exit_code == 0 and json.loads((tmp_path / "o" / "stats.json").read_text())["failed_requests"] == 0


@pytest.mark.parametrize("extra,message", [
    (["--docs", "missing.json"], "documents file not found"),
    (["--llm", "gpt-4o-mini"], "BACKEND:MODEL"),
    (["--llm", "nosuch:m"], "unknown backend 'nosuch'"),
    (["--set", "filters.min_lenght=5"], "min_lenght: unknown option"),
    (["--template", "nope.txt"], "prompt template not found"),
])
def test_bad_input_is_one_line_and_exit_code_2(openai_server, sample_docs, tmp_path, extra, message):
    base = ["prefgen", "--docs", str(sample_docs), "--llm", "openai:m", "--base-url",
            openai_server.base_url, "--out", str(tmp_path / "o")]
    out = subprocess.run([sys.executable, "-m", "hooklab_cli", *base, *extra], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_out_is_a_usage_error(cli, sample_docs):
    from hooklab_cli import main as cli_main

    res = CliRunner().invoke(cli_main.cli, ["prefgen", "--docs", str(sample_docs)])
    assert res.exit_code == 2 and "missing --out" in res.output


def _finished_prompts(db):
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT request FROM requests WHERE status='ok'").fetchall()
    except sqlite3.OperationalError:  # the journal is being created
        rows = []
    finally:
        con.close()
    return {json.loads(r)["messages"][-1]["content"] for (r,) in rows}


@pytest.mark.slow
def test_sigkill_then_rerun_makes_no_duplicate_requests_and_the_same_dataset(openai_server, sample_docs, tmp_path):
    def slow_llm(req, i):
        return Reply(content=good_llm(req, i), delay=0.15)

    openai_server.responder = slow_llm
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1"}
    env.pop("OPENAI_API_KEY", None)
    small = ["--set", "chunk.min_length=150", "--set", "chunk.max_length=300", "--quiet"]
    cmd = [sys.executable, "-m", "hooklab_cli", *args(openai_server, sample_docs, tmp_path / "run"),
           *small, "--concurrency", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = tmp_path / "run" / "journal.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and len(_finished_prompts(db)) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-500:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    finished = _finished_prompts(db)
    sent_before = len(openai_server.requests)
    total = len({r["messages"][-1]["content"] for r in openai_server.requests})

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = [r["messages"][-1]["content"] for r in openai_server.requests[sent_before:]]
    assert not finished & set(after), "a finished request was sent again"
    assert len(after) == len(set(after))
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["from_journal"] == len(finished) and stats["sent"] == len(after)
    assert stats["chunks"] == len(finished) + len(after) >= total

    fresh = subprocess.run([*cmd[:cmd.index("--out") + 1], str(tmp_path / "fresh"), *cmd[cmd.index("--out") + 2:]],
                           env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    resumed = (tmp_path / "run" / "preference.jsonl").read_text()
    assert resumed and resumed == (tmp_path / "fresh" / "preference.jsonl").read_text()
