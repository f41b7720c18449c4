"""Test kit for LLM judges: a judge with known biases, sample pairs, and an in-process backend.

:class:`BiasedJudge` answers the seed's pairwise prompt (and the score prompt) like a biased model:
with probability ``2 * first_bias - 1`` it names position A whatever it shows, otherwise it names
the longer answer; a fraction ``garbage_rate`` of answers is garbage. Its decisions depend only on
the prompt text (hashed with ``seed``), so a test is deterministic. Use it as the scripted server's
responder (a real HTTP judge) or inside :class:`ResponderBackend` (no HTTP)::

    judge_model = BiasedJudge(first_bias=0.7)
    openai_server.responder = judge_model           # hooklab.testing.ScriptedOpenAIServer
    backend = ResponderBackend(judge_model)         # an in-process hooklab.llm.LLMBackend

If A and B are placed at random, the expected first-position win rate is ``first_bias`` and the
longer answer wins with rate ``1 - (2 * first_bias - 1) / 2``.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

_A = re.compile(r"Answer A:\s*(.*?)\n\nAnswer B:", re.DOTALL)
_B = re.compile(r"Answer B:\s*(.*?)\n\n(?:Explain|Reasoning)", re.DOTALL)
_RESPONSE = re.compile(r"Response:\s*(.*?)\n\nExplain", re.DOTALL)


class BiasedJudge:
    """A deterministic judge with a position bias and a length bias (see the module docstring).

    Args:
        first_bias: the first-position win rate it shows when the longer answer is equally often
            first and second (0.5 = only length matters; 1.0 = always A).
        garbage_rate: fraction of answers that contain no verdict/score at all.
        seed: changes which items get which decision.
    """

    def __init__(self, first_bias: float = 0.7, garbage_rate: float = 0.0, seed: int = 0) -> None:
        if not 0.5 <= first_bias <= 1.0:
            raise ValueError("first_bias must be in [0.5, 1]")
        self.first_bias = first_bias
        self.garbage_rate = garbage_rate
        self.seed = seed

    @property
    def expected_longer_win_rate(self) -> float:
        return 1.0 - (2 * self.first_bias - 1) / 2

    def _rng(self, text: str) -> random.Random:
        return random.Random(hashlib.sha256(f"{self.seed}:{text}".encode()).hexdigest())

    def answer(self, prompt: str) -> str:
        """The judge's answer to one prompt (the last user message)."""
        rng = self._rng(prompt)
        if rng.random() < self.garbage_rate:
            return rng.choice(["I'd rather not say.", "Both have merits; hard to tell.", "{\"oops\": ",
                               "Best answer: (A or B)", ""])
        a, b = _A.search(prompt), _B.search(prompt)
        if a and b:
            if rng.random() < 2 * self.first_bias - 1:
                pick = "A"
            elif len(a.group(1)) != len(b.group(1)):
                pick = "A" if len(a.group(1)) > len(b.group(1)) else "B"
            else:
                pick = rng.choice("AB")
            return f"Reasoning: answer {pick} covers the instruction better.\nBest answer: {pick}"
        r = _RESPONSE.search(prompt)
        if r:
            score = min(5, 1 + len(r.group(1).split()) // 5)  # longer answers score higher
            return f"Reasoning: judged on length, as biased judges do.\nScore: {score}"
        return "I do not understand the question."

    def __call__(self, request: dict[str, Any], index: int = 0) -> str:
        """Responder signature of :class:`~hooklab.testing.ScriptedOpenAIServer`."""
        users = [m for m in request.get("messages", []) if m.get("role") == "user"]
        return self.answer(str(users[-1].get("content", "")) if users else "")


def sample_pairs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` preference records ``{id, prompt, chosen, rejected}`` with answers of varied length.

    ``chosen`` is longer than ``rejected`` in about half of the records.
    """
    rng = random.Random(seed)
    words = ("the model layer token answer residual stream attention value key query norm loss "
             "gradient step batch data judge order length bias").split()
    rows = []
    for i in range(n):
        la, lb = rng.sample(range(3, 40), 2)
        rows.append({"id": f"p{i}", "prompt": f"Question {i}: explain {rng.choice(words)}.",
                     "chosen": " ".join(rng.choice(words) for _ in range(la)).capitalize() + ".",
                     "rejected": " ".join(rng.choice(words) for _ in range(lb)).capitalize() + "."})
    return rows


def ResponderBackend(responder: Any, *, name: str = "scripted", model: str = "scripted") -> Any:
    """An in-process :class:`hooklab.llm.LLMBackend` whose answers come from ``responder(request
    dict, index) -> str`` (e.g. a :class:`BiasedJudge`). ``backend.requests`` lists every request.
    """
    from hooklab.llm import LLMBackend, LLMRequest, LLMResponse

    class _Backend(LLMBackend):
        def __init__(self) -> None:
            self.name, self.model = name, model
            self.requests: list[dict[str, Any]] = []

        async def complete(self, request: LLMRequest) -> LLMResponse:
            body = {"model": request.model or self.model, "messages": request.messages}
            self.requests.append(body)
            return LLMResponse(text=str(responder(body, len(self.requests) - 1)), model=self.model)

    return _Backend()


def main(argv: list[str] | None = None) -> None:
    """``python -m hooklab.testing.judges --port 8765 --pairs sample.jsonl``: write sample pairs
    and serve a biased judge on 127.0.0.1 until interrupted (to try ``hooklab judge`` offline)."""
    import argparse
    import json
    import time
    from pathlib import Path

    from hooklab.testing.server import ScriptedOpenAIServer

    ap = argparse.ArgumentParser(prog="python -m hooklab.testing.judges", description=main.__doc__)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--first-bias", type=float, default=0.7)
    ap.add_argument("--garbage-rate", type=float, default=0.0)
    ap.add_argument("--pairs", default=None, help="also write this many sample pairs here (JSONL)")
    ap.add_argument("-n", type=int, default=400, help="number of sample pairs")
    args = ap.parse_args(argv)
    if args.pairs:
        Path(args.pairs).write_text("".join(json.dumps(r) + "\n" for r in sample_pairs(args.n)))
        print(f"wrote {args.n} sample pairs to {args.pairs}", flush=True)
    judge = BiasedJudge(args.first_bias, garbage_rate=args.garbage_rate)
    with ScriptedOpenAIServer(responder=judge, port=args.port) as server:
        print(f"biased judge listening on {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
