"""``hooklab judge pairwise|score|report``.

Every judge writes into the output folder as it goes:

* ``journal.db`` — the backend layer's run journal: a rerun of the same command skips every
  request that had finished (kill it, run it again, nothing is asked twice);
* ``verdicts-<judge>.jsonl`` / ``scores-<judge>.jsonl`` — one line per item with the raw outputs;
* ``stats-<judge>.json`` — the runner's numbers: requests, retries, tokens, cost, failures;
* ``report.json``, ``report.txt`` and ``report.png`` (with matplotlib) — the bias and quality report;
* ``pairs.jsonl`` — with ``--action`` (pairwise: keep/drop/relabel the input pairs by the verdict,
  the majority vote with several judges) or ``--candidates`` (score: best vs worst per prompt).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from hooklab.errors import ConfigError, DataError


def _read_records(path: str, limit: int | None) -> list[dict[str, Any]]:
    """Records from JSONL / JSON (a list, or the first list value of an object) natively; other
    formats (Parquet, CSV, ...) through core's dataset sources."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"input file not found: {p}")
    suffix = p.suffix.lower()
    rows: list[dict[str, Any]]
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise DataError(f"{p}:{n}: not a JSON object; each line must be one record") from None
    elif suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{p} is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise DataError(f"{p}: expected a list of records (or an object holding one)")
        rows = data
    else:
        from hooklab.sources import load_source

        rows = [dict(r) for r in load_source(str(p))]
    if any(not isinstance(r, dict) for r in rows):
        raise DataError(f"{p}: every record must be an object with named fields")
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise DataError(f"{p} holds no records")
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "judge"


def _run_judges(judges: list[Any], ask: Any, out: Path, prefix: str) -> list[Any]:
    """Run ``ask(judge)`` for each judge with a progress line; save its results
    (``PREFIX-<judge>.jsonl``) and run statistics (``stats-<judge>.json``) under ``out``."""
    results = []
    for j in judges:
        j.progress = _progress(j.name)
        res = ask(j)
        res.save(out / f"{prefix}-{_slug(j.name)}.jsonl")
        click.echo(f"{j.name}: {j.stats.summary()}", err=True)
        (out / f"stats-{_slug(j.name)}.json").write_text(json.dumps(j.stats.to_dict(), indent=2) + "\n")
        results.append(res)
    return results


def _build_judges(specs: tuple[str, ...], config_path: str | None, overrides: tuple[str, ...],
                  base_url: str | None, concurrency: int | None, rpm: float | None, out: Path,
                  **judge_options: Any) -> list[Any]:
    """One judge per ``--judge NAME:MODEL``; all share the config file, overrides and journal."""
    import hooklab
    from hooklab.config import load
    from hooklab.judges import JudgeConfig

    if not specs:
        raise ConfigError("give at least one --judge NAME:MODEL, e.g. --judge openai:gpt-4o-mini")
    base = load(JudgeConfig, config_path, overrides)
    judges = []
    base_url_used = False
    for spec in specs:
        name, sep, model = spec.partition(":")
        if not sep or not name or not model:
            raise ConfigError(f"--judge {spec!r}: expected NAME:MODEL, e.g. openai:gpt-4o-mini or local:./model")
        comp = hooklab.get_manager().registry.lookup("judge", name)  # unknown names list the installed ones
        options = base.model_dump(exclude_none=True)
        options["backend"] = {**options.get("backend", {}), "model": model}
        if base_url is not None and _takes_base_url(name):
            options["backend"]["base_url"] = base_url
            base_url_used = True
        runner = dict(options.get("runner", {}))
        if concurrency is not None:
            runner["concurrency"] = concurrency
        if rpm is not None:
            runner["rpm"] = rpm
        options["runner"] = runner
        options["journal"] = options.get("journal") or str(out / "journal.db")
        for key, value in judge_options.items():
            if value is not None:
                options[key] = value
        judge = comp.create(**options)
        if not base.name:
            judge.name = f"{name}:{model}"
        judges.append(judge)
    if base_url is not None and not base_url_used:
        raise ConfigError("--base-url: none of the judges talks to a server (in-process backends "
                          "have no base_url); use an openai judge, e.g. --judge openai:MODEL")
    names = [j.name for j in judges]
    if len(set(names)) != len(names):
        raise ConfigError(f"the same judge is given twice: {', '.join(names)}")
    return judges


def _takes_base_url(backend_name: str) -> bool:
    """Whether the backend of that name has a ``base_url`` option in its config model."""
    import hooklab

    if backend_name not in hooklab.components("backend"):
        return False
    config = hooklab.get_manager().registry.lookup("backend", backend_name).load_config()
    return config is not None and "base_url" in getattr(config, "model_fields", {})


