"""``hooklab quickstart [--out DIR] [--fast]``."""

from __future__ import annotations

import click


@click.command("quickstart")
@click.option("--out", "out", default="quickstart-out", show_default=True, type=click.Path(),
              help="folder for every artifact and report.html")
@click.option("--fast", is_flag=True, help="smaller sizes: under 2 minutes on 2 CPU cores")
@click.option("--cache-dir", default=None, type=click.Path(),
              help="where hooklab-tiny is cached (default: the user cache dir)")
@click.option("--no-progress", is_flag=True, help="no progress bars")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(0),
              help="torch CPU threads (0: torch's default); tiny models run best on one")
@click.option("--preset", default=None, hidden=True, help="full, fast or test (the package's tests)")
def quickstart_command(out: str, fast: bool, cache_dir: str | None, no_progress: bool, threads: int,
                       preset: str | None) -> None:
    """The whole toolkit offline on an embedded tiny model: train hooklab-tiny (cached), continued
    pretraining with replay, logit lens, activation capture, preference pairs, a local judge,
    DPO with LoRA, and one self-contained HTML report (OUT/report.html)."""
    from hooklab_quickstart.pipeline import run

    result = run(out, fast=fast, preset=preset, cache_dir=cache_dir, progress=not no_progress,
                 threads=threads or None)
    click.echo(result.summary())
