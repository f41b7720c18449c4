"""hooklab quickstart: wall and CPU time of a run from scratch (hooklab-tiny trained) with torch's
default thread count (the anchor) and with the quickstart's default of one thread, and of a rerun
that loads the cached hooklab-tiny.

    python benchmarks/bench_quickstart.py                      # the `test` sizes (about a minute)
    python benchmarks/bench_quickstart.py --set preset=fast    # the --fast sizes

Why one thread: hooklab-tiny's matrices are tiny, so extra threads add synchronisation, and on a
machine whose cores are busy with other work, spinning OpenMP threads wait for each other.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from harness import main


def _run(p: dict, threads: int | None, *, warm: bool = False) -> dict:
    from hooklab_quickstart import run

    work = Path(tempfile.mkdtemp(prefix="bench_quickstart_"))
    try:
        if warm:  # fill the cache first (untimed): the timed run loads hooklab-tiny
            run(work / "warm", preset=p["preset"], cache_dir=work / "cache", progress=False, threads=threads)
        t0 = time.perf_counter()
        res = run(work / "out", preset=p["preset"], cache_dir=work / "cache", progress=False, threads=threads)
        wall = time.perf_counter() - t0
        return {"seconds": wall, "cpu_s": round(res.cpu_seconds, 1),
                "tiny_s": res.seconds["tiny"], "trained": res.results["tiny"]["trained"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def torch_default_threads(p: dict) -> dict:
    return _run(p, None)


def hooklab(p: dict) -> dict:
    return _run(p, 1)


def hooklab_cached(p: dict) -> dict:
    return _run(p, 1, warm=True)


if __name__ == "__main__":
    main("quickstart", {"torch_default_threads": torch_default_threads, "hooklab": hooklab,
                        "hooklab_cached": hooklab_cached},
         baseline="torch_default_threads", params={"preset": "test"}, repeat=1,
         notes="one end-to-end run per variant; cpu_s = user+system CPU of the run (process and children)")
