"""`hooklab judge` through hooklab-openai against the scripted OpenAI-compatible server, as a user
runs it: a subprocess, `--base-url` pointing at 127.0.0.1, the server playing a biased judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hooklab.testing.judges import BiasedJudge, sample_pairs

pytest.importorskip("hooklab_openai")
pytest.importorskip("hooklab_judge")


def hooklab(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_judge_pairwise_against_a_local_server_with_base_url(openai_server, tmp_path):
    openai_server.responder = BiasedJudge(first_bias=0.7)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in sample_pairs(200)))
    out = tmp_path / "run"
    res = hooklab("judge", "pairwise", "--pairs", str(pairs), "--judge", "openai:scripted",
                  "--base-url", openai_server.base_url, "--order", "both", "--concurrency", "16",
                  "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert len(openai_server.requests) == 400
    row = json.loads((out / "report.json").read_text())["judges"][0]
    assert row["judge"] == "openai:scripted" and row["position_consistency"] == pytest.approx(0.6, abs=0.08)
    shown = hooklab("judge", "report", str(out))
    assert shown.returncode == 0 and "openai:scripted" in shown.stdout


def test_judge_without_a_key_for_a_remote_server_is_one_line(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps(sample_pairs(1)[0]) + "\n")
    res = hooklab("judge", "pairwise", "--pairs", str(pairs), "--judge", "openai:gpt-4o-mini",
                  "--out", str(tmp_path / "run"))
    assert res.returncode == 2 and "OPENAI_API_KEY" in res.stderr and "Traceback" not in res.stderr


def test_an_openai_and_a_local_judge_in_one_command(openai_server, tmp_path):
    pytest.importorskip("hooklab_local")
    from hooklab.testing import save_tiny

    model = save_tiny("gpt2", tmp_path / "tiny", num_layers=1, hidden_size=32)
    openai_server.responder = BiasedJudge(first_bias=0.7)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in sample_pairs(12)))
    out = tmp_path / "panel"
    res = hooklab("judge", "pairwise", "--pairs", str(pairs), "--judge", "openai:scripted",
                  "--judge", f"local:{model}", "--base-url", openai_server.base_url, "--set", "max_tokens=8",
                  "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert len(openai_server.requests) == 12  # the local judge did not go to the server
    report = json.loads((out / "report.json").read_text())
    assert [r["judge"] for r in report["judges"]] == ["openai:scripted", f"local:{model}"]
    assert report["agreement"]["method"] == "cohen"