def _progress(label: str) -> Any:
    def show(stats: Any, result: Any) -> None:
        if stats.finished == stats.total or stats.finished % 50 == 0:
            click.echo(f"\r{label}: {stats.finished}/{stats.total} ({stats.skipped} from journal, "
                       f"{stats.failed} failed)", err=True, nl=stats.finished == stats.total)

    return show


def _write_report(out: Path, results: list[Any], plot: bool = True) -> Any:
    from hooklab.judge_report import report

    rep = report(results)
    rep.save(out / "report.json")
    (out / "report.txt").write_text(rep.table() + "\n", encoding="utf-8")
    if plot:
        try:
            rep.plot(out / "report.png")
        except DataError as exc:  # matplotlib missing: the table and JSON are still there
            click.echo(f"note: no report.png ({exc})", err=True)
    return rep


_common = [
    click.option("--judge", "judge_specs", multiple=True, metavar="NAME:MODEL",
                 help="A judge: a registered judge name and its model (openai:gpt-4o-mini, "
                      "local:./my-model). Repeat for several judges (agreement, majority vote)."),
    click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                 help="Output folder (journal, verdicts, report). Rerun with the same folder to resume."),
    click.option("--base-url", default=None,
                 help="OpenAI-compatible endpoint for openai judges, e.g. http://127.0.0.1:8000/v1 "
                      "(vLLM) or http://127.0.0.1:11434/v1 (Ollama)."),
    click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Requests in flight."),
    click.option("--rpm", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Requests per minute limit."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                 help="Judge config (TOML/YAML/JSON; fields of hooklab.judges.JudgeConfig)."),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                 help="Override a config value, e.g. --set pairwise.allow_tie=true."),
    click.option("--limit", type=click.IntRange(min=1), default=None, help="Judge only the first N records."),
    click.option("--id-col", default="id", show_default=True, help="Id column (else the row number)."),
    click.option("--prompt-col", default="prompt", show_default=True),
]


def _with_common(f: Any) -> Any:
    for option in reversed(_common):
        f = option(f)
    return f


@click.group("judge")
def judge() -> None:
    """LLM-as-judge: pairwise A/B verdicts, 1-5 scores, bias and agreement reports."""


@judge.command("pairwise")
@click.option("--pairs", "pairs_path", required=True,
              help="Pairs: JSONL/JSON/Parquet/CSV with prompt and two answers (default columns "
                   "prompt/chosen/rejected: a preference dataset).")
@_with_common
@click.option("--a-col", default="chosen", show_default=True, help="Column of answer 1.")
@click.option("--b-col", default="rejected", show_default=True, help="Column of answer 2.")
@click.option("--order", type=click.Choice(["random", "both", "fixed"]), default=None,
              help="random (default): a seeded A/B order per pair; both: both orders, "
                   "disagreement = tie; fixed: answer 1 always first (to measure position bias).")
@click.option("--seed", type=int, default=None, help="Seed of the random order.")
@click.option("--sources", default=None, metavar="COL1,COL2",
              help="Columns naming the model that wrote answer 1 and answer 2 (for family bias).")
@click.option("--family", default=None,
              help="The judge model's family, e.g. llama: report how often answers whose source "
                   "contains it win (family bias).")
@click.option("--action", type=click.Choice(["keep", "drop", "relabel"]), default=None,
              help="Also write pairs.jsonl: keep pairs the judge agrees with, drop those it "
                   "rejects, or relabel (swap chosen/rejected where it prefers answer 2).")
def pairwise_cmd(pairs_path: str, judge_specs: tuple[str, ...], out_dir: str, base_url: str | None,
                 concurrency: int | None, rpm: float | None, config_path: str | None,
                 overrides: tuple[str, ...], limit: int | None, id_col: str, prompt_col: str,
                 a_col: str, b_col: str, order: str | None, seed: int | None, sources: str | None,
                 family: str | None, action: str | None) -> None:
    """Judge pairs of answers; write verdicts, the bias report and (with --action) new pairs."""
    from hooklab.judge_report import majority_vote
    from hooklab.judges import filter_pairs, label_agreement, pair_items

    src = [c.strip() for c in sources.split(",")] if sources else [None, None]
    if len(src) != 2 or (sources and not all(src)):
        raise ConfigError(f"--sources {sources!r}: expected two column names, e.g. model_chosen,model_rejected")
    rows = _read_records(pairs_path, limit)
    items = pair_items(rows, prompt=prompt_col, answer1=a_col, answer2=b_col, id=id_col,
                       source1=src[0], source2=src[1])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judges = _build_judges(judge_specs, config_path, overrides, base_url, concurrency, rpm, out,
                           order=order, seed=seed, family=family)
    results = _run_judges(judges, lambda j: j.pairwise(items), out, "verdicts")
    rep = _write_report(out, results)
    click.echo(rep.table())
    final = results[0] if len(results) == 1 else majority_vote(results)
    agree = label_agreement(final)
    if agree["agreement"] is not None:
        click.echo(f"agreement with the labels ({a_col} over {b_col}): {100 * agree['agreement']:.1f}% "
                   f"of {agree['agree'] + agree['disagree']} decided pairs ({agree['ties']} ties)")
    if action:
        kept = filter_pairs(rows, final, action=action, id=id_col, chosen=a_col, rejected=b_col)  # type: ignore[arg-type]
        _write_jsonl(out / "pairs.jsonl", kept)
        click.echo(f"{action}: {len(kept)} of {len(rows)} pairs -> {out / 'pairs.jsonl'}")
    click.echo(f"wrote {out}")


