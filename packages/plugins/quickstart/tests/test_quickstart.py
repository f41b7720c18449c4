"""hooklab quickstart end to end: the real command on a temporary folder, every report section
filled with real results, and the cached hooklab-tiny reused by the second run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hooklab

ENV = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "MPLBACKEND": "Agg"}
HOOKLAB = [sys.executable, "-m", "hooklab_cli"]
SECTIONS = ("tiny", "cpt", "lens", "capture", "prefgen", "judge", "dpo")


def _hooklab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*HOOKLAB, *args], capture_output=True, text=True, env=env or ENV, timeout=600)


def test_importing_the_entry_point_imports_nothing_heavy() -> None:
    code = ("import sys, hooklab_quickstart, hooklab_quickstart.plugin, hooklab_quickstart.config\n"
            "print(','.join(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'openai') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_quickstart_verb_is_registered(hooklab_plugins) -> None:
    from hooklab_cli.main import _add_plugin_commands, cli

    _add_plugin_commands()
    assert "quickstart" in cli.commands
    params = {p.name for p in cli.commands["quickstart"].params}
    assert {"out", "fast", "cache_dir"} <= params


def test_the_default_cache_is_the_user_cache_dir(monkeypatch, tmp_path) -> None:
    from hooklab_quickstart.steps import default_cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "hooklab" / "quickstart"


def test_the_cache_key_follows_the_config() -> None:
    from hooklab_quickstart.config import TinyConfig, preset

    assert preset("fast").tiny.key() == preset("fast").tiny.key()
    assert preset("fast").tiny.key() != preset("full").tiny.key()
    assert TinyConfig(steps=10).key() != TinyConfig(steps=11).key()


def test_an_unknown_preset_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(hooklab.ConfigError, match=r"unknown quickstart preset 'tset'.*test"):
        from hooklab_quickstart.pipeline import resolve_config

        resolve_config(preset_name="tset")
    res = _hooklab("quickstart", "--preset", "tset", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: unknown quickstart preset")


def test_out_must_be_a_folder(tmp_path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    res = _hooklab("quickstart", "--out", str(f), "--no-progress")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "is a file; give a folder" in res.stderr


def test_the_choice_judge_answers_in_the_seed_format_with_the_likelier_letter(tiny_tokenizer) -> None:
    import torch

    from hooklab.judges import Judge, pair_items
    from hooklab.testing import tiny_model
    from hooklab_quickstart.choice import ChoiceBackend

    model = tiny_model("gpt2", num_layers=1, hidden_size=32)
    backend = ChoiceBackend(model, tiny_tokenizer)
    rows = [{"id": str(i), "prompt": f"What is {i}?", "chosen": f"It is {i}.", "rejected": "No idea at all."}
            for i in range(4)]
    result = Judge(backend, {"order": "both"}).pairwise(pair_items(rows))
    assert all(c.verdict in ("A", "B") for v in result.verdicts for c in v.calls)  # never invalid
    call = result.verdicts[0].calls[0]
    la, lb = (float(x) for x in re.findall(r"log p\(\w\) = (-?\d+\.\d+)", call.raw))
    assert call.verdict == ("A" if la >= lb else "B")
    # the numbers are the model's: recompute log p of the two letters after the same text
    from hooklab.judges import pairwise_messages
    from hooklab_local.backend import render_prompt

    cfg = Judge(backend).config.pairwise
    a, b = (rows[0]["chosen"], rows[0]["rejected"]) if call.order == "12" else (rows[0]["rejected"], rows[0]["chosen"])
    text = render_prompt(tiny_tokenizer, pairwise_messages(cfg, rows[0]["prompt"], a, b)) + backend.cue
    ids = tiny_tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1], -1)
    assert abs(float(logp[backend._ids[0]]) - la) < 1e-3 and abs(float(logp[backend._ids[1]]) - lb) < 1e-3


def _check_run(out: Path) -> dict:
    """Every section of a finished run holds real results; returns summary.json."""
    import pyarrow.parquet as pq

    s = json.loads((out / "summary.json").read_text())
    r = s["results"]
    card = r["tiny"]["card"]
    assert card["parameters"] > 10_000 and card["held_out_loss_after"] < card["held_out_loss_before"]
    assert len(r["cpt"]["rows"]) == 2 and {row["replay"] for row in r["cpt"]["rows"]} == {0.0, 0.05}
    for row in r["cpt"]["rows"]:
        assert row["d2_after"] < row["d2_before"]  # it learned the new corpus
        assert row["d1_before"] == pytest.approx(r["cpt"]["rows"][0]["d1_before"])  # same starting model
    lens = r["lens"]
    assert len(lens["table"].splitlines()) == len(lens["points"]) + 2
    for p in (out / "03-lens" / "lens_top1.png", out / "03-lens" / "lens_rank.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table" in (out / "03-lens" / "lens_rank.html").read_text()
    cap = r["capture"]
    rows = sum(pq.read_metadata(out / "04-capture" / s).num_rows for s in cap["shards"])
    assert rows == cap["tokens"] > 0 and len(cap["stats"]) == 3
    assert all(st["shape"][0] == cap["tokens"] and st["mean_norm"] > 0 for st in cap["stats"])
    pairs = [json.loads(line) for line in (out / "05-prefgen" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == r["prefgen"]["pairs"] >= 8
    from pydoc_data.topics import topics

    for p in pairs:
        assert p["chosen"] in " ".join(topics[p["article_id"]].split()) and p["rejected"].strip()
        assert p["chosen"] != p["rejected"]
    seed = r["prefgen"]["seed_path"]
    assert seed["requests"] >= 1 and seed["failed_requests"] == 0  # the seed prompt fits the context
    judge = {row["judge"]: row for row in r["judge"]["rows"]}
    rnd = next(v for k, v in judge.items() if "random" in k)
    both = next(v for k, v in judge.items() if "both" in k)
    assert rnd["invalid_rate"] == 0 and both["invalid_rate"] == 0 and both["position_consistency"] is not None
    assert rnd["first_position_win_rate"] is not None
    assert r["judge"]["freeform_rows"][0]["items"] >= 1
    dpo = r["dpo"]
    assert dpo["before"]["n"] == dpo["after"]["n"] == dpo["held_out"]
    assert dpo["before"]["accuracy_ties_half"] == pytest.approx(0.5)  # adapter starts at zero: chance
    assert dpo["after"]["ties"] < dpo["after"]["n"]  # the adapter moved the policy off the reference
    metrics = json.loads((out / "07-dpo" / "metrics.json").read_text())
    margins = [m["rewards/margins"] for m in metrics if "rewards/margins" in m]
    assert margins and margins[-1] > 0  # it learned to prefer the chosen answers it trained on
    assert (Path(dpo["adapter"]) / "adapter_model.safetensors").is_file()

    html = (out / "report.html").read_text()
    for key in SECTIONS:
        body = html.split(f'id="{key}"', 1)[1].split("<h2", 1)[0]
        assert "<table" in body or "<pre>" in body, key
        assert not re.search(r">\s*(None|nan|null)\s*<", body), key  # no empty value rendered
    assert html.count("data:image/png;base64,") >= 8
    assert not re.search(r"<img[^>]+src=\"(?!data:)", html)  # self-contained
    return s


def test_fast_end_to_end_then_the_cached_model_is_reused(tmp_path) -> None:
    """`hooklab quickstart --fast` (the test preset's sizes via the hidden env var), twice."""
    cache = tmp_path / "cache"
    env = {**ENV, "HOOKLAB_QUICKSTART_PRESET": "test"}
    res = _hooklab("quickstart", "--fast", "--out", str(tmp_path / "a"), "--cache-dir", str(cache),
                   "--no-progress", env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "trained now" in res.stdout and "report.html" in res.stdout
    first = _check_run(tmp_path / "a")
    assert first["results"]["tiny"]["trained"] is True and first["preset"] == "test"
    [entry] = list(cache.iterdir())
    weights = entry / "model.safetensors"
    stamp = (weights.stat().st_mtime_ns, weights.stat().st_ino)

    from hooklab_quickstart import run

    again = run(tmp_path / "b", preset="test", cache_dir=cache, progress=False)
    assert again.results["tiny"]["trained"] is False
    assert "reused from the cache" in again.summary()
    assert (weights.stat().st_mtime_ns, weights.stat().st_ino) == stamp  # not written again
    assert not (tmp_path / "b" / "01-tiny" / "train").exists()  # no training run was started
    assert again.results["tiny"]["card"]["train_seconds"] == first["results"]["tiny"]["card"]["train_seconds"]
    second = _check_run(tmp_path / "b")
    # the same model and seeds: the same numbers downstream
    assert second["results"]["cpt"]["rows"][0]["d1_before"] == first["results"]["cpt"]["rows"][0]["d1_before"]


@pytest.mark.slow
def test_the_real_fast_command(tmp_path) -> None:
    """The README's command with its real --fast sizes (no hidden preset)."""
    env = {k: v for k, v in ENV.items() if k != "HOOKLAB_QUICKSTART_PRESET"}
    res = _hooklab("quickstart", "--fast", "--out", str(tmp_path / "q"), "--cache-dir", str(tmp_path / "c"),
                   env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    s = _check_run(tmp_path / "q")
    assert s["preset"] == "fast"
    dpo = s["results"]["dpo"]
    assert dpo["after"]["accuracy_ties_half"] > dpo["before"]["accuracy_ties_half"]  # held-out pairs
    assert "1/8" in res.stderr and "7/8" in res.stderr  # progress shown
    for line in ("1 hooklab-tiny", "2 forgetting", "7 DPO + LoRA", "8 report"):
        assert line in res.stdout
