"""``ChoiceBackend``: a local backend that answers the judge's A/B question by the model's
next-token log-probabilities instead of free text.

A model as small as hooklab-tiny cannot write "Reasoning: ... Best answer: A", so a free-form
judge on it is invalid nearly every time. This backend renders the same judge prompt, appends
``"Best answer:"`` and compares log p(" A") with log p(" B") (or of "A"/"B" after ``"Best answer: "``) — constrained decoding over two
letters — and answers in the seed's format, so :mod:`hooklab.judges` parses, randomizes and reports
it like any judge. The log-probabilities are in the answer text (``raw`` in the verdicts).
"""

from __future__ import annotations

from typing import Any

from hooklab.errors import BackendError
from hooklab.llm import LLMBackend, LLMRequest, LLMResponse, Usage


class ChoiceBackend(LLMBackend):
    """Pick the likelier of ``choices`` after the rendered prompt + ``cue``.

    Example::

        judge = hooklab.judges.Judge(ChoiceBackend(model, tokenizer), {"order": "both"})
        result = judge.pairwise(pair_items(rows))
    """

    name = "local-choice"

    def __init__(self, model: Any, tokenizer: Any, *, choices: tuple[str, ...] = ("A", "B"),
                 cue: str = "\nBest answer:", model_name: str = "hooklab-tiny") -> None:
        self._model, self._tok = model, tokenizer
        self.model = model_name
        self.choices, self.cue = choices, cue
        # " A" after "Best answer:" where the vocabulary has it as one token, else "A" after "Best answer: "
        spaced = [tokenizer.encode(" " + c, add_special_tokens=False) for c in choices]
        plain = [tokenizer.encode(c, add_special_tokens=False) for c in choices]
        if all(len(i) == 1 for i in spaced):
            self._ids = [i[0] for i in spaced]
        elif all(len(i) == 1 for i in plain):
            self._ids, self.cue = [i[0] for i in plain], cue + " "
        else:
            raise BackendError(f"choices {choices} are not single tokens for this tokenizer; pick shorter ones")

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import torch

        from hooklab_local.backend import render_prompt

        text = render_prompt(self._tok, request.messages) + self.cue
        ids = self._tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        limit = getattr(self._model.config, "n_positions", None) or getattr(
            self._model.config, "max_position_embeddings", None)
        if limit and ids.shape[1] > limit:
            ids = ids[:, -limit:]  # keep the end: the answers and the question
        with torch.no_grad():
            logits = self._model(input_ids=ids.to(next(self._model.parameters()).device)).logits[0, -1]
        logp = torch.log_softmax(logits.float(), dim=-1)[self._ids].tolist()
        best = max(range(len(self.choices)), key=lambda i: logp[i])
        detail = ", ".join(f"log p({c}) = {v:.3f}" for c, v in zip(self.choices, logp, strict=True))
        out = f"Reasoning: {detail}.\nBest answer: {self.choices[best]}"
        return LLMResponse(text=out, model=self.model, usage=Usage(int(ids.shape[1]), 1), finish_reason="stop")
