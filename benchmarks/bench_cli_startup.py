"""CLI start time with every installed package vs a bare `python -c pass` (goal: no torch import)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from harness import main


def _run(cmd: list[str]):
    def go() -> dict:
        subprocess.run(cmd, check=True, capture_output=True)
        return {}
    return go


def bare_python(p):
    return _run([sys.executable, "-c", "pass"])


def import_torch(p):
    return _run([sys.executable, "-c", "import torch"])


def hooklab_help(p):
    exe = shutil.which("hooklab") or sys.executable
    cmd = [exe, "--help"] if exe != sys.executable else [sys.executable, "-m", "hooklab_cli", "--help"]
    return _run(cmd)


def hooklab_plugins(p):
    return _run([sys.executable, "-m", "hooklab_cli", "plugins"])


if __name__ == "__main__":
    main("cli-startup", {"bare-python": bare_python, "hooklab-help": hooklab_help,
                         "hooklab-plugins": hooklab_plugins, "import-torch": import_torch},
         baseline="bare-python", repeat=5,
         notes="Each variant spawns the command; seconds is the best of 5. `import-torch` shows what "
               "`hooklab --help` would cost if it imported torch.")
