"""The LLM batch runner against the scripted OpenAI-compatible server answering after 200 ms.

500 requests, concurrency 32 (issue 6). Variants:

* ``ideal``          — no work; its time is the ideal ``n * delay / concurrency`` (the baseline,
                       so ``ratio`` is wall time / ideal; goal <= 1.3).
* ``seed-threads``   — the seed's way: a ``ThreadPoolExecutor`` of 32 threads calling the sync
                       ``openai.OpenAI`` client and ``json.loads`` on each answer.
* ``hooklab``        — ``BatchRunner`` + ``OpenAIBackend`` (async client), no journal.
* ``hooklab-journal`` — the same with the SQLite run journal recording every request.

The server runs in its own process, so ``cpu_ms_per_req`` (process CPU time / requests, goal <= 2)
is the client's cost only.

    python benchmarks/bench_llm_runner.py [--set n=500 --set concurrency=32 --set delay=0.2]
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import time

from harness import main

SERVER = """
import sys
from hooklab.testing import ScriptedOpenAIServer, Reply
srv = ScriptedOpenAIServer(default=Reply.json({"answer": "ok", "n": 1}, delay=float(sys.argv[1]))).start()
print(srv.base_url, flush=True)
sys.stdin.read()
"""


def _server(delay: float) -> str:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(delay)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    atexit.register(proc.kill)
    return proc.stdout.readline().strip()  # type: ignore[union-attr]


def _prompts(n: int) -> list[str]:
    return [f"Request {i}: answer with a JSON object with keys answer and n." for i in range(n)]


def _metrics(p: dict, t0: float, c0: float, ok: int) -> dict:
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ideal = p["n"] * p["delay"] / p["concurrency"]
    return {"seconds": wall, "wall_vs_ideal": wall / ideal, "cpu_ms_per_req": 1000 * cpu / p["n"],
            "ok": ok}


def ideal(p):
    return {"seconds": p["n"] * p["delay"] / p["concurrency"], "ok": p["n"]}


def seed_threads(p):
    import concurrent.futures

    import openai

    url = _server(p["delay"])
    client = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)

    def one(prompt: str) -> dict:
        completion = client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": prompt}],
            response_format={"type": "json_object"}, max_tokens=2000, temperature=0.7)
        return json.loads(completion.choices[0].message.content)

    def go() -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=p["concurrency"]) as pool:
            results = list(pool.map(one, _prompts(p["n"])))
        return _metrics(p, t0, c0, sum(1 for r in results if r.get("answer") == "ok"))

    return go


def _hooklab(p, journal: bool):
    from hooklab.llm import BatchRunner, LLMRequest
    from hooklab_openai.backend import OpenAIBackend

    url = _server(p["delay"])
    reqs = [LLMRequest.chat(t, json_mode=True, max_tokens=2000, temperature=0.7) for t in _prompts(p["n"])]
    tmp = tempfile.mkdtemp()
    runs = iter(range(100))

    def go() -> dict:
        backend = OpenAIBackend(model="scripted", base_url=url)
        backend._get_client()  # client set-up (TLS context...) is untimed, as for seed-threads
        path = os.path.join(tmp, f"j{next(runs)}.db") if journal else None
        runner = BatchRunner(backend, {"concurrency": p["concurrency"]}, journal=path)
        t0, c0 = time.perf_counter(), time.process_time()
        results = runner.run(reqs)
        return _metrics(p, t0, c0, sum(1 for r in results if r.ok and r.response.parsed["answer"] == "ok"))

    return go


def hooklab(p):
    return _hooklab(p, journal=False)


def hooklab_journal(p):
    return _hooklab(p, journal=True)


if __name__ == "__main__":
    main("llm-runner", {"ideal": ideal, "seed-threads": seed_threads, "hooklab": hooklab,
                        "hooklab-journal": hooklab_journal},
         baseline="ideal", params={"n": 500, "concurrency": 32, "delay": 0.2}, repeat=2,
         notes="500 requests to the scripted server (own process) answering after 200 ms; ratio = "
               "wall / ideal (n x delay / concurrency; goal <= 1.3); cpu_ms_per_req = client CPU "
               "time per request (goal <= 2). Best of 2. 2 shared CPU cores.")
