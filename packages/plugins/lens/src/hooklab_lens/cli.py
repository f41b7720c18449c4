"""``hooklab lens MODEL TEXT``: the logit lens from the command line (heavy imports inside)."""

from __future__ import annotations

import json

import click


@click.command("lens")
@click.argument("model")
@click.argument("text")
@click.option("--target", "targets", multiple=True, help="Token to track instead of the next token (repeatable; one token each).")
@click.option("--topk", default=5, show_default=True, type=click.IntRange(1, 1000), help="Top tokens kept per cell.")
@click.option("--points", default="resid", show_default=True, help="resid, attn, mlp (comma-separated mix) or hook-point names.")
@click.option("--position", default=-1, show_default=True, type=int, help="Position shown by the table.")
@click.option("--out", "outs", multiple=True, type=click.Path(dir_okay=False),
              help="Write FILE.html, .png, .parquet or .json (repeatable).")
@click.option("--kind", default="top1", show_default=True, type=click.Choice(["top1", "rank", "prob"]),
              help="Heatmap kind for .png/.html outputs.")
@click.option("--format", "fmt", default="table", show_default=True, type=click.Choice(["table", "json"]),
              help="What to print on stdout.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu).")
@click.option("--dtype", default="auto", show_default=True, help="float32, bfloat16, float16 or auto.")
@click.option("--memory-budget", default=None, help="Working memory of the chunked unembedding, e.g. 512MB (default: 256MB on CPU, up to 2GB on CUDA).")
@click.option("--fused", is_flag=True, help="Reduce with a torch.compile-d kernel (faster on long inputs; compiles first).")
@click.option("--truncate", is_flag=True, help="Keep the last context-length tokens of a too-long text instead of failing.")
def lens_command(model: str, text: str, targets: tuple[str, ...], topk: int, points: str, position: int,
                 outs: tuple[str, ...], kind: str, fmt: str, device: str | None, dtype: str,
                 memory_budget: str | None, fused: bool, truncate: bool) -> None:
    """Logit lens of MODEL (local path or hub id) on TEXT: the top-1 token after every layer.

    Prints the table of the seed (point -> top-1 token, probability, rank of the next token or
    --target) and writes heatmaps (.png, .html) or data (.parquet, .json) with --out.
    """
    from pathlib import Path

    from hooklab.errors import DataError
    from hooklab.models import load_model
    from hooklab_lens.lens import logit_lens

    for out in outs:
        if Path(out).suffix.lower() not in {".html", ".htm", ".png", ".svg", ".pdf", ".parquet", ".json"}:
            raise DataError(f"--out {out}: unknown extension; use .html, .png, .parquet or .json")
    if not text.strip():
        raise DataError("TEXT is empty; give some text to look at")
    mdl, tok = load_model(model, dtype=dtype, device=device)
    result = logit_lens(mdl, tok, text, points=points, topk=topk, targets=list(targets) or None,
                        memory_budget=memory_budget, truncate=truncate, fused=fused)
    for out in outs:
        p = Path(out)
        if p.suffix.lower() in {".html", ".htm", ".png", ".svg", ".pdf"}:
            result.plot(kind=kind, path=p)
        else:
            result.save(p)
        click.echo(f"wrote {p}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        click.echo(result.table(position=position))
