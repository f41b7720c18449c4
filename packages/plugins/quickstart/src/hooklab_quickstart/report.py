"""The one-page HTML report: every step's numbers, tables and images (embedded as base64), with
links to the files each step wrote. Self-contained: it opens from anywhere without the folder."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from hooklab_quickstart.config import QuickstartConfig

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f4f4f4} pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12.5px}
img{max-width:100%;border:1px solid #eee;margin:.4em 0} .fig{display:inline-block;vertical-align:top;margin-right:1em;max-width:100%}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em;margin:.8em 0}
.muted{color:#666;font-size:13px} nav a{margin-right:.8em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(path: str | None, caption: str) -> str:
    if not path or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (f'<div class="fig"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f'<div class="muted">{_e(caption)}</div></div>')


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]], fmt: dict[str, str] | None = None) -> str:
    fmt = fmt or {}
    head = "".join(f"<th>{_e(label)}</th>" for _, label in cols)
    body = []
    for r in rows:
        cells = []
        for key, _ in cols:
            v = r.get(key)
            if v is None:
                s = "–"
            elif key in fmt and isinstance(v, (int, float)):
                s = format(v, fmt[key])
            else:
                s = str(v)
            cells.append(f"<td>{_e(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs) + "</table>"


def _link(out: Path, path: str, label: str) -> str:
    rel = os.path.relpath(path, out)
    return f'<a href="{_e(rel)}">{_e(label)}</a>'


def _raw(text: Any, n: int = 300) -> str:
    """A model's raw text as a JSON string (whitespace and newlines visible), cut to ``n`` characters."""
    import json

    if text is None:
        return "(no text)"
    s = str(text)
    return json.dumps(s[:n], ensure_ascii=False) + (" …" if len(s) > n else "")


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def write_report(result: Any, cfg: QuickstartConfig) -> Path:
    """Write ``OUT/report.html``; returns its path."""
    from hooklab_quickstart.pipeline import STEPS

    out: Path = result.out
    r = result.results
    secs = result.seconds
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>hooklab quickstart</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>hooklab quickstart</h1>",
             f"<p class='muted'>Preset <b>{_e(result.preset)}</b>; wall time {result.total_seconds:.0f} s, "
             f"CPU time {result.cpu_seconds:.0f} s; everything offline on CPU, every number below computed "
             f"in this run. Files: <code>{_e(out.resolve())}</code></p>",
             "<nav>" + "".join(f'<a href="#{k}">{_e(t.split(":")[0])}</a>' for k, t in STEPS) + "</nav>"]
    titles = dict(STEPS)

    def section(key: str, body: str) -> None:
        parts.append(f'<h2 id="{key}">{_e(titles[key])} <span class="muted">({secs.get(key, 0):.0f} s)</span></h2>{body}')

    # 1
    t = r["tiny"]
    c = t["card"]
    how = ("trained in this run and saved to the cache" if t["trained"]
           else "loaded from the cache (trained by an earlier run with the same config)")
    section("tiny", (
        f"<p>A GPT-2-style model trained from scratch on <code>pydoc_data.topics</code> (the help texts every "
        f"Python install has) with hooklab-cpt's trainer and a hooklab-schedules cosine schedule; {how}.</p>"
        + _kv([("parameters", f"{c['parameters']:,}"),
               ("layers / hidden / heads / vocab", f"{c['config']['num_layers']} / {c['config']['hidden_size']} / "
                f"{c['config']['num_heads']} / {c['config']['vocab_size']}"),
               ("training", f"{c['steps']} steps x {c['config']['batch_size']} blocks x {c['config']['block_size']} tokens"
                f" in {c['train_seconds']} s"),
               ("held-out loss (nats/token)", f"{c['held_out_loss_before']:.3f} (random init) -> {c['held_out_loss_after']:.3f}"),
               ("cache", t["cache_dir"]), ("cache key", t["key"])])
        + "".join(_img(p, k) for k, p in t["images"].items())))

    # 2
    cp = r["cpt"]
    section("cpt", (
        f"<p>hooklab-tiny continued on D2 = {cp['d2']['docs']} Python source files of the standard library "
        f"({cp['d2']['chars']:,} characters), replaying D1 = pydoc topics by tokens at the same budget, "
        f"with a re-warmed cosine schedule. Held-out losses in nats/token; a rise on D1 is forgetting.</p>"
        + _table(cp["rows"], [("replay", "replay"), ("d1_before", "D1 before"), ("d1_after", "D1 after"),
                              ("d1_change", "D1 rise (forgetting)"), ("d2_before", "D2 before"),
                              ("d2_after", "D2 after"), ("d2_change", "D2 change"), ("steps", "steps"),
                              ("seconds", "s")],
                 {"replay": ".0%", "d1_before": ".3f", "d1_after": ".3f", "d1_change": "+.3f", "d2_before": ".3f",
                  "d2_after": ".3f", "d2_change": "+.3f"})
        + "".join(_img(p, k) for k, p in cp["images"].items())))

    # 3
    ln = r["lens"]
    acc = ln["final_top1_next_token_accuracy"]
    section("lens", (
        f"<p>Prompt: <code>{_e(ln['prompt'])}</code> ({ln['tokens']} tokens). Each layer's residual stream "
        f"decoded with the final norm and the unembedding (hooklab-lens). The seed's terminal view for the "
        f"second-to-last position, with the rank and probability of the token that actually follows:</p><pre>{_e(ln['table'])}</pre>"
        + (f"<p>At the last layer the top-1 token is the actual next token at {_pct(acc)} of the positions.</p>"
           if acc is not None else "")
        + "".join(_img(p, k) for k, p in ln["images"].items())
        + "<p>" + " · ".join(_link(out, p, k) for k, p in ln["links"].items()) + "</p>"))

    # 4
    cap = r["capture"]
    section("capture", (
        f"<p>{cap['texts']} pydoc documents through hooklab-capture: {cap['tokens']} tokens (padding never "
        f"captured) at {', '.join(cap['points'])}, streamed to {len(cap['shards'])} Parquet shard(s), "
        f"{cap['bytes'] / 1e6:.2f} MB. Read back:</p>"
        + _table(cap["stats"], [("point", "hook point"), ("shape", "shape [tokens, hidden]"),
                                ("mean_norm", "mean L2 norm"), ("std", "std")], {"mean_norm": ".3f", "std": ".3f"})
        + f"<p>Columns: <code>{_e('; '.join(cap['columns']))}</code></p>"
        + "<p>" + " · ".join(_link(out, str(Path(cap["out"]) / s), s) for s in cap["shards"])
        + f" · {_link(out, str(Path(cap['out']) / 'capture.json'), 'capture.json')}</p>"))

    # 5
    pg = r["prefgen"]
    sp = pg["seed_path"]
    note = ""
    if pg["fallback_used"]:
        note = (f"<div class='note'><b>Fallback, said plainly.</b> The seed's scheme asks the LLM for JSON "
                f"triples (instruction, generated answer, extracted answer). hooklab-prefgen sent "
                f"{sp['requests']} chunk(s) to hooklab-tiny through the local backend; "
                f"{sp['parse_failures']} answer(s) were not parseable JSON, so that path gave {sp['pairs']} "
                f"pair(s) (a model this small writes no JSON; a real instruction model does). The pairs below "
                f"keep the seed's idea: <b>chosen</b> = the next sentence of a chunk copied verbatim, "
                f"<b>rejected</b> = hooklab-tiny's own continuation of the same prompt, generated by the "
                f"same local backend.</div>")
        if sp["example_raw"]:
            note += f"<p class='muted'>hooklab-tiny's answer to the triple prompt:</p><pre>{_e(_raw(sp['example_raw']))}</pre>"
    ex = pg["examples"]
    section("prefgen", (
        note + f"<p>{pg['pairs']} pairs → {_link(out, pg['path'], 'pairs.jsonl')}; source documents in the seed's "
        f"format: {_link(out, pg['documents'], 'pydoc_articles.json')}; the seed path's outputs: "
        f"{_link(out, sp['out'] + '/stats.json', 'stats.json')}, "
        f"{_link(out, sp['out'] + '/failures.jsonl', 'failures.jsonl')}.</p>"
        + _table([{k: (v if len(str(v)) < 160 else str(v)[:160] + "…") for k, v in e.items()} for e in ex],
                 [("prompt", "prompt"), ("chosen", "chosen (verbatim)"), ("rejected", "rejected (hooklab-tiny)")])))

    # 6
    jd = r["judge"]
    jcols = [("judge", "judge"), ("items", "pairs"), ("invalid_rate", "invalid"),
             ("first_position_win_rate", "first position win"), ("longer_answer_win_rate", "longer answer win"),
             ("position_consistency", "position consistency"), ("tie_rate", "tie"),
             ("answer1_win_rate", "chosen wins")]
    pf = {k: "" for k, _ in jcols}

    def pct_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: (_pct(v) if isinstance(v, float) and k.endswith(("rate", "consistency")) else v)
                 for k, v in row.items()} for row in rows]

    section("judge", (
        f"<p>{jd['pairs']} pairs judged by hooklab-tiny with the seed's pairwise prompt (hooklab.judges). "
        f"<b>random order</b>: A/B shown in a seeded random order, verdict mapped back; <b>both orders</b>: "
        f"each pair asked twice, a disagreement is a tie (position consistency = the share that agree). "
        f"The verdict letter is chosen by the model's log-probabilities of ' A' and ' B' after "
        f"'Best answer:' (a constrained local judge, <code>hooklab_quickstart.choice.ChoiceBackend</code>); "
        f"the free-form <code>local</code> judge's text is shown below it.</p>"
        + _table(pct_rows(jd["rows"]), jcols, pf)
        + f"<p class='muted'>A verdict's raw answer: </p><pre>{_e(jd['choice_example'])}</pre>"
        + "<p>Free-form judge (hooklab-local, text parsed as 'Best answer: A|B'):</p>"
        + _table(pct_rows(jd["freeform_rows"]), jcols, pf)
        + f"<p class='muted'>Its raw answer:</p><pre>{_e(_raw(jd['freeform_example']))}</pre>"
        + "".join(_img(p, k) for k, p in jd["images"].items())
        + f"<p>{_link(out, jd['out'] + '/report.json', 'report.json')} · "
          f"{_link(out, jd['out'] + '/verdicts-both.jsonl', 'verdicts-both.jsonl')}</p>"))

    # 7
    dp = r["dpo"]
    b, a = dp["before"] or {}, dp["after"] or {}
    rows = [{"when": "before (adapter = 0)", **b}, {"when": f"after {dp['steps']} steps", **a}]
    section("dpo", (
        f"<p>DPO with a LoRA adapter (hooklab-dpo-peft; the reference is hooklab-tiny with the adapter "
        f"disabled) on {dp['train_pairs']} pairs; reward accuracy on {dp['held_out']} held-out pairs "
        f"(ties count half).</p>"
        + _table(rows, [("when", ""), ("accuracy", "accuracy"), ("accuracy_ties_half", "accuracy (ties ½)"),
                        ("mean_margin", "mean reward margin"), ("ties", "ties"), ("n", "pairs")],
                 {"accuracy": ".3f", "accuracy_ties_half": ".3f", "mean_margin": ".4f"})
        + "".join(_img(p, k) for k, p in dp["images"].items())
        + f"<p>Adapter: <code>{_e(dp['adapter'])}</code></p>"))

    parts.append("<h2 id='summary'>8. Summary</h2><pre>" + _e(result.summary()) + "</pre>")
    parts.append("<p class='muted'>Timings (s): " + _e(", ".join(f"{k} {v}" for k, v in secs.items())) + "</p>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
