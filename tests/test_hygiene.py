"""Project hygiene: every hook spec documented and tested; no plugin imports torch on import."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hooklab
from hooklab import hookspecs

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
HEAVY = ("torch", "transformers", "trl", "peft", "openai", "datasets", "pyarrow", "pandas", "accelerate")


def _plugin_entry_points() -> list[tuple[str, str]]:
    """(package dir, module) for every plugin entry point declared in packages/plugins/* and
    examples/*."""
    out = []
    pyprojects = [*(ROOT / "packages/plugins").glob("*/pyproject.toml"), *(ROOT / "examples").glob("*/pyproject.toml")]
    for pyproject in sorted(pyprojects):
        data = tomllib.loads(pyproject.read_text())
        eps = data.get("project", {}).get("entry-points", {}).get("hooklab.plugins", {})
        out += [(pyproject.parent.name, module) for module in eps.values()]
    return out


def test_specs_exist():
    assert len(SPECS) == 8


@pytest.mark.parametrize("spec", SPECS)
def test_every_hook_spec_is_documented(spec):
    doc = (ROOT / "docs/writing-plugins.md").read_text()
    assert re.search(rf"^#+ .*`{spec}", doc, re.M), f"docs/writing-plugins.md has no section for {spec}"


class EverySpec:
    """A plugin implementing every component hook spec, each registering one component."""


for _spec, _kind in hookspecs.COMPONENT_HOOKS.items():
    def _impl(self, register, _kind=_kind):
        register(f"hygiene-{_kind}", lambda **opts: ("built", opts), description=f"test {_kind}")

    _impl.__name__ = _spec
    setattr(EverySpec, _spec, hooklab.hookimpl(specname=_spec)(_impl))


def _commands_impl(self, cli):
    import click

    cli.add_command(click.Command("hygiene-verb", callback=lambda: click.echo("verb ran")))


EverySpec.register_commands = hooklab.hookimpl(_commands_impl)


@pytest.mark.parametrize("spec", SPECS)
def test_every_hook_spec_is_exercised(spec, hooklab_plugins):
    """Each spec is called by hooklab and what it registers is usable."""
    assert hooklab_plugins.register(EverySpec())
    if spec == "register_commands":
        from click.testing import CliRunner

        from hooklab_cli import main as cli_main

        cli_main._add_plugin_commands()
        try:
            assert CliRunner().invoke(cli_main.cli, ["hygiene-verb"]).output == "verb ran\n"
        finally:
            cli_main.cli.commands.pop("hygiene-verb", None)
        return
    kind = hookspecs.COMPONENT_HOOKS[spec]
    assert hooklab.get(kind, f"hygiene-{kind}", x=1) == ("built", {"x": 1})


@pytest.mark.parametrize("package,module", _plugin_entry_points() or [pytest.param("-", "-", marks=pytest.mark.skip("no plugins yet"))])
def test_plugin_entry_point_module_does_not_import_heavy_libraries(package, module):
    code = (f"import sys, {module}\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{package}: cannot import {module}: {out.stderr[-500:]}"
    assert "torch" not in out.stdout.split(","), f"{package}: importing {module} imports torch"
    assert out.stdout.strip() == "", f"{package}: importing {module} imports {out.stdout.strip()}"


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--json"]])
def test_cli_with_every_plugin_does_not_import_torch(args):
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "hooklab_cli", *args],
                         capture_output=True, text=True, timeout=120, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"torch", "transformers", "trl", "peft"}
