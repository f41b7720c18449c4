"""``hooklab schedule plot``: the curve of a schedule as a text table and a PNG."""

from __future__ import annotations

import json

import click


@click.group("schedule")
def schedule_group() -> None:
    """Learning-rate schedules (hooklab-schedules)."""


@schedule_group.command("plot")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--name", "name", help="Schedule name (cosine, linear, wsd, multi-phase, ...).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Schedule option, e.g. --set total_steps=1000 --set peak_lr=3e-4 (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the plot to this PNG.")
@click.option("--rows", default=21, show_default=True, help="Rows of the text table.")
@click.option("--json", "as_json", is_flag=True, help="Print the LR at every step as JSON.")
def plot_cmd(config: str | None, name: str | None, overrides: tuple[str, ...], out: str | None,
             rows: int, as_json: bool) -> None:
    """Print the LR curve of CONFIG (a TOML/YAML/JSON file: the top level or its [schedule]
    table) or of --name/--set flags, and plot it with --out lr.png.

    Example: hooklab schedule plot --name cosine --set total_steps=1000 --set peak_lr=3e-4
    --set warmup_fraction=0.1 --out lr.png
    """
    from hooklab.errors import ConfigError
    from hooklab_schedules.configs import load_schedule

    if config is None and name is None:
        raise ConfigError("give a config file or --name NAME (e.g. --name cosine --set total_steps=100 --set peak_lr=1e-3)")
    sets = list(overrides) + ([f"name={name}"] if name else [])
    plan = load_schedule(config, sets)
    if as_json:
        click.echo(json.dumps({"total_steps": plan.total_steps, "lr": plan.lrs()}))
    else:
        click.echo(plan.table(rows) if hasattr(plan, "table") else "")
    if out:
        if not hasattr(plan, "plot"):
            from hooklab_schedules.schedule import Plan, Segment  # noqa: F401 - for the message

            raise ConfigError("this schedule has no plot(); use a hooklab-schedules plan")
        plan.plot(out)
        click.echo(f"wrote {out}", err=True)
