"""Every set-up and test entry point of hooklab.

    nox -t ci               what CI and the README run: every package on CPU, integration, lint
    nox -s tests            the package x device matrix (gpu cells skip without CUDA)
    nox -s integration      everything installed together, root tests/ (+ the fixture plugins)
    nox -s lint             ruff on everything, mypy on core and cli
    nox -s bench            the benchmarks/ scripts (side-by-side ratios)

torch is installed first in every venv: ``torch==2.13.0`` by default (a CPU build on the project's
machines; a bare ``torch`` would pull a multi-GB CUDA build). Set ``HOOKLAB_TORCH_SPEC`` to use
another one, e.g. ``HOOKLAB_TORCH_SPEC="torch>=2.4"``.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
TORCH = os.environ.get("HOOKLAB_TORCH_SPEC", "torch==2.13.0")
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["tests", "integration", "lint"]

ENV = {"HOOKLAB_STRICT_PLUGINS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
       "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2",
       "MPLBACKEND": "Agg"}


def _packages() -> dict[str, Path]:
    pkgs = {"core": ROOT / "packages/core", "cli": ROOT / "packages/cli"}
    plugins = ROOT / "packages/plugins"
    if plugins.is_dir():
        for p in sorted(plugins.iterdir()):
            if (p / "pyproject.toml").is_file():
                pkgs[p.name] = p
    return pkgs


PACKAGES = _packages()


def _extras(path: Path) -> set[str]:
    data = tomllib.loads((path / "pyproject.toml").read_text())
    return set(data.get("project", {}).get("optional-dependencies", {}))


def _spec(path: Path, *extras: str) -> str:
    have = [e for e in extras if e in _extras(path)]
    return f"{path}[{','.join(have)}]" if have else str(path)


def _project(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text()).get("project", {})


def _local_dists() -> dict[str, Path]:
    """First-party distribution name -> source folder (packages, examples, test fixtures)."""
    dirs = [*PACKAGES.values(), *(ROOT / "examples").glob("*"), *(ROOT / "tests/fixtures").glob("*")]
    return {_project(d)["name"]: d for d in dirs if (d / "pyproject.toml").is_file()}


def _req_name(req: str) -> str:
    return re.split(r"[\[<>=!~; ]", req.strip(), maxsplit=1)[0].lower()


def _first_party_closure(paths: list[Path], extras: tuple[str, ...] = ("test",)) -> list[Path]:
    """``paths`` plus every first-party package they need (dependencies and the given extras),
    recursively, dependencies first: those are installed from this checkout, never looked up on an
    index."""
    local = _local_dists()
    order: list[Path] = []
    visiting: set[Path] = set()

    def visit(path: Path) -> None:
        if path in order or path in visiting:
            return
        visiting.add(path)
        proj = _project(path)
        reqs = list(proj.get("dependencies", []))
        for extra in extras:
            reqs += proj.get("optional-dependencies", {}).get(extra, [])
        for r in reqs:
            if _req_name(r) in local:
                visit(local[_req_name(r)])
        order.append(path)

    for p in paths:
        visit(p)
    return order


# The heavy third-party wheels every model-side cell needs. They are installed once into a shared
# base venv that each session's venv layers underneath its own site-packages (a .pth file), instead
# of being unpacked again in every cell (about 45 s a cell on 2 cores). First-party packages, and
# every other third-party dependency, are still installed per cell, so a package that forgets a
# first-party dependency still fails its own cell. HOOKLAB_NOX_BASE=0 turns the layer off.
BASE_PACKAGES = ["numpy", "pandas", "pyarrow", "datasets", "transformers", "tokenizers", "safetensors"]
USE_BASE = os.environ.get("HOOKLAB_NOX_BASE", "1") != "0"


def _base_site() -> str:
    """site-packages of the shared base venv (.nox/_base), created on first use."""
    import hashlib
    import subprocess
    import sys

    base = ROOT / ".nox" / "_base"
    stamp = base / "hooklab-base.txt"
    want = hashlib.sha256("\n".join([TORCH, *BASE_PACKAGES]).encode()).hexdigest()
    py = base / "bin" / "python"
    if not (stamp.is_file() and stamp.read_text() == want and py.exists()):
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(base)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", TORCH], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *BASE_PACKAGES], check=True)
        stamp.write_text(want)
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _layer_base(session: nox.Session) -> None:
    purelib = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          silent=True)
    line = f"import site; site.addsitedir({_base_site()!r})\n"
    Path(str(purelib).strip(), "_hooklab_nox_base.pth").write_text(line)


def _install(session: nox.Session, *paths: Path, torch: bool = True) -> None:
    """torch first (from the shared base layer, see BASE_PACKAGES), then first-party packages one
    by one in dependency order (pip does not let an editable path satisfy another local package's
    requirement in a single call)."""
    if torch and USE_BASE:
        _layer_base(session)
    elif torch:
        session.install(TORCH)
    core = ROOT / "packages/core"
    session.install("-e", _spec(core, "testing"), "pytest-timeout")
    for p in _first_party_closure([*paths]):
        if p != core:
            session.install("-e", _spec(p, "test"))


def _has_cuda() -> bool:
    return shutil.which("nvidia-smi") is not None


@nox.session
@nox.parametrize("device", [nox.param("cpu", id="cpu", tags=["ci"]), nox.param("gpu", id="gpu")])
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str, device: str) -> None:
    """One package's own tests in a venv with only core + that package (+ its test extras)."""
    if device == "gpu" and not _has_cuda():
        session.skip("no CUDA device here")
    path = PACKAGES[package]
    _install(session, path)
    marker = "gpu" if device == "gpu" else "not gpu"
    session.run("pytest", str(path / "tests"), "-m", marker, "-p", "no:cacheprovider",
                "--timeout=900", *session.posargs, env=ENV, success_codes=[0, 5] if device == "gpu" else [0])


