"""Reward accuracy: how often a DPO model prefers the chosen answer (RewardBench-style).

The implicit reward of a completion is ``beta * sum over completion tokens of (log π − log π_ref)``.
A pair is correct when the chosen reward is *strictly* greater than the rejected one (ties are
wrong). Reported: accuracy, mean margin (chosen − rejected reward), ties, and the same per subset
when the pairs have a ``subset`` column.

The reference is ``ref_model``; for a PEFT model without ``ref_model`` it is the same model with
the adapter disabled; for a plain model without ``ref_model`` the reward is ``beta * log π`` alone
(reference-free, reported as ``reference="none"``).

Tokenization follows TRL's DPOTrainer: the prompt (chat template with the generation prompt for
chat pairs), then the completion (plus EOS for text pairs) where the tokenized prompt and
prompt+completion diverge; ``max_length`` keeps the start.

Example::

    from hooklab_dpo_trl.rewards import reward_accuracy
    res = reward_accuracy(model, tokenizer, pairs, ref_model=ref)
    print(res)                     # accuracy 0.912 (n=500, ties=0), mean margin 1.73
    res.to_pandas(); res.save("reward_accuracy.json")
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import ConfigError, DataError


@dataclass
class RewardAccuracy:
    """Reward accuracy of a model on preference pairs."""

    accuracy: float
    mean_margin: float
    n: int
    ties: int
    reference: str
    beta: float = 1.0
    per_subset: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def accuracy_ties_half(self) -> float:
        """Accuracy with ties counted as half right: 0.5 for a policy equal to its reference (chance)."""
        return self.accuracy + 0.5 * self.ties / self.n if self.n else 0.0

    def summary(self) -> dict[str, Any]:
        """Everything but the per-pair rows."""
        d = asdict(self)
        d.pop("rows")
        d["accuracy_ties_half"] = self.accuracy_ties_half
        return d

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_pandas(self) -> Any:
        """One row per pair: chosen/rejected rewards, margin, correct, subset."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def save(self, path: str | Path) -> Path:
        """Write the result: ``.json`` (summary + rows) or ``.csv`` (rows). Returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix.lower() == ".csv":
            self.to_pandas().to_csv(p, index=False)
        else:
            p.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return p

    def __str__(self) -> str:
        s = (f"reward accuracy {self.accuracy:.3f} (n={self.n}, ties={self.ties}, reference={self.reference}), "
             f"mean margin {self.mean_margin:.4g}")
        for name, sub in sorted(self.per_subset.items()):
            s += f"\n  {name}: accuracy {sub['accuracy']:.3f} (n={int(sub['n'])}), mean margin {sub['mean_margin']:.4g}"
        return s


def _is_chat(value: Any) -> bool:
    return isinstance(value, list)


def _tok(tokenizer: Any, value: Any, *, generation_prompt: bool = False) -> list[int]:
    if _is_chat(value):
        out = tokenizer.apply_chat_template(value, tokenize=True, add_generation_prompt=generation_prompt,
                                            return_dict=True)
        return list(out["input_ids"])
    return list(tokenizer(value)["input_ids"])


def _prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def tokenize_pair(tokenizer: Any, prompt: Any, chosen: Any, rejected: Any,
                  max_length: int | None = None) -> tuple[list[int], int, list[int], int]:
    """Tokenize one pair as TRL's DPOTrainer does.

    Returns ``(chosen_ids, chosen_start, rejected_ids, rejected_start)``: full sequences and the
    index of their first completion token.
    """
    eos = tokenizer.eos_token or ""
    if not _is_chat(chosen):
        chosen = chosen if chosen.endswith(eos) else chosen + eos
        rejected = rejected if rejected.endswith(eos) else rejected + eos
        prompt = prompt or ""
        p_ids = _tok(tokenizer, prompt)
        c_ids, r_ids = _tok(tokenizer, prompt + chosen), _tok(tokenizer, prompt + rejected)
    else:
        prompt = prompt or []
        p_ids = _tok(tokenizer, prompt, generation_prompt=True)
        c_ids, r_ids = _tok(tokenizer, prompt + chosen), _tok(tokenizer, prompt + rejected)
    start = min(_prefix(p_ids, c_ids), _prefix(p_ids, r_ids))
    if max_length is not None:
        c_ids, r_ids = c_ids[:max_length], r_ids[:max_length]
    return c_ids, start, r_ids, start


def sequence_logps(model: Any, sequences: list[list[int]], starts: list[int], *, batch_size: int = 8,
                   pad_id: int = 0) -> Any:
    """Sum of log-probabilities of tokens ``seq[start:]`` given the tokens before them.

    Returns a float32 CPU tensor of shape ``[len(sequences)]``. Runs under ``torch.no_grad``; the
    log-softmax is taken one sequence at a time so memory stays at one ``[T, vocab]`` block.
    """
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # less padding
    values = torch.zeros(len(sequences), dtype=torch.float32)
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            T = max(len(sequences[i]) for i in idx)
            ids = torch.full((len(idx), T), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for row, i in enumerate(idx):
                seq = sequences[i]
                ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, :len(seq)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
            for row, i in enumerate(idx):
                seq, start = sequences[i], max(starts[i], 1)
                if start >= len(seq):
                    values[i] = 0.0
                    continue
                lg = logits[row, start - 1:len(seq) - 1].float()
                target = ids[row, start:len(seq)].to(lg.device)
                lp = lg.log_softmax(-1).gather(-1, target[:, None]).squeeze(-1)
                values[i] = lp.sum().cpu()
            del logits
    return values


def pair_logps(model: Any, tokenizer: Any, pairs: Any, *, batch_size: int = 8,
               max_length: int | None = None) -> tuple[Any, Any]:
    """``(chosen_logps, rejected_logps)``: summed completion log-probs of every pair under ``model``."""
    seqs: list[list[int]] = []
    starts: list[int] = []
    for ex in _rows(pairs):
        c, cs, r, rs = tokenize_pair(tokenizer, ex.get("prompt"), ex["chosen"], ex["rejected"], max_length)
        seqs += [c, r]
        starts += [cs, rs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    lps = sequence_logps(model, seqs, starts, batch_size=batch_size, pad_id=pad)
    return lps[0::2], lps[1::2]


def _rows(pairs: Any) -> list[dict[str, Any]]:
    rows = list(pairs) if not isinstance(pairs, list) else pairs
    if not rows:
        raise DataError("no preference pairs to evaluate")
    missing = [c for c in ("chosen", "rejected") if c not in rows[0]]
    if missing:
        raise DataError(f"pairs lack column(s) {', '.join(missing)}; need prompt, chosen, rejected")
    return rows


@contextlib.contextmanager
def _adapter_disabled(model: Any) -> Any:
    with model.disable_adapter():
        yield


def _is_peft(model: Any) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def reference_logps(model: Any, tokenizer: Any, pairs: Any, *, ref_model: Any = None, batch_size: int = 8,
                    max_length: int | None = None) -> tuple[Any, Any, str]:
    """Reference log-probs of every pair and the kind of reference used.

    Returns ``(chosen, rejected, reference)`` where ``reference`` is ``"model"`` (``ref_model``),
    ``"adapter-disabled"`` (PEFT model without ``ref_model``) or ``"none"`` (zeros).
    """
    import torch

    if ref_model is not None:
        c, r = pair_logps(ref_model, tokenizer, pairs, batch_size=batch_size, max_length=max_length)
        return c, r, "model"
    if _is_peft(model):
        with _adapter_disabled(model):
            c, r = pair_logps(model, tokenizer, pairs, batch_size=batch_size, max_length=max_length)
        return c, r, "adapter-disabled"
    n = len(_rows(pairs))
    return torch.zeros(n), torch.zeros(n), "none"


def reward_accuracy(model: Any, tokenizer: Any, pairs: Any, *, ref_model: Any = None, beta: float = 1.0,
                    batch_size: int = 8, max_length: int | None = None,
                    ref: tuple[Any, Any, str] | None = None) -> RewardAccuracy:
    """Reward accuracy of ``model`` against its reference on ``pairs``.

    ``pairs``: a ``datasets.Dataset`` or list of dicts with ``prompt``, ``chosen``, ``rejected``
    (strings or chat messages) and optionally ``subset``. ``ref``: reference log-probs from
    :func:`reference_logps`, to reuse them across evaluations (before/after training).

    Returns a :class:`RewardAccuracy`. Raises DataError for missing columns or no pairs.
    """
    if beta <= 0:
        raise ConfigError(f"beta must be > 0, got {beta}")
    rows = _rows(pairs)
    was_training = model.training
    model.eval()
    try:
        if ref is None:
            ref = reference_logps(model, tokenizer, rows, ref_model=ref_model, batch_size=batch_size,
                                  max_length=max_length)
        ref_c, ref_r, kind = ref
        pol_c, pol_r = pair_logps(model, tokenizer, rows, batch_size=batch_size, max_length=max_length)
    finally:
        model.train(was_training)
    rc = (beta * (pol_c - ref_c)).tolist()
    rr = (beta * (pol_r - ref_r)).tolist()
    out_rows = []
    for i, ex in enumerate(rows):
        margin = rc[i] - rr[i]
        out_rows.append({"chosen_reward": rc[i], "rejected_reward": rr[i], "margin": margin,
                         "correct": rc[i] > rr[i], "tie": rc[i] == rr[i],
                         "subset": ex.get("subset")})
    per_subset: dict[str, dict[str, float]] = {}
    if any(r["subset"] is not None for r in out_rows):
        for name in sorted({str(r["subset"]) for r in out_rows}):
            sub = [r for r in out_rows if str(r["subset"]) == name]
            per_subset[name] = _stats(sub)
    s = _stats(out_rows)
    return RewardAccuracy(accuracy=s["accuracy"], mean_margin=s["mean_margin"], n=len(out_rows),
                          ties=int(s["ties"]), reference=kind, beta=beta, per_subset=per_subset, rows=out_rows)


def _stats(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows)
    return {"accuracy": sum(r["correct"] for r in rows) / n,
            "mean_margin": sum(r["margin"] for r in rows) / n,
            "ties": float(sum(r["tie"] for r in rows)), "n": float(n)}
