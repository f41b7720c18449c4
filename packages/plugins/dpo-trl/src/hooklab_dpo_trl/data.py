"""Preference pairs: load from any hooklab source and validate ``prompt`` / ``chosen`` / ``rejected``.

Values are plain strings or chat messages (lists of ``{"role", "content"}``). Validation:

* missing columns -> :class:`~hooklab.errors.DataError` naming what is there;
* empty ``chosen`` / ``rejected`` -> DataError with the first row numbers (or dropped and counted
  with ``drop_empty=True``);
* ``chosen == rejected`` -> dropped and counted (no learning signal);
* over-long pairs (prompt + completion over ``max_length`` tokens) -> counted as truncated (the
  collator keeps the start); a prompt that alone fills ``max_length`` leaves no completion and is
  dropped and counted; ``max_prompt_length`` keeps the last N prompt tokens of text prompts.

Example::

    from hooklab_dpo_trl.data import load_pairs, validate_pairs
    ds = load_pairs("pairs.jsonl")
    ds, report = validate_pairs(ds, tokenizer, max_length=512)
    print(report)   # 1000 rows: 996 kept, 3 chosen==rejected dropped, 12 truncated to 512 tokens
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hooklab.errors import DataError

REQUIRED = ("prompt", "chosen", "rejected")


@dataclass
class DataReport:
    """What validation did to the pairs."""

    rows: int = 0
    kept: int = 0
    dropped_identical: int = 0
    dropped_empty: int = 0
    dropped_prompt_too_long: int = 0
    truncated: int = 0
    prompt_truncated: int = 0
    max_length: int | None = None
    examples: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        bits = [f"{self.rows} rows: {self.kept} kept"]
        if self.dropped_identical:
            bits.append(f"{self.dropped_identical} with chosen == rejected dropped")
        if self.dropped_empty:
            bits.append(f"{self.dropped_empty} with an empty answer dropped")
        if self.dropped_prompt_too_long:
            bits.append(f"{self.dropped_prompt_too_long} whose prompt fills max_length dropped")
        if self.truncated:
            bits.append(f"{self.truncated} truncated to {self.max_length} tokens")
        if self.prompt_truncated:
            bits.append(f"{self.prompt_truncated} prompts cut to max_prompt_length")
        return ", ".join(bits)


def load_pairs(spec: Any) -> Any:
    """Load preference pairs from a path, a source mapping, a ``datasets.Dataset`` or a list of dicts.

    Returns a ``datasets.Dataset``. Raises DataError / ConfigError from the source.
    """
    import datasets

    if isinstance(spec, datasets.Dataset):
        return spec
    if isinstance(spec, datasets.IterableDataset):
        raise DataError("DPO needs a map-style dataset: load the source without streaming=true")
    if isinstance(spec, list):
        if not spec:
            raise DataError("no preference pairs given (empty list)")
        return datasets.Dataset.from_list(spec)
    import hooklab

    ds = hooklab.load_source(spec)
    if isinstance(ds, datasets.IterableDataset):
        raise DataError("DPO needs a map-style dataset: load the source without streaming=true")
    return ds


def _is_chat(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value)


def _text(value: Any) -> str:
    """The text a value carries: a string, or the concatenated contents of chat messages."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if _is_chat(value):
        return "".join(str(m.get("content") or "") for m in value)
    raise DataError(f"a pair value must be a string or a list of chat messages, got {type(value).__name__}")


def _first(rows: list[int], n: int = 5) -> str:
    return ", ".join(str(r) for r in rows[:n]) + (" ..." if len(rows) > n else "")


def check_columns(ds: Any) -> None:
    """Raise DataError when the pairs lack ``chosen``/``rejected``, or ``prompt`` for text pairs."""
    cols = list(ds.column_names)
    missing = [c for c in ("chosen", "rejected") if c not in cols]
    if "prompt" not in cols and not (len(ds) and _is_chat(ds[0].get("chosen"))):
        missing.insert(0, "prompt")
    if missing:
        raise DataError(
            f"preference data lacks column(s) {', '.join(missing)}; found: {', '.join(cols) or '(none)'}. "
            "Rename the columns to prompt/chosen/rejected (chat pairs may omit prompt)"
        )


