"""Third-party plugins seen from outside: installed with pip, found through their entry points.

The example fixture is pip-installed by `nox -s integration`; the broken fixture is installed here
with ``pip --target`` into a temporary folder and put on PYTHONPATH of a subprocess, so that it
never breaks the other tests.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hooklab

ROOT = Path(__file__).resolve().parents[1]


def _installed(dist: str) -> bool:
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False


needs_example = pytest.mark.skipif(not _installed("hooklab-example-fixture"),
                                   reason="install tests/fixtures/hooklab-example (nox -s integration does)")


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


@needs_example
def test_example_plugin_is_discovered_and_usable_from_python():
    comp = hooklab.components("schedule")["example-step"]
    assert comp.distribution == "hooklab-example-fixture"
    sched = hooklab.get("schedule", "example-step", base_lr=0.8, every=5)
    assert [sched.lr(s) for s in (0, 4, 5, 10)] == [0.8, 0.8, 0.4, 0.2]


@needs_example
def test_example_plugin_is_usable_from_the_cli():
    out = cli("example-lr", "20", "--every", "10")
    assert out.returncode == 0 and out.stdout.strip() == "0.25"
    rows = {r["name"]: r for r in json.loads(cli("plugins", "--json").stdout)}
    assert rows["example-fixture"]["components"] == {"schedule": ["example-step"]}
    assert "hooklab-example-fixture==0.1.0" in cli("plugins", "--requirements").stdout.split()


@pytest.fixture(scope="module")
def broken_path(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("broken-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT / "tests/fixtures/broken-plugin")],
                   check=True, capture_output=True, timeout=300)
    return str(target)


def _env(path: str, strict: bool) -> dict:
    env = {"PYTHONPATH": path + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["HOOKLAB_STRICT_PLUGINS"] = "1" if strict else "0"
    return env


def test_broken_plugins_leave_hooklab_plugins_working(broken_path):
    out = cli("plugins", "--json", env=_env(broken_path, strict=False))
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert "hooklab_this_module_does_not_exist" in rows["broken-import"]["errors"][0]
    assert "exception inside register_sources" in rows["broken-hook"]["errors"][0]
    assert "jsonl" in rows["core"]["components"]["source"]  # everything else still works
    text = cli("plugins", env=_env(broken_path, strict=False))
    assert text.returncode == 0 and "ERROR:" in text.stdout
    assert cli("list", "source", env=_env(broken_path, strict=False)).returncode == 0


def test_broken_plugins_fail_in_strict_mode(broken_path):
    out = cli("plugins", env=_env(broken_path, strict=True))
    assert out.returncode == 2
    assert "broken" in out.stderr and "HOOKLAB_STRICT_PLUGINS" in out.stderr
    assert "Traceback" not in out.stderr
