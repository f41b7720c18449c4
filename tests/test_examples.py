"""The example third-party plugins under examples/, pip-installed by `nox -s integration`, used
from Python and from the CLI."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys

import pytest

import hooklab


def _installed(*dists: str) -> bool:
    try:
        for d in dists:
            md.version(d)
        return True
    except md.PackageNotFoundError:
        return False


pytestmark = pytest.mark.skipif(not _installed("hooklab-steering", "hooklab-onecycle", "hooklab-schedules"),
                                reason="install examples/* and hooklab-schedules (nox -s integration does)")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True, text=True, timeout=300)


def test_both_examples_are_discovered_as_third_party_plugins():
    assert hooklab.components("probe")["steer"].distribution == "hooklab-steering"
    assert hooklab.components("schedule")["one-cycle"].distribution == "hooklab-onecycle"


def test_one_cycle_through_the_schedules_cli(tmp_path):
    out = cli("schedule", "plot", "--name", "one-cycle", "--set", "total_steps=50", "--set", "max_lr=0.01",
              "--json", "--out", str(tmp_path / "lr.png"))
    assert out.returncode == 0, out.stderr
    lrs = json.loads(out.stdout)["lr"]
    ours = hooklab.get("schedule", "one-cycle", total_steps=50, max_lr=0.01)
    assert lrs == [ours.lr(s) for s in range(50)]
    assert max(lrs) == pytest.approx(0.01) and (tmp_path / "lr.png").stat().st_size > 0


def test_steer_cli_on_a_saved_tiny_model(tmp_path):
    from hooklab.testing import save_tiny

    path = save_tiny("llama", tmp_path / "tiny")
    out = cli("steer", str(path), "the cat sat on", "--point", "layers.1", "--plus", "good", "--minus", "bad",
              "--scale", "40", "--max-new-tokens", "3", "--out", str(tmp_path / "steer.json"))
    assert out.returncode == 0, out.stderr
    saved = json.loads((tmp_path / "steer.json").read_text())
    assert len(saved["rows"]) > 0 and set(saved["generations"]) == {"base", "steered"}
    assert "top1_steered" in out.stdout
    bad = cli("steer", str(path), "text", "--point", "layers.99", "--plus", "a", "--minus", "b")
    assert bad.returncode == 2 and "unknown hook point" in bad.stderr and "Traceback" not in bad.stderr
