"""``hooklab schedule plot``: table, PNG, config files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _hooklab(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "HOOKLAB_STRICT_PLUGINS": "1"}
    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_plot_from_flags_writes_a_png_and_a_table(tmp_path) -> None:
    out = tmp_path / "lr.png"
    r = _hooklab("schedule", "plot", "--name", "cosine", "--set", "total_steps=100",
                 "--set", "peak_lr=0.01", "--set", "initial_lr=0.0001", "--set", "warmup_fraction=0.2",
                 "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    rows = [line.split() for line in r.stdout.splitlines()[2:]]
    table = {int(s): float(v) for s, v in rows}
    assert table[0] == pytest.approx(1e-4) and table[20] == pytest.approx(1e-2)
    assert table[99] < 2e-5


def test_plot_reads_the_schedule_table_of_a_config_file(tmp_path) -> None:
    cfg = tmp_path / "cpt.toml"
    cfg.write_text(
        '[schedule]\nname = "multi-phase"\n'
        '[[schedule.phases]]\nsteps = 30\npeak_lr = 1e-3\nwarmup_steps = 3\n'
        '[[schedule.phases]]\nsteps = 20\npeak_lr = 5e-4\nwarmup_steps = 2\n'
    )
    r = _hooklab("schedule", "plot", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["total_steps"] == 50 and max(data["lr"][30:]) == pytest.approx(5e-4)


def test_plot_takes_total_steps_from_a_trainer_configs_max_steps(tmp_path) -> None:
    cfg = tmp_path / "cpt.toml"
    cfg.write_text('max_steps = 40\n[schedule]\nname = "cosine"\npeak_lr = 1e-3\nwarmup_steps = 4\n')
    r = _hooklab("schedule", "plot", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total_steps"] == 40


@pytest.mark.parametrize("args,fragment", [
    (["--name", "cosine", "--set", "total_steps=10", "--set", "peak_lr=1e-3", "--set", "warmup_steps=20"],
     "longer than the run"),
    (["--name", "cosine", "--set", "total_steps=10", "--set", "peak_lr=1e-3", "--set", "min_lr=1"],
     "above peak_lr"),
    (["--name", "cosinus", "--set", "total_steps=10"], "Did you mean: cosine"),
    ([], "give a config file"),
    (["missing.toml"], "not found"),
])
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], fragment: str) -> None:
    r = _hooklab("schedule", "plot", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
