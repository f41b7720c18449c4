"""`hooklab plugins --requirements` round-trips: installing the printed list into an empty venv
(from wheels built from this checkout; first-party packages are not on an index here) gives the
same plugin set, and the new venv prints the same list."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sources() -> dict[str, Path]:
    dirs = [ROOT / "packages/core", ROOT / "packages/cli", *(ROOT / "packages/plugins").glob("*"),
            *(ROOT / "examples").glob("*"), *(ROOT / "tests/fixtures").glob("*")]
    out = {}
    for d in dirs:
        if (d / "pyproject.toml").is_file():
            out[tomllib.loads((d / "pyproject.toml").read_text())["project"]["name"]] = d
    return out


@pytest.mark.slow
def test_printed_requirements_reinstall_the_same_plugin_set(tmp_path):
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "0"}
    printed = subprocess.run([sys.executable, "-m", "hooklab_cli", "plugins", "--requirements"],
                             capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    reqs = [line for line in printed.splitlines() if line.strip()]
    assert "hooklab-core==0.1.0" in reqs
    sources = _sources()
    wheels = tmp_path / "wheels"
    for req in reqs:
        dist = req.split("==")[0]
        assert dist in sources, f"{dist} is not built from this checkout"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(wheels), str(sources[dist])], check=True, capture_output=True, timeout=300)
    (tmp_path / "plugins.txt").write_text(printed)
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(root)
    py = str(root / "bin" / "python")
    # hooklab's own light dependencies (the CLI needs them; torch & co. are not needed to list plugins)
    subprocess.run([py, "-m", "pip", "install", "-q", "pluggy>=1.3", "pydantic>=2.5", "pyyaml>=6",
                    "platformdirs>=3", "click>=8.1"], check=True, capture_output=True, timeout=600)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--find-links", str(wheels),
                    "-r", str(tmp_path / "plugins.txt")], check=True, capture_output=True, timeout=600)
    again = subprocess.run([py, "-m", "hooklab_cli", "plugins", "--requirements"], capture_output=True,
                           text=True, timeout=120, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == printed.splitlines()
