"""``hooklab prefgen``: documents in, a filtered preference dataset out, with a progress line.

Heavy modules are imported inside the command, so ``hooklab --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click


class ProgressLine:
    """One status line on stderr: done/total, rate, errors, tokens, cost (redrawn at most every
    ``every`` seconds; on a terminal in place, elsewhere as new lines)."""

    def __init__(self, every: float = 0.5, stream: Any = None) -> None:
        self.every = every
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def __call__(self, stats: Any, result: Any) -> None:
        now = time.monotonic()
        if stats.finished < stats.total and now - self._last < self.every:
            return
        self._last = now
        self.draw(stats)

    def draw(self, stats: Any) -> None:
        width = 24
        filled = int(width * stats.finished / stats.total) if stats.total else width
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {stats.finished}/{stats.total} chunks "
                f"| {stats.rate:.1f} req/s | {stats.failed} failed, {stats.retries} retries "
                f"| tokens {stats.usage.prompt_tokens:,} in / {stats.usage.completion_tokens:,} out "
                f"| ${stats.cost:.4f}")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if stats.finished >= stats.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@click.command("prefgen")
@click.option("--docs", help="Documents: the seed's {\"artifact_data\": [...]} JSON, JSON, JSONL, "
              "Parquet, or a folder of .txt/.md files.")
@click.option("--llm", help="BACKEND:MODEL, e.g. openai:gpt-4o-mini or local:./my-model.")
@click.option("--base-url", help="OpenAI-compatible server (vLLM, Ollama, llama.cpp...).")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (dataset, stats, journal).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight (default 8).")
@click.option("--triples-per-chunk", type=click.IntRange(min=1), help="Triples asked per chunk (default 5).")
@click.option("--rpm", type=float, help="Requests-per-minute limit.")
@click.option("--tpm", type=float, help="Tokens-per-minute limit.")
@click.option("--max-retries", type=click.IntRange(min=0), help="Retries per request (default 5).")
@click.option("--template", type=click.Path(dir_okay=False), help="Prompt template file ({extract}, {n}).")
@click.option("--price-in", type=float, help="$ per 1M input tokens of this model (cost report).")
@click.option("--price-out", type=float, help="$ per 1M output tokens of this model.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML/YAML/JSON config (PrefgenConfig); command-line options win.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set filters.min_length=50 (repeatable).")
@click.option("--push-to-hub", metavar="REPO", help="Also upload the dataset (needs HF credentials).")
@click.option("--quiet", is_flag=True, help="No progress line.")
def prefgen(docs: str | None, llm: str | None, base_url: str | None, out: str | None,
            concurrency: int | None, triples_per_chunk: int | None, rpm: float | None,
            tpm: float | None, max_retries: int | None, template: str | None,
            price_in: float | None, price_out: float | None, config_path: str | None,
            overrides: tuple[str, ...], push_to_hub: str | None, quiet: bool) -> None:
    """Generate a preference dataset (prompt/chosen/rejected) from documents with an LLM.

    Rerunning the same command resumes: chunks already answered come from OUT/journal.db and are
    not requested again. Exit code 0: done; 1: some requests failed (rerun to retry them);
    2: bad input or configuration.
    """
    from hooklab.config import apply_overrides, load_config, validate
    from hooklab.errors import ConfigError
    from hooklab_prefgen.pipeline import PrefgenConfig, run_prefgen

    data: dict[str, Any] = load_config(config_path) if config_path else {}
    flags = {"docs": docs, "llm": llm, "base_url": base_url, "out": out,
             "triples_per_chunk": triples_per_chunk}
    data.update({k: v for k, v in flags.items() if v is not None})
    runner = dict(data.get("runner") or {})
    for key, value in {"concurrency": concurrency, "rpm": rpm, "tpm": tpm, "max_retries": max_retries}.items():
        if value is not None:
            runner[key] = value
    if template:
        data["prompt"] = {**(data.get("prompt") or {}), "template_file": template}
    data = apply_overrides(data, overrides)
    if "docs" not in data:
        raise ConfigError("missing --docs FILE (the documents to turn into preference pairs)")
    if "out" not in data:
        raise ConfigError("missing --out DIR (where the dataset, stats and journal go)")
    if runner:
        data["runner"] = {**(data.get("runner") or {}), **runner}
    cfg = validate(PrefgenConfig, data, where="prefgen options")
    if price_in is not None or price_out is not None:
        from hooklab.llm import Price

        model = cfg.llm.partition(":")[2]
        cfg.runner.prices[model] = Price(input=price_in or 0.0, output=price_out or 0.0)
    bar = None if quiet else ProgressLine()
    result = run_prefgen(cfg, progress=bar)
    click.echo(result.report())
    click.echo(f"wrote {len(result)} samples to {cfg.out}/preference.jsonl and preference.parquet")
    if push_to_hub:
        result.push_to_hub(push_to_hub)
        click.echo(f"pushed to the Hugging Face Hub: {push_to_hub}")
    failed = result.stats["failed_requests"]
    if failed:
        click.echo(f"warning: {failed} request(s) failed (see {cfg.out}/failures.jsonl); "
                   f"rerun the same command to retry only those", err=True)
        click.get_current_context().exit(1)