@judge.command("score")
@click.option("--answers", "answers_path", required=True,
              help="Answers: records with prompt and answer (or a list of candidates per prompt).")
@_with_common
@click.option("--answer-col", default="answer", show_default=True)
@click.option("--candidates", "candidates_col", default=None, metavar="COLUMN",
              help="Column holding a list of candidate answers per prompt: score them all and "
                   "write pairs.jsonl with the best vs the worst.")
@click.option("--min-margin", type=click.IntRange(min=0), default=1, show_default=True,
              help="Best-vs-worst pairs need at least this score difference.")
@click.option("--scale", default=None, metavar="LOW-HIGH", help="Score scale, default 1-5.")
@click.option("--criteria", default=None, help="What to rate, default 'relevance, coherence, and helpfulness'.")
def score_cmd(answers_path: str, judge_specs: tuple[str, ...], out_dir: str, base_url: str | None,
              concurrency: int | None, rpm: float | None, config_path: str | None,
              overrides: tuple[str, ...], limit: int | None, id_col: str, prompt_col: str,
              answer_col: str, candidates_col: str | None, min_margin: int, scale: str | None,
              criteria: str | None) -> None:
    """Score answers (1-5 with reasoning); invalid answers stay invalid, never averaged in."""
    from hooklab.judge_report import mean_scores
    from hooklab.judges import (
        ScoreResult,
        ScoreVerdict,
        best_vs_worst,
        candidate_items,
        score_items,
    )

    extra = list(overrides)
    if scale is not None:
        m = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", scale)
        if not m:
            raise ConfigError(f"--scale {scale!r}: expected LOW-HIGH, e.g. 1-10")
        extra += [f"score.low={m.group(1)}", f"score.high={m.group(2)}"]
    if criteria is not None:
        extra.append(f"score.criteria={json.dumps(criteria)}")
    rows = _read_records(answers_path, limit)
    groups = None
    if candidates_col:
        items, groups = candidate_items(rows, prompt=prompt_col, candidates=candidates_col, id=id_col)
    else:
        items = score_items(rows, prompt=prompt_col, answer=answer_col, id=id_col)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judges = _build_judges(judge_specs, config_path, tuple(extra), base_url, concurrency, rpm, out)
    results = _run_judges(judges, lambda j: j.score(items), out, "scores")
    rep = _write_report(out, results)
    click.echo(rep.table())
    if groups is not None:
        if len(results) == 1:
            combined = results[0]
        else:  # best vs worst by the judges' mean score (rounded only for the record)
            means = mean_scores(results)
            combined = ScoreResult("mean", [ScoreVerdict(i, m, None) for i, m in means.items()])  # type: ignore[arg-type]
        pairs = best_vs_worst(groups, combined, items, min_margin=min_margin)
        _write_jsonl(out / "pairs.jsonl", pairs)
        click.echo(f"best vs worst: {len(pairs)} pairs from {len(groups)} prompts -> {out / 'pairs.jsonl'}")
    click.echo(f"wrote {out}")


@judge.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the bias plot here (PNG).")
def report_cmd(run_dir: str, fmt: str, plot_path: str | None) -> None:
    """Rebuild and show the report of a judge run folder (all its verdicts-*/scores-* files)."""
    from hooklab.judge_report import report
    from hooklab.judges import load_result

    d = Path(run_dir)
    if not d.is_dir():
        raise DataError(f"no such run folder: {d}")
    files = sorted(d.glob("verdicts-*.jsonl")) + sorted(d.glob("scores-*.jsonl"))
    if not files:
        raise DataError(f"{d} holds no verdicts-*.jsonl or scores-*.jsonl: run `hooklab judge pairwise` "
                        f"or `hooklab judge score` with --out {d} first")
    results = [load_result(f) for f in files]
    if len({r.kind for r in results}) > 1:
        raise DataError(f"{d} mixes pairwise and score results; keep each run in its own folder")
    rep = report(results)
    click.echo(rep.to_json() if fmt == "json" else rep.table())
    if plot_path:
        rep.plot(plot_path)
        click.echo(f"wrote {plot_path}", err=True)
