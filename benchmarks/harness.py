"""A tiny side-by-side benchmark runner.

A script defines one function per variant and calls :func:`main`::

    # benchmarks/bench_example.py
    from harness import main

    def anchor(p):                 # setup here is untimed when a callable is returned
        x = list(range(p["n"]))
        return lambda: sorted(x)   # timed, best of --repeat

    def hooklab(p):
        x = list(range(p["n"]))
        return lambda: sorted(x, reverse=True)

    if __name__ == "__main__":
        main("example", {"anchor": anchor, "hooklab": hooklab}, baseline="anchor", params={"n": 10**6})

Each variant runs in its own subprocess (``python script.py --variant NAME``) so that peak RSS is
its own. A variant returns either ``None`` (the whole call is timed), a zero-argument callable
(timed best-of-``--repeat``), or a dict (extra metrics; ``"seconds"`` in it overrides the timing),
or a ``(callable, dict)`` tuple. The parent prints wall time, peak RSS (and CUDA peak memory when
used), the ratio to the baseline, and appends the table to ``benchmarks/RESULTS.md``.

Command line: ``--variant NAME`` (child mode), ``--only a,b``, ``--repeat N``,
``--set key=value`` (params), ``--no-record`` (do not append to RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
_MARK = "@@BENCH@@"


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cuda_peak_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _sync() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _child(fn: Callable[[dict[str, Any]], Any], params: dict[str, Any], repeat: int) -> None:
    extra: dict[str, Any] = {}
    t0 = time.perf_counter()
    out = fn(params)
    _sync()
    seconds = time.perf_counter() - t0
    if isinstance(out, tuple):
        out, extra = out[0], dict(out[1])
    elif isinstance(out, dict):
        extra, out = out, None
    if callable(out):
        best = float("inf")
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            res = out()
            _sync()
            best = min(best, time.perf_counter() - t0)
            if isinstance(res, dict):
                extra.update(res)
        seconds = best
    seconds = float(extra.pop("seconds", seconds))
    record = {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "cuda_peak_mb": _cuda_peak_mb(), **extra}
    print(_MARK + json.dumps(record, default=str), flush=True)


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        k, _, v = item.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def main(
    name: str,
    variants: dict[str, Callable[[dict[str, Any]], Any]],
    *,
    baseline: str | None = None,
    params: dict[str, Any] | None = None,
    repeat: int = 3,
    timeout: float = 1800,
    notes: str = "",
) -> list[dict[str, Any]]:
    """Run ``variants`` side by side (or one of them, in child mode) and report."""
    ap = argparse.ArgumentParser(description=f"benchmark: {name}")
    ap.add_argument("--variant")
    ap.add_argument("--only")
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the children")
    args, _ = ap.parse_known_args()
    p = {**(params or {}), **_parse_set(args.set)}
    if args.variant:
        _child(variants[args.variant], p, args.repeat)
        return []
    names = [n for n in variants if not args.only or n in args.only.split(",")]
    rows: list[dict[str, Any]] = []
    script = os.path.abspath(sys.argv[0])
    for v in names:
        cmd = [args.python, script, "--variant", v, "--repeat", str(args.repeat)]
        for item in args.set:
            cmd += ["--set", item]
        print(f"[{name}] running {v} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            rows.append({"variant": v, "error": " | ".join(tail) or f"exit {proc.returncode}"})
            continue
        rows.append({"variant": v, **json.loads(lines[-1][len(_MARK):])})
    base = next((r for r in rows if r["variant"] == baseline and "seconds" in r), None)
    for r in rows:
        if base and "seconds" in r:
            r["ratio"] = r["seconds"] / base["seconds"] if base["seconds"] else None
            r["rss_ratio"] = r["peak_rss_mb"] / base["peak_rss_mb"] if base["peak_rss_mb"] else None
    table = _table(rows)
    print(table)
    if not args.no_record:
        _record(name, p, table, notes)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    keys = ["variant", "seconds", "ratio", "peak_rss_mb", "rss_ratio", "cuda_peak_mb"]
    extra = sorted({k for r in rows for k in r} - set(keys) - {"error"})
    cols = keys + extra + (["error"] if any("error" in r for r in rows) else [])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def _machine() -> str:
    torch = sys.modules.get("torch")
    bits = [platform.machine(), f"{os.cpu_count()} cpu", f"python {platform.python_version()}"]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            bits.append(out.stdout.strip().splitlines()[0])
    except (OSError, subprocess.TimeoutExpired):
        pass
    if torch is not None:
        bits.append(f"torch {torch.__version__}")
    return ", ".join(bits)


def _record(name: str, params: dict[str, Any], table: str, notes: str) -> None:
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"\n## {name} — {when}", "", f"Machine: {_machine()}. Params: `{json.dumps(params)}`.", ""]
    if notes:
        block += [notes, ""]
    block += [table, ""]
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(block) + "\n")