@nox.session(tags=["ci"])
def integration(session: nox.Session) -> None:
    """Everything installed together (+ the fixture plugins under tests/fixtures), root tests/."""
    _install(session, *PACKAGES.values())
    # The example third-party plugin is installed like a user would; the broken fixture is not
    # (tests install it with pip --target into a temporary folder, see test_fixture_plugins.py).
    session.install("hatchling", "-e", str(ROOT / "tests/fixtures/hooklab-example"))
    examples = sorted(p.parent for p in (ROOT / "examples").glob("*/pyproject.toml"))
    for example in examples:
        session.install("-e", str(example))
    session.run("pytest", "tests", *(str(e / "tests") for e in examples), "-p", "no:cacheprovider",
                "--timeout=1200", *session.posargs, env=ENV)


@nox.session(tags=["ci"])
def lint(session: nox.Session) -> None:
    """ruff everywhere; mypy on core and cli."""
    session.install("ruff>=0.6", "mypy>=1.10", "pydantic>=2.5", "types-PyYAML", "pluggy>=1.3",
                    "click>=8.1", "platformdirs")
    session.run("ruff", "check", ".")
    session.run("mypy", "packages/core/src/hooklab", "packages/cli/src/hooklab_cli",
                "--exclude", "hooklab/testing/")


@nox.session
def notorch(session: nox.Session) -> None:
    """hooklab-core, -cli, -openai and -prefgen (+ test extras) in a venv WITHOUT torch or
    transformers: proves the OpenAI path (backend, runner, journal, prefgen, CLI) needs neither."""
    pkgs = [ROOT / "packages/core", ROOT / "packages/cli", ROOT / "packages/plugins/openai",
            ROOT / "packages/plugins/prefgen"]
    session.install("pytest-timeout")
    for p in pkgs:  # dependencies first, one by one (see _install)
        session.install("-e", _spec(p, "test"))
    session.run("python", "-c", "import importlib.util as u, sys; bad = [m for m in ('torch', "
                "'transformers') if u.find_spec(m)]; sys.exit(f'installed: {bad}' if bad else 0)")
    session.run("pytest", str(ROOT / "packages/core/tests/test_llm.py"),
                str(ROOT / "packages/plugins/openai/tests"), str(ROOT / "packages/plugins/prefgen/tests"),
                "-p", "no:cacheprovider", "--timeout=600", *session.posargs, env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (side by side with the anchors; ratios appended to RESULTS.md)."""
    _install(session, *PACKAGES.values())
    session.install("psutil")
    scripts = session.posargs or sorted(str(p) for p in (ROOT / "benchmarks").glob("bench_*.py"))
    for script in scripts:
        session.run("python", script, env=ENV)


@nox.session
def quickstart(session: nox.Session) -> None:
    """Everything installed together, then `hooklab quickstart --fast` (offline, CPU; the report is
    quickstart-out/report.html). Pass options after `--`, e.g. `nox -s quickstart -- --out other`
    or `-- --full` for the full-size run."""
    _install(session, *PACKAGES.values())
    args = list(session.posargs)
    if "--full" in args:
        args.remove("--full")
    else:
        args.insert(0, "--fast")
    if "--out" not in args:
        args += ["--out", "quickstart-out"]
    session.run("hooklab", "quickstart", *args, env=ENV)
