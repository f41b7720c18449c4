"""`hooklab plugin new` for every kind: the generated package installs with pip into a fresh venv
and passes its own contract tests there."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

KINDS = ["probe", "schedule", "source", "backend", "judge", "trainer", "adapter"]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new venv that sees this environment's packages (hooklab-core, torch...) but none of the
    generated plugins until the test installs them."""
    import site
    import sysconfig

    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Layer this environment underneath (a .pth line per site dir): a venv's own
    # system_site_packages would see the base interpreter, not the environment running the tests.
    parents = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    # "import" lines of a .pth are executed: addsitedir also runs the parent's own .pth files
    # (editable installs live there).
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(parents)]
    Path(purelib, "_parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


@pytest.mark.slow
def test_every_kind_installs_and_passes_its_generated_tests(tmp_path, fresh_venv):
    for kind in KINDS:
        out = _cli("plugin", "new", f"gen-{kind}", "--kind", kind, "--dir", str(tmp_path))
        assert out.returncode == 0, out.stderr
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1", "PYTHONPATH": ""}
    for kind in KINDS:
        pkg = tmp_path / f"hooklab-gen-{kind}"
        inst = subprocess.run([str(fresh_venv), "-m", "pip", "install", "-q", "--no-deps",
                               "--no-build-isolation", str(pkg)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert inst.returncode == 0, f"{kind}: {inst.stderr[-1500:]}"
    listed = subprocess.run([str(fresh_venv), "-m", "hooklab_cli", "plugins", "--json"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    for kind in KINDS:
        assert f'"gen-{kind}"' in listed.stdout, kind
    for kind in KINDS:
        pkg = tmp_path / f"hooklab-gen-{kind}"
        res = subprocess.run([str(fresh_venv), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(pkg / "tests")],
                             capture_output=True, text=True, timeout=600, env=env, cwd=pkg)
        assert res.returncode == 0, f"{kind}: {res.stdout[-3000:]}"
        assert " passed" in res.stdout.splitlines()[-1]


def test_bad_kind_and_existing_folder_exit_2(tmp_path):
    bad = _cli("plugin", "new", "x-y", "--kind", "nope")
    assert bad.returncode == 2
    assert _cli("plugin", "new", "Bad_Name", "--kind", "probe", "--dir", str(tmp_path)).returncode == 2
    assert _cli("plugin", "new", "dup", "--kind", "probe", "--dir", str(tmp_path)).returncode == 0
    again = _cli("plugin", "new", "dup", "--kind", "probe", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