def validate_pairs(
    ds: Any,
    tokenizer: Any = None,
    *,
    max_length: int | None = None,
    max_prompt_length: int | None = None,
    drop_empty: bool = False,
    keep_columns: tuple[str, ...] = ("subset",),
) -> tuple[Any, DataReport]:
    """Validate and clean preference pairs.

    Returns ``(dataset, report)``: the dataset has ``prompt``, ``chosen``, ``rejected`` (and the
    ``keep_columns`` that exist); the report counts what was dropped or truncated. Token counts
    need ``tokenizer``; without it, nothing is counted as truncated.

    Raises:
        DataError: missing columns, no rows, empty answers (unless ``drop_empty``), or no pair left.
    """
    check_columns(ds)
    if "prompt" not in ds.column_names:
        from trl.data_utils import extract_prompt

        ds = ds.map(extract_prompt)
    keep = [c for c in (*REQUIRED, *keep_columns) if c in ds.column_names]
    ds = ds.select_columns(keep)
    report = DataReport(rows=len(ds), max_length=max_length)
    if len(ds) == 0:
        raise DataError("preference data has no rows")

    prompts, chosen, rejected = ds["prompt"], ds["chosen"], ds["rejected"]
    empty: list[int] = []
    identical: list[int] = []
    for i, (c, r) in enumerate(zip(chosen, rejected, strict=True)):
        ct, rt = _text(c).strip(), _text(r).strip()
        if not ct or not rt:
            empty.append(i)
        elif c == r:
            identical.append(i)
    if empty and not drop_empty:
        raise DataError(
            f"{len(empty)} of {len(ds)} pairs have an empty chosen or rejected answer (rows {_first(empty)}); "
            "fix the data or set drop_empty = true"
        )
    report.dropped_empty, report.dropped_identical = len(empty), len(identical)
    report.examples = {k: v[:5] for k, v in (("empty", empty), ("identical", identical)) if v}
    bad = set(empty) | set(identical)

    new_prompts: dict[int, Any] = {}
    too_long: list[int] = []
    if tokenizer is not None:
        for i in range(len(ds)):
            if i in bad:
                continue
            p = prompts[i]
            p_ids = _ids(tokenizer, p, prompt=True)
            if max_prompt_length is not None and isinstance(p, str) and len(p_ids) > max_prompt_length:
                p_ids = p_ids[-max_prompt_length:]
                new_prompts[i] = tokenizer.decode(p_ids)
                report.prompt_truncated += 1
            if max_length is None:
                continue
            if len(p_ids) >= max_length:
                too_long.append(i)
                continue
            # text completions get an EOS appended by the trainer: count it
            longest = max(len(_ids(tokenizer, _join(p, c), prompt=False)) + (0 if isinstance(c, list) else 1)
                          for c in (chosen[i], rejected[i]))
            if longest > max_length:
                report.truncated += 1
    report.dropped_prompt_too_long = len(too_long)
    bad |= set(too_long)

    if new_prompts:
        ds = ds.map(lambda ex, idx: {"prompt": new_prompts.get(idx, ex["prompt"])}, with_indices=True)
    if bad:
        ds = ds.select([i for i in range(len(ds)) if i not in bad])
    report.kept = len(ds)
    if report.kept == 0:
        raise DataError(f"no usable preference pairs left ({report}); check the data and max_length")
    return ds, report


def _join(prompt: Any, completion: Any) -> Any:
    if isinstance(prompt, list) or isinstance(completion, list):
        p = prompt if isinstance(prompt, list) else ([{"role": "user", "content": prompt}] if prompt else [])
        c = completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
        return p + c
    return (prompt or "") + completion


def _ids(tokenizer: Any, value: Any, *, prompt: bool) -> list[int]:
    if isinstance(value, list):
        out = tokenizer.apply_chat_template(value, tokenize=True, add_generation_prompt=prompt, return_dict=True)
        return list(out["input_ids"])
    return list(tokenizer(value or "")["input_ids"])


def split_pairs(ds: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Split off a held-out fraction (at least one row each side). Returns ``(train, held_out)``."""
    if fraction <= 0:
        return ds, None
    n_eval = max(1, round(len(ds) * fraction))
    if n_eval >= len(ds):
        raise DataError(f"eval_fraction {fraction} leaves no training pairs out of {len(ds)}")
    parts = ds.train_test_split(test_size=n_eval, seed=seed, shuffle=True)
    return parts["train"], parts["test"]
