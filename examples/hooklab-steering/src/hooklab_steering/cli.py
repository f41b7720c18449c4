from __future__ import annotations

import click


@click.command("steer")
@click.argument("model")
@click.argument("text")
@click.option("--point", default="layers.0", show_default=True, help="Hook point to steer.")
@click.option("--plus", help="Prompt for the + side of the direction.")
@click.option("--minus", help="Prompt for the - side of the direction.")
@click.option("--scale", type=float, default=4.0, show_default=True)
@click.option("--max-new-tokens", type=int, default=0, show_default=True, help="Also generate text both ways.")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the table (.parquet or .json).")
def steer(model: str, text: str, point: str, plus: str | None, minus: str | None, scale: float,
          max_new_tokens: int, out: str | None) -> None:
    """Add a (PLUS - MINUS) steering vector at POINT and compare next-token predictions on TEXT."""
    import hooklab
    from hooklab.models import load_model

    probe = hooklab.get("probe", "steer", point=point, plus=plus, minus=minus, scale=scale)
    m, tok = load_model(model)
    result = probe.run(m, text, tokenizer=tok, max_new_tokens=max_new_tokens)
    click.echo(result.to_pandas().to_string(index=False))
    for k, v in result.generations.items():
        click.echo(f"{k}: {v!r}")
    if out:
        result.save(out)
