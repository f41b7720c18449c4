"""The ``hooklab`` root command: global options, error handling, plugin verbs.

Kept light on purpose: importing it imports click, pluggy and the plugins' entry-point modules,
never torch (a test enforces it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from hooklab.errors import HooklabError


class CLIError(click.ClickException):
    """A HooklabError shown as one line with exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class HooklabGroup(click.Group):
    """Turns every :class:`HooklabError` into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HooklabError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            raise CLIError(str(exc)) from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("hooklab-core", "hooklab-cli"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


@click.group(cls=HooklabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(message="%(version)s", version=None, package_name="hooklab-cli", prog_name="hooklab")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hooklab: look inside language models and train them further.

    Verbs beyond `plugins` and `list` come from installed plugins (`hooklab plugins`).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# click's version_option with version=None reads the package; show core's version too
for p in cli.params:
    if p.name == "version":
        p.callback = lambda ctx, param, value: (click.echo(_version()), ctx.exit()) if value and not ctx.resilient_parsing else None  # type: ignore[assignment,func-returns-value]


def _plugin_rows(requirements_only: bool = False) -> list[dict[str, Any]]:
    from hooklab.plugins import get_manager

    pm = get_manager()
    reg = pm.registry
    errors = pm.errors
    rows = []
    for name, info in sorted(pm.infos.items()):
        comps: dict[str, list[str]] = {}
        for kind, table in reg.components.items():
            names = sorted(c.name for c in table.values() if c.plugin == name)
            if names:
                comps[kind] = names
        rows.append({
            "name": name, "distribution": info.distribution, "version": info.version,
            "module": info.module, "hooks": info.hooks, "components": comps,
            "errors": [e.error for e in errors if e.plugin == name],
        })
    for err in errors:
        if err.plugin not in pm.infos:
            rows.append({"name": err.plugin, "distribution": err.distribution, "version": "",
                         "module": "", "hooks": [], "components": {}, "errors": [err.error]})
    return rows


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--requirements", is_flag=True, help="Print pip requirements that reinstall this plugin set.")
def plugins_cmd(as_json: bool, requirements: bool) -> None:
    """List installed plugins: distribution, version, hooks, components and load errors."""
    rows = _plugin_rows()
    if requirements:
        dists = sorted({(r["distribution"], r["version"]) for r in rows if r["distribution"] and r["version"]
                        and not r["distribution"].startswith("(")})
        seen = {d for d, _ in dists}
        if "hooklab-cli" not in seen:
            dists.append(("hooklab-cli", _dist_version("hooklab-cli")))
        for dist, version in sorted(dists):
            click.echo(f"{dist}=={version}")
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        head = f"{r['name']}  ({r['distribution'] or '?'} {r['version']})".rstrip()
        click.echo(head)
        if r["hooks"]:
            click.echo(f"  hooks: {', '.join(r['hooks'])}")
        for kind, names in r["components"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        for e in r["errors"]:
            click.secho(f"  ERROR: {e}", fg="red")


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "0"


@cli.command("list")
@click.argument("kind")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(kind: str, as_json: bool) -> None:
    """List the components of KIND (adapter, probe, schedule, source, backend, judge, trainer)."""
    from hooklab.plugins import components

    table = components(kind)
    if as_json:
        click.echo(json.dumps([{"name": n, "plugin": c.plugin, "distribution": c.distribution,
                                "description": c.description} for n, c in table.items()], indent=2))
        return
    if not table:
        click.echo(f"no {kind} components installed")
    width = max((len(n) for n in table), default=0)
    for name, comp in table.items():
        click.echo(f"{name.ljust(width)}  {comp.description}  [{comp.distribution or comp.plugin}]")


@cli.group("plugin")
def plugin_group() -> None:
    """Write your own plugin."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["probe", "schedule", "source", "backend", "judge", "trainer", "adapter"]),
              help="The interface the generated component implements.")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where to create the hooklab-NAME folder.")
@click.option("--force", is_flag=True, help="Write into an existing, non-empty folder.")
def plugin_new(name: str, kind: str, directory: str, force: bool) -> None:
    """Generate the pip-installable package hooklab-NAME with one working KIND component.

    It passes its own contract tests right after `pip install -e "hooklab-NAME[test]"`.
    """
    from hooklab_cli.scaffold import generate

    root = generate(name, kind, directory, force=force)
    click.echo(f"created {root}\nnext: pip install -e '{root}[test]' && pytest {root}/tests")


def _add_plugin_commands() -> None:
    """Let each plugin add its verbs; a plugin that fails here is recorded, never fatal."""
    from hooklab.plugins import get_manager

    pm = get_manager()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:
            info = pm.infos.get(impl.plugin_name)
            pm._fail(impl.plugin_name, info.distribution if info else "",
                     RuntimeError(f"hook register_commands: {type(exc).__name__}: {exc}"))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hooklab`` console script."""
    try:
        _add_plugin_commands()
    except HooklabError as exc:  # strict mode: a broken plugin is fatal, but still one line
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    cli.main(args=argv, prog_name="hooklab")


if __name__ == "__main__":  # pragma: no cover
    main()
