"""The prefgen pipeline: documents -> clean -> sentence-aligned chunks -> LLM triples -> checks and
filters -> a preference dataset (``prompt``, ``chosen``, ``rejected`` + provenance) and a report.

Example::

    from hooklab_prefgen import PrefgenConfig, run_prefgen
    cfg = PrefgenConfig(docs="articles.json", llm="openai:gpt-4o-mini", out="prefs/")
    result = run_prefgen(cfg)        # resumable: rerun skips chunks already answered (journal)
    result.save("prefs/")            # preference.jsonl, preference.parquet, stats.json, failures.jsonl
    ds = result.to_dataset()         # datasets.Dataset
    print(result.report())

chosen = the extracted answer (verbatim from the text), rejected = the generated answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hooklab.errors import ConfigError, DataError
from hooklab.llm import BatchRunner, LLMBackend, LLMRequest, RequestResult, RunnerConfig, RunStats
from hooklab_prefgen.documents import Document, load_documents
from hooklab_prefgen.filters import FilterConfig, apply_filters, is_verbatim
from hooklab_prefgen.parse import parse_triples
from hooklab_prefgen.prompts import (
    DEFAULT_SYSTEM,
    DEFAULT_TEMPLATE,
    check_template,
    load_template,
    render_prompt,
)
from hooklab_prefgen.text import chunk_text, text_stats

#: Prices ($ per 1M tokens) used when the config gives none: the model and price of the seed's run
#: (370,746 in + 229,627 out tokens -> $0.19). Check your provider's current prices.
DEFAULT_PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}
COLUMNS = ("prompt", "chosen", "rejected", "article_id", "chunk_id", "model", "raw_output_hash",
           "verbatim")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkConfig(_Config):
    min_length: int = Field(1000, ge=0, description="shortest chunk, characters")
    max_length: int = Field(2000, ge=1, description="longest chunk, characters")
    clean: bool = Field(True, description="clean the text first (the seed's clean_text)")

    @model_validator(mode="after")
    def _order(self) -> ChunkConfig:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} > max_length {self.max_length}")
        return self


class PromptConfig(_Config):
    system: str = Field(DEFAULT_SYSTEM, description="system message ('' for none)")
    template: str = Field(DEFAULT_TEMPLATE, description="user message; {extract}, {n}, {n_words}")
    template_file: str | None = Field(None, description="read the template from this file")
    temperature: float | None = 0.7
    max_tokens: int | None = 2000
    seed: int | None = None
    json_mode: bool = True

    def resolved_template(self) -> str:
        if self.template_file:
            return load_template(self.template_file)
        check_template(self.template)
        return self.template


def _default_runner() -> RunnerConfig:
    return RunnerConfig(concurrency=8, prices=DEFAULT_PRICES)  # type: ignore[arg-type]


class PrefgenConfig(_Config):
    """Everything a prefgen run needs (the ``prefgen`` source's options and the CLI's config file)."""

    docs: str | dict[str, Any] = Field(description="documents: a path or a source mapping")
    text_field: str = "content"
    id_field: str = "id"
    limit_docs: int | None = Field(None, ge=1)
    llm: str = Field("openai:gpt-4o-mini", description="BACKEND:MODEL, e.g. openai:gpt-4o-mini, local:./model")
    base_url: str | None = Field(None, description="OpenAI-compatible server URL")
    backend: dict[str, Any] = Field(default_factory=dict, description="extra backend options")
    triples_per_chunk: int = Field(5, ge=1)
    chunk: ChunkConfig = Field(default_factory=ChunkConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    runner: RunnerConfig = Field(default_factory=_default_runner)
    out: str | None = Field(None, description="output folder (also holds the journal)")
    journal: str | None = Field(None, description="run journal; default OUT/journal.db")

    def journal_path(self) -> Path | None:
        if self.journal:
            return Path(self.journal)
        return Path(self.out) / "journal.db" if self.out else None


def make_backend(llm: str, *, base_url: str | None = None, options: dict[str, Any] | None = None) -> LLMBackend:
    """Build the backend named by ``"BACKEND:MODEL"`` (``openai:gpt-4o-mini``, ``local:./dir``;
    any registered backend name works).

    Raises:
        ConfigError: ``llm`` has no ``:``. UnknownComponentError: no such backend installed.
    """
    import hooklab

    name, sep, model = llm.partition(":")
    if not sep or not name or not model:
        raise ConfigError(f"--llm must be BACKEND:MODEL (e.g. openai:gpt-4o-mini or local:./model), got {llm!r}")
    opts = dict(options or {})
    opts["model"] = model
    if base_url:
        opts["base_url"] = base_url
    return hooklab.get("backend", name, **opts)  # type: ignore[no-any-return]


@dataclass
class Chunk:
    id: str
    article_id: str
    text: str


def build_chunks(docs: list[Document], cfg: ChunkConfig) -> list[Chunk]:
    """Sentence-aligned chunks of every document, with ids ``ARTICLE:INDEX``."""
    out = []
    for doc in docs:
        for i, text in enumerate(chunk_text(doc.text, cfg.min_length, cfg.max_length, clean=cfg.clean)):
            out.append(Chunk(f"{doc.id}:{i}", doc.id, text))
    return out


def build_requests(chunks: list[Chunk], cfg: PrefgenConfig) -> list[LLMRequest]:
    """One JSON request per chunk (the seed's messages and parameters by default)."""
    p = cfg.prompt
    template = p.resolved_template()
    reqs = []
    for c in chunks:
        messages = [{"role": "system", "content": p.system}] if p.system else []
        messages.append({"role": "user", "content": render_prompt(template, c.text, cfg.triples_per_chunk)})
        reqs.append(LLMRequest(messages=messages, json_mode=p.json_mode, temperature=p.temperature,
                               max_tokens=p.max_tokens, seed=p.seed, id=c.id))
    return reqs


@dataclass
class PrefgenResult:
    """The preference rows (after filters), the statistics and the failures of a run."""

    rows: list[dict[str, Any]]
    stats: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dataset(self) -> Any:
        """The rows as a ``datasets.Dataset`` (columns :data:`COLUMNS`)."""
        import datasets

        return datasets.Dataset.from_dict({c: [r[c] for r in self.rows] for c in COLUMNS})

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``preference.jsonl``, ``preference.parquet``, ``stats.json`` and
        ``failures.jsonl`` (raw text of every failure) into ``out``; returns the paths."""
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        paths = {"jsonl": d / "preference.jsonl", "parquet": d / "preference.parquet",
                 "stats": d / "stats.json", "failures": d / "failures.jsonl"}
        with paths["jsonl"].open("w", encoding="utf-8") as f:
            for r in self.rows:
                f.write(json.dumps({c: r[c] for c in COLUMNS}, ensure_ascii=False) + "\n")
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(c, pa.bool_() if c == "verbatim" else pa.string()) for c in COLUMNS])
        pq.write_table(pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in self.rows], schema=schema),
                       paths["parquet"])
        paths["stats"].write_text(json.dumps(self.stats, indent=2), encoding="utf-8")
        with paths["failures"].open("w", encoding="utf-8") as f:
            for fail in self.failures:
                f.write(json.dumps(fail, ensure_ascii=False) + "\n")
        return paths

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload the dataset with ``datasets.Dataset.push_to_hub`` (needs a Hugging Face token
        from ``huggingface-cli login`` or ``HF_TOKEN``)."""
        return self.to_dataset().push_to_hub(repo_id, **kwargs)

    def report(self) -> str:
        """A text table like the seed's: input, requests, tokens, cost, samples per filter."""
        s = self.stats
        lines = ["Input", *(f"  {k:<22}{v:>12,}" for k, v in s["input"].items()),
                 f"  {'chunks':<22}{s['chunks']:>12,}",
                 "LLM usage",
                 f"  {'requests':<22}{s['requests']:>12,}",
                 f"  {'sent (with retries)':<22}{s['sent']:>12,}",
                 f"  {'from journal':<22}{s['from_journal']:>12,}",
                 f"  {'failed requests':<22}{s['failed_requests']:>12,}",
                 f"  {'input tokens':<22}{s['input_tokens']:>12,}",
                 f"  {'output tokens':<22}{s['output_tokens']:>12,}",
                 f"  {'cost':<22}{'$' + format(s['cost_usd'], '.4f'):>12}",
                 f"  {'parse failures':<22}{s['parse_failures']:>12,}",
                 f"  {'invalid triples':<22}{s['triple_problems']:>12,}",
                 "Samples"]
        lines += [f"  {'after ' + k if k != 'generated' else k:<22}{v:>12,}" for k, v in s["samples"].items()]
        return "\n".join(lines)


def build_rows(chunks: list[Chunk], results: list[RequestResult], cfg: PrefgenConfig,
               model: str) -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
    """Parse every answer into rows (before filters). Returns rows, counters and failures."""
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    counts = {"parse_failures": 0, "triple_problems": 0, "failed_requests": 0}
    for chunk, res in zip(chunks, results, strict=True):
        if res.response is None:
            counts["failed_requests"] += 1
            failures.append({"chunk_id": chunk.id, "kind": "request", "error": res.error, "raw": None})
            continue
        text = res.response.text
        parsed = parse_triples(res.response.parsed if res.response.parsed is not None else text,
                               cfg.triples_per_chunk)
        if parsed.error is not None:
            counts["parse_failures"] += 1
            failures.append({"chunk_id": chunk.id, "kind": "parse", "error": parsed.error, "raw": text})
            continue
        counts["triple_problems"] += len(parsed.problems)
        if parsed.problems:
            failures.append({"chunk_id": chunk.id, "kind": "triples",
                             "error": "; ".join(parsed.problems), "raw": text})
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        for t in parsed:
            rows.append({"prompt": t.instruction, "chosen": t.extracted_answer,
                         "rejected": t.generated_answer, "article_id": chunk.article_id,
                         "chunk_id": chunk.id, "model": res.response.model or model,
                         "raw_output_hash": digest,
                         "verbatim": is_verbatim(t.extracted_answer, chunk.text)
                         if cfg.filters.verbatim != "off" else True})
    return rows, counts, failures


Progress = Callable[[RunStats, RequestResult], None]


def run_prefgen(cfg: PrefgenConfig | dict[str, Any], *, backend: LLMBackend | None = None,
                progress: Progress | None = None, save: bool = True) -> PrefgenResult:
    """Run the whole pipeline. With ``cfg.out`` the results are saved there and the journal is
    ``OUT/journal.db``, so a rerun (after a crash or kill) sends only unanswered chunks and yields
    the same dataset.

    ``backend`` overrides ``cfg.llm`` (e.g. an in-memory :class:`~hooklab_local.LocalBackend`).

    Raises:
        DataError: no documents, or no chunk long enough (lower ``chunk.min_length``).
        ConfigError: invalid config or template. BackendError: the backend cannot be built.
    """
    from hooklab.config import validate

    cfg = validate(PrefgenConfig, cfg, where="prefgen config")
    docs = load_documents(cfg.docs, text_field=cfg.text_field, id_field=cfg.id_field, limit=cfg.limit_docs)
    chunks = build_chunks(docs, cfg.chunk)
    if not chunks:
        raise DataError(f"no chunk of at least {cfg.chunk.min_length} characters in {len(docs)} "
                        f"document(s); lower chunk.min_length")
    requests = build_requests(chunks, cfg)
    if backend is None:
        backend = make_backend(cfg.llm, base_url=cfg.base_url, options=cfg.backend)
    runner = BatchRunner(backend, cfg.runner, journal=cfg.journal_path(), progress=progress)
    try:
        results = runner.run(requests)
    finally:
        if runner.journal is not None:
            runner.journal.close()
    rows, counts, failures = build_rows(chunks, results, cfg, backend.model)
    kept, samples = apply_filters(rows, cfg.filters)
    usage_in = sum(r.response.usage.prompt_tokens for r in results if r.response is not None)
    usage_out = sum(r.response.usage.completion_tokens for r in results if r.response is not None)
    cost = 0.0
    for r in results:
        if r.response is not None:
            price = cfg.runner.price_for(r.response.model or backend.model) or cfg.runner.price_for(backend.model)
            cost += price.cost(r.response.usage) if price is not None else 0.0
    st = runner.stats
    stats = {
        "input": text_stats([d.text for d in docs]),
        "chunks": len(chunks),
        "requests": len(requests),
        "sent": st.sent,
        "from_journal": st.skipped,
        "retries": st.retries,
        "failed_requests": counts["failed_requests"],
        "errors_by_kind": st.errors_by_kind,
        "input_tokens": usage_in,
        "output_tokens": usage_out,
        "cost_usd": round(cost, 6),
        "this_run": {"input_tokens": st.usage.prompt_tokens, "output_tokens": st.usage.completion_tokens,
                     "cost_usd": round(st.cost, 6), "elapsed_s": round(st.elapsed_s, 3)},
        "parse_failures": counts["parse_failures"],
        "triple_problems": counts["triple_problems"],
        "samples": samples,
        "backend": backend.name,
        "model": backend.model,
    }
    result = PrefgenResult(kept, stats, failures)
    if save and cfg.out:
        result.save(cfg.out)
    return result


def prefgen_source(cfg: PrefgenConfig) -> Any:
    """The ``prefgen`` dataset source: run (or resume) the pipeline, return a ``datasets.Dataset``."""
    return run_prefgen(cfg).to_dataset()
