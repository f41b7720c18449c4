"""The thin CLI: version, plugins, list, plugin verbs, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

import hooklab
from hooklab.errors import DataError


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "hooklab_cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_version_names_core_and_cli():
    out = run("--version")
    assert out.returncode == 0
    assert "hooklab-core 0.1.0" in out.stdout and "hooklab-cli 0.1.0" in out.stdout


def test_plugins_json_lists_core_builtin_sources():
    out = run("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    core = rows["core"]
    assert core["distribution"] == "hooklab-core"
    assert {"jsonl", "json", "parquet", "csv", "text-folder", "hf"} <= set(core["components"]["source"])
    assert "register_sources" in core["hooks"]


def test_plugins_requirements_are_pip_lines():
    out = run("plugins", "--requirements")
    lines = out.stdout.split()
    assert "hooklab-core==0.1.0" in lines and "hooklab-cli==0.1.0" in lines
    assert all("==" in line for line in lines)


def test_list_kind_and_unknown_kind_exit_2_without_traceback():
    ok = run("list", "source")
    assert ok.returncode == 0 and "jsonl" in ok.stdout
    bad = run("list", "sources")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: unknown component kind 'sources'")
    assert "Did you mean: source" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


class VerbPlugin:
    @hooklab.hookimpl
    def register_commands(self, cli):
        @cli.command("greet")
        @click.argument("path")
        def greet(path):
            """Fail the way real commands fail on bad input."""
            if path == "bad":
                raise DataError("no such data: bad")
            click.echo(f"hello {path}")


def test_plugin_verbs_and_their_errors(hooklab_plugins):
    from hooklab_cli import main as cli_main

    hooklab_plugins.register(VerbPlugin())
    cli_main._add_plugin_commands()
    try:
        runner = CliRunner()
        assert runner.invoke(cli_main.cli, ["greet", "x"]).output == "hello x\n"
        res = runner.invoke(cli_main.cli, ["greet", "bad"])
        assert res.exit_code == 2 and "error: no such data: bad" in res.output
        res = runner.invoke(cli_main.cli, ["--debug", "greet", "bad"])
        assert isinstance(res.exception, DataError)  # --debug lets the real exception through
    finally:
        cli_main.cli.commands.pop("greet", None)


def test_help_and_plugins_do_not_import_torch():
    for args in (["--help"], ["plugins"]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "hooklab_cli", *args],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
        assert "torch" not in imported and "transformers" not in imported, args
