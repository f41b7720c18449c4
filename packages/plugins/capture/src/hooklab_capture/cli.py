"""``hooklab capture MODEL --texts FILE --points 'layers.*' --out DIR``."""

from __future__ import annotations

import click


@click.command("capture")
@click.argument("model")
@click.option("--texts", "texts", required=True, type=click.Path(dir_okay=True),
              help="Texts: .txt (one per line), .jsonl/.json/.csv/.parquet (column --text-field).")
@click.option("--points", "points", multiple=True, default=("layers.*",), show_default=True,
              help="Hook points (names, globs, sets, module paths); repeat or comma-separate.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder of Parquet shards.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--max-length", default=512, show_default=True, type=click.IntRange(min=1),
              help="Truncate texts to this many tokens.")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float16", "float32"]),
              help="Model and storage dtype.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available, or the "
                                              "rank's device under accelerate launch).")
@click.option("--shard-texts", default=256, show_default=True, type=click.IntRange(min=1),
              help="Texts per Parquet shard (the unit of resume).")
@click.option("--text-field", default="text", show_default=True)
@click.option("--revision", default=None, help="Model revision (hub ids).")
@click.option("--overwrite", is_flag=True, help="Replace a capture with different settings in --out.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def capture_command(model: str, texts: str, points: tuple[str, ...], out: str, batch_size: int, max_length: int,
                    dtype: str, device: str | None, shard_texts: int, text_field: str, revision: str | None,
                    overwrite: bool, no_progress: bool) -> None:
    """Capture activations of MODEL (local path or hub id) at hook points, to Parquet shards.

    One row per token (padding excluded): doc_id, position, token_id and one column per point.
    Rerun the same command to resume a killed capture. Under `accelerate launch` each rank
    writes its own shards.
    """
    from hooklab.models import load_model
    from hooklab_capture.capture import _rank_world, capture, check_device_dtype, read_texts

    text_list = read_texts(texts, text_field)  # fail on bad input before loading the model
    _, _, state = _rank_world()
    if device is None:
        import torch

        device = str(state.device) if state is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    check_device_dtype(device, dtype)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ours is the one that matters; keep errors on one line
    mdl, tok = load_model(model, dtype=dtype, device=device, revision=revision)
    run = capture(mdl, tok, text_list, list(points), out=out, batch_size=batch_size, max_length=max_length,
                  dtype=dtype, shard_texts=shard_texts, overwrite=overwrite, model_name=model,
                  revision=revision, progress=not no_progress)
    rank = f"rank {state.process_index}: " if state is not None else ""
    click.echo(f"{rank}captured {run.tokens} tokens in {len(run.shards_written)} shards "
               f"({len(run.shards_skipped)} already done) -> {out} ({run.bytes_written / 1e6:.1f} MB, "
               f"{run.seconds:.1f}s)")
