"""``hooklab cpt --config cpt.toml [--set ...]`` and ``hooklab cpt report RUN_DIR``."""

from __future__ import annotations

import json

import click


@click.group("cpt", invoke_without_command=True)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="cpt.toml / .yaml / .json")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set max_steps=100 --set data.replay=strong.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def cpt_group(ctx: click.Context, config: str | None, overrides: tuple[str, ...], no_progress: bool) -> None:
    """Continued pretraining with replay (hooklab-cpt).

    `hooklab cpt --config cpt.toml` trains; `hooklab cpt report RUN_DIR` shows the forgetting report.
    """
    if ctx.invoked_subcommand is not None:
        return
    from hooklab.config import load
    from hooklab.errors import ConfigError
    from hooklab_cpt.trainer import CPTConfig, train

    if config is None and not overrides:
        raise ConfigError("give --config cpt.toml (see docs/cpt.md) or `hooklab cpt report RUN_DIR`")
    cfg = load(CPTConfig, config, [*overrides, *(["progress=false"] if no_progress else [])])
    result = train(cfg)
    from accelerate import PartialState

    if PartialState().is_main_process:
        click.echo(f"trained {result.steps} steps, final loss {result.final_loss:.4f} -> {result.output_dir}")
        if result.report.points:
            click.echo(result.report.table())


@cpt_group.command("report")
@click.argument("run_dir", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="PNG path (default RUN_DIR/forgetting.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report_cmd(run_dir: str, out: str | None, as_json: bool) -> None:
    """Show the forgetting report of RUN_DIR (held-out D1/D2 loss before, at checkpoints, after)."""
    from pathlib import Path

    from hooklab_cpt.report import ForgettingReport

    report = ForgettingReport.load(run_dir)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.table())
    path = Path(out) if out else Path(run_dir) / "forgetting.png"
    report.plot(path)
    click.echo(f"wrote {path}", err=True)
