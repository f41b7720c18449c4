"""`hooklab dpo` and `hooklab eval reward-accuracy`: real files, one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture(scope="module")
def cli():
    from hooklab_cli.main import _add_plugin_commands, cli

    _add_plugin_commands()
    return cli


def write_toml(path: Path, cfg: dict) -> Path:
    lines = []
    for k, v in cfg.items():
        lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dpo_trains_from_a_config_file(cli, tiny_path, pairs_file, fast_config, tmp_path) -> None:
    cfg = fast_config(tiny_path, tmp_path / "run", data=str(pairs_file), eval_fraction=0.25, max_steps=2)
    toml = write_toml(tmp_path / "dpo.toml", cfg)
    res = CliRunner().invoke(cli, ["dpo", "--config", str(toml), "--set", "beta=0.2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert summary["global_step"] == 2
    assert summary["data"]["rows"] == 192
    assert summary["before"]["n"] == 48 and summary["after"]["n"] == 48
    assert (tmp_path / "run" / "metrics.csv").is_file()


@pytest.mark.parametrize("args, message", [
    (["--set", "betta=0.2"], "betta: unknown option"),
    (["--set", "data=missing.jsonl"], "data file not found"),
    (["--trainer", "ppo"], "unknown DPO trainer 'ppo'"),
    (["--set", "resume=/no/such/ckpt"], "resume checkpoint not found"),
])
def test_bad_input_is_one_line_and_exit_code_2(cli, tiny_path, pairs_file, fast_config, tmp_path, args,
                                                message) -> None:
    toml = write_toml(tmp_path / "dpo.toml", fast_config(tiny_path, tmp_path / "r", data=str(pairs_file),
                                                         max_steps=1))
    res = CliRunner().invoke(cli, ["dpo", "--config", str(toml), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1


def test_missing_columns_in_pairs_exit_2(cli, tiny_path, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "good": "a", "bad": "b"}) + "\n")
    res = CliRunner().invoke(cli, ["eval", "reward-accuracy", "--model", str(tiny_path), "--pairs", str(bad)])
    assert res.exit_code == 2 and "lacks column(s)" in res.output and "Traceback" not in res.output


def test_reward_accuracy_command(cli, tiny_path, pairs, tmp_path) -> None:
    from hooklab.testing.models import save_tiny

    other = save_tiny("qwen2", tmp_path / "other", seed=1, hidden_size=32, num_layers=2, num_heads=2)
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps(r) + "\n" for r in pairs[1][:16]))
    out = tmp_path / "acc.json"
    res = CliRunner().invoke(cli, ["eval", "reward-accuracy", "--model", str(other), "--ref", str(tiny_path),
                                   "--pairs", str(held), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "reward accuracy " in res.output
    saved = json.loads(out.read_text())
    assert saved["n"] == 16 and saved["reference"] == "model" and len(saved["rows"]) == 16

    from hooklab.models import load_model
    from hooklab_dpo_trl.rewards import reward_accuracy

    pol, tok = load_model(str(other))
    ref, _ = load_model(str(tiny_path))
    assert saved["accuracy"] == reward_accuracy(pol, tok, pairs[1][:16], ref_model=ref).accuracy


@pytest.mark.slow
def test_accelerate_launch_with_two_cpu_processes(tiny_path, pairs_file, fast_config, tmp_path) -> None:
    cfg = fast_config(tiny_path, tmp_path / "ddp", data=str(pairs_file), max_steps=2, batch_size=4,
                      save_steps=2, evaluate=False)
    cfg.pop("device")
    toml = write_toml(tmp_path / "dpo.toml", cfg)
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "hooklab_cli", "dpo", "--config", str(toml), "--json"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["global_step"] == 2
    assert (tmp_path / "ddp" / "checkpoint-2").is_dir()
    state = json.loads((tmp_path / "ddp" / "checkpoint-2" / "trainer_state.json").read_text())
    # 2 processes x 4 pairs per step: 2 steps see 16 pairs
    assert state["train_batch_size"] == 4 and summary["train_tokens"] > 0
