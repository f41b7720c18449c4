"""The replay mixer: new data D2 plus a fraction ``replay`` of old data D1, streamed.

Continued pretraining on D2 alone forgets D1 ("catastrophic forgetting"); mixing a little D1 back
in (the seed: 5 %, DeepSeek 30 %; Ibrahim et al. 2024: 5 % for a weak shift, 25 % for a strong
one) keeps it. The mixer is a stream, so corpora larger than memory work:

* documents are read lazily (JSONL, text, Parquet/CSV/HF sources, Python lists), shuffled with a
  bounded, seeded buffer, and the old data is cycled (re-shuffled each pass) when more is needed;
* ``unit="tokens"`` with ``block_size``: each source is tokenized and packed into fixed-length
  blocks (``input_ids`` = tokens ``[i, i+L)``, ``labels`` = ``[i+1, i+L+1)``, start ``i`` moving by
  ``stride``, as the seed's ``create_dataloader_v1``) and whole blocks are interleaved, so the
  fraction of old *tokens* is exactly the fraction of old blocks;
* ``unit="examples"``: documents are interleaved, then (with ``block_size``) packed together;
* the interleaving is deterministic, not random: each next sample is the one (old or new) that
  keeps the running fraction closest to ``replay``, so any window of 1,000 consecutive samples is
  within a fraction of a percentage point of ``replay``;
* ``budget="fixed"`` (compute-equivalent): the stream has ``total`` samples and replay displaces
  new data; ``budget="added"``: every new sample once, plus old data on top.

Example::

    from hooklab_cpt import ReplayMixer
    mix = ReplayMixer({"new": "d2.jsonl", "old": "d1.jsonl", "replay": "weak", "unit": "tokens",
                       "block_size": 128, "total": 10_000}, tokenizer=tok)
    for sample in mix:            # {"input_ids": [...128], "labels": [...128], "source": "new", ...}
        ...
    ds = mix.to_iterable_dataset()  # a datasets.IterableDataset
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hooklab.errors import ConfigError, DataError

#: Replay presets (Ibrahim et al. 2024): 5 % for a weak distribution shift, 25 % for a strong one.
PRESETS: dict[str, float] = {"none": 0.0, "weak": 0.05, "strong": 0.25}

SourceSpec = str | dict[str, Any] | list[str]
_TOKENIZE_BATCH = 64  # documents per tokenizer call (the fast tokenizer parallelizes inside one)


class DataConfig(BaseModel):
    """What to mix and how (the ``[data]`` table of a ``cpt.toml``)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    new: Any = Field(description="new data D2: a path (.jsonl/.txt/.parquet/.csv/folder), a source "
                                 "mapping {source = 'jsonl', path = ...}, or a list of texts")
    old: Any = Field(None, description="old data D1 to replay (same forms); required when replay > 0")
    replay: float | Literal["none", "weak", "strong"] = Field(
        "weak", description="fraction of old data in the stream: weak = 0.05, strong = 0.25, or a number")
    unit: Literal["tokens", "examples"] = Field(
        "tokens", description="measure the fraction in tokens (blocks) or in examples (documents)")
    budget: Literal["fixed", "added"] = Field(
        "fixed", description="fixed: `total` samples, replay displaces new data; added: every new "
                             "sample once plus replay on top")
    total: int | None = Field(None, ge=1, description="samples in the stream (blocks when packing); "
                                                      "fixed budget only; default one pass of the new data")
    block_size: int | None = Field(None, ge=2, description="pack into blocks of this many tokens")
    stride: int | None = Field(None, ge=1, description="start of block i+1 minus start of block i "
                                                       "(default block_size: no overlap)")
    text_column: str = "text"
    seed: int = 0
    shuffle_buffer: int = Field(1000, ge=0, description="documents held for shuffling (0 = keep order)")
    add_eos: bool = Field(True, description="put the tokenizer's EOS between packed documents")

    @field_validator("replay")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        if isinstance(v, float | int) and not 0 <= v < 1:
            raise ValueError("replay must be a fraction in [0, 1) or 'weak' / 'strong'")
        return v

    @property
    def fraction(self) -> float:
        """The replay fraction as a number."""
        return PRESETS[self.replay] if isinstance(self.replay, str) else float(self.replay)


class ReplayMixConfig(DataConfig):
    """The ``replay-mix`` dataset source: :class:`DataConfig` plus the tokenizer to pack with."""

    tokenizer: str | None = Field(None, description="tokenizer name or path (needed for unit='tokens' "
                                                    "or block_size)")
    trust_remote_code: bool = False


# -- reading documents lazily ---------------------------------------------------------------------
def _jsonl(path: Path, column: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove the line") from None
            if not isinstance(row, dict) or column not in row:
                raise DataError(f"{path}:{n} has no {column!r} field; set text_column")
            yield str(row[column])


def _paragraphs(path: Path) -> Iterator[str]:
    """A text file as documents separated by blank lines (streamed line by line)."""
    buf: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                buf.append(line)
            elif buf:
                yield "".join(buf)
                buf = []
    if buf:
        yield "".join(buf)


def _rows(ds: Any, column: str, what: str) -> Iterator[str]:
    for row in ds:
        if column not in row:
            raise DataError(f"{what} has no {column!r} column (columns: {', '.join(row)}); set text_column")
        yield str(row[column])


def iter_documents(spec: Any, text_column: str = "text") -> Iterator[str]:
    """One pass over the documents of ``spec`` (see :class:`DataConfig` ``new``), lazily.

    Raises:
        DataError: missing files, a missing text column, invalid JSON lines.
    """
    if isinstance(spec, list | tuple):
        yield from (str(s) for s in spec)
        return
    if isinstance(spec, dict):
        from hooklab.sources import load_source

        yield from _rows(load_source(spec), text_column, f"source {spec.get('source')!r}")
        return
    if not isinstance(spec, str | Path):
        if hasattr(spec, "__iter__"):  # a datasets.Dataset / IterableDataset or any iterable of rows
            for row in spec:
                yield row if isinstance(row, str) else str(row[text_column])
            return
        raise ConfigError(f"unsupported data spec {type(spec).__name__}: use a path, a source mapping or a list")
    path = Path(spec)
    if not path.exists() and not any(ch in str(spec) for ch in "*?["):
        raise DataError(f"data not found: {path}")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        yield from _jsonl(path, text_column)
    elif suffix in {".txt", ".md", ".text"}:
        yield from _paragraphs(path)
    else:
        from hooklab.sources import load_source

        opts = {"streaming": True} if suffix in {".parquet", ".csv", ".tsv", ".json"} else {}
        yield from _rows(load_source(str(path), **opts), text_column, str(path))


def _shuffled(items: Iterable[Any], buffer: int, rng: random.Random) -> Iterator[Any]:
    """A bounded shuffle buffer (as ``IterableDataset.shuffle``): memory is ``buffer`` items."""
    if buffer <= 1:
        yield from items
        return
    buf: list[Any] = []
    for item in items:
        if len(buf) < buffer:
            buf.append(item)
            continue
        i = rng.randrange(buffer)
        yield buf[i]
        buf[i] = item
    rng.shuffle(buf)
    yield from buf


# -- tokenizing and packing -----------------------------------------------------------------------
def pack(docs: Iterable[str], tokenizer: Any, block_size: int, stride: int | None = None, *,
         add_eos: bool = True, batch: int = _TOKENIZE_BATCH) -> Iterator[tuple[list[int], list[int]]]:
    """Tokenize ``docs`` (in batches) into one token stream and cut it into blocks.

    Yields ``(input_ids, labels)`` with ``labels`` shifted by one, starts ``0, stride, 2*stride...``
    while a full block plus its next token fits: the seed's ``create_dataloader_v1``
    (``range(0, len(ids) - max_length, stride)``). Memory holds one block plus one batch of docs.
    """
    stride = stride or block_size
    eos = getattr(tokenizer, "eos_token_id", None) if add_eos else None
    buf: list[int] = []
    pos = 0  # start of the next block inside buf
    it = iter(docs)
    while True:
        chunk = list(islice(it, batch))
        if not chunk:
            break
        for ids in tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"]:
            buf.extend(ids)
            if eos is not None:
                buf.append(eos)
        while pos + block_size < len(buf):
            yield buf[pos:pos + block_size], buf[pos + 1:pos + block_size + 1]
            pos += stride
        if pos > 0:  # drop what no later block can use
            cut = min(pos, len(buf))
            del buf[:cut]
            pos -= cut


# -- the mixer ------------------------------------------------------------------------------------
class ReplayMixer:
    """A deterministic, streaming mix of new data and replayed old data (see the module doc).

    Iterating yields dicts: with ``block_size`` ``{"input_ids", "labels", "source", "old_tokens"}``
    (``source`` is ``"old"``/``"new"``, or ``"mixed"`` when ``unit="examples"`` packs documents of
    both; ``old_tokens`` counts the block's old tokens), else ``{"text", "source", "n_tokens"}``.
    """

    def __init__(self, config: DataConfig | dict[str, Any], tokenizer: Any = None) -> None:
        from hooklab.config import validate

        model = ReplayMixConfig if isinstance(config, dict) and "tokenizer" in config else DataConfig
        self.config: DataConfig = config if isinstance(config, DataConfig) else validate(
            model, config, where="replay mix")
        cfg = self.config
        self.replay = cfg.fraction
        if tokenizer is None and isinstance(cfg, ReplayMixConfig) and cfg.tokenizer:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer, trust_remote_code=cfg.trust_remote_code)
        self.tokenizer = tokenizer
        if self.replay > 0 and cfg.old is None:
            raise ConfigError(f"replay = {self.replay} needs old data: set data.old (or replay = 0)")
        if (cfg.unit == "tokens" or cfg.block_size) and tokenizer is None:
            raise ConfigError("unit = 'tokens' and block_size need a tokenizer: pass tokenizer= or set "
                              "tokenizer = 'path/or/name'")
        if cfg.budget == "added" and cfg.total is not None:
            raise ConfigError("total applies to budget = 'fixed'; with budget = 'added' the stream is "
                              "every new sample plus replay")
        self._total: int | None = cfg.total

    # one source as a stream of items (weight = tokens or 1)
    def _items(self, which: str, epoch: int) -> Iterator[tuple[dict[str, Any], int]]:
        cfg = self.config
        spec = cfg.new if which == "new" else cfg.old
        rng = random.Random(f"{cfg.seed}:{which}:{epoch}")
        docs = _shuffled(iter_documents(spec, cfg.text_column), cfg.shuffle_buffer, rng)
        if cfg.unit == "tokens" and cfg.block_size:
            L = cfg.block_size
            for ids, labels in pack(docs, self.tokenizer, L, cfg.stride, add_eos=cfg.add_eos):
                yield {"input_ids": ids, "labels": labels, "source": which,
                       "old_tokens": L if which == "old" else 0}, L
        elif cfg.unit == "tokens":
            for chunk in iter(lambda: list(islice(docs, _TOKENIZE_BATCH)), []):
                for text, ids in zip(chunk, self.tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"],
                                     strict=True):
                    yield {"text": text, "source": which, "n_tokens": len(ids)}, max(1, len(ids))
        else:
            for text in docs:
                yield {"text": text, "source": which, "n_tokens": -1}, 1

    def _cycle(self, which: str) -> Iterator[tuple[dict[str, Any], int]]:
        epoch = 0
        while True:
            empty = True
            for item in self._items(which, epoch):
                empty = False
                yield item
            if empty:
                raise DataError(f"the {which} data yields no samples (empty, or every document "
                                f"shorter than block_size)")
            epoch += 1

    def _mixed(self) -> Iterator[dict[str, Any]]:
        r = self.replay
        fixed = self.config.budget == "fixed"
        total = self.total if fixed else None
        new = self._cycle("new") if fixed else self._items("new", 0)
        old = self._cycle("old") if r > 0 else iter(())
        next_new = next(new, None)
        next_old = next(old, None) if r > 0 else None
        if next_new is None:
            raise DataError("the new data yields no samples (empty, or shorter than block_size)")
        old_w = tot_w = 0
        n = 0
        while (total is None or n < total) and next_new is not None:
            take_old = False
            if next_old is not None:
                w_o, w_n = next_old[1], next_new[1]
                # the choice that keeps the running fraction closest to r (ties: new data)
                take_old = abs((old_w + w_o) / (tot_w + w_o) - r) < abs(old_w / (tot_w + w_n) - r)
            if take_old:
                item, w = next_old  # type: ignore[misc]
                old_w += w
                next_old = next(old, None)
            else:
                item, w = next_new  # type: ignore[misc]
                next_new = next(new, None)
            tot_w += w
            n += 1
            yield item

    def _packed_mixed(self) -> Iterator[dict[str, Any]]:
        """unit='examples' + block_size: pack the mixed documents, counting old tokens per block."""
        cfg = self.config
        L, stride = cfg.block_size, cfg.stride or cfg.block_size
        assert L is not None
        eos = getattr(self.tokenizer, "eos_token_id", None) if cfg.add_eos else None
        ids: list[int] = []
        old: list[bool] = []
        pos = 0
        docs = self._mixed_unbounded()
        n = 0
        total = self.total if cfg.budget == "fixed" else None
        for chunk in iter(lambda: list(islice(docs, _TOKENIZE_BATCH)), []):
            toks = self.tokenizer([d["text"] for d in chunk], add_special_tokens=False, verbose=False)["input_ids"]
            for d, t in zip(chunk, toks, strict=True):
                t = [*t, eos] if eos is not None else list(t)
                ids.extend(t)
                old.extend([d["source"] == "old"] * len(t))
            while pos + L < len(ids):
                k = sum(old[pos:pos + L])
                yield {"input_ids": ids[pos:pos + L], "labels": ids[pos + 1:pos + L + 1],
                       "source": "old" if k == L else "new" if k == 0 else "mixed", "old_tokens": k}
                n += 1
                if total is not None and n >= total:
                    return
                pos += stride
            cut = min(pos, len(ids))
            del ids[:cut], old[:cut]
            pos -= cut

    def _mixed_unbounded(self) -> Iterator[dict[str, Any]]:
        fixed = self.config.budget == "fixed"
        r = self.replay
        new = self._cycle("new") if fixed else self._items("new", 0)
        old = self._cycle("old") if r > 0 else iter(())
        next_new, next_old = next(new, None), (next(old, None) if r > 0 else None)
        old_w = tot_w = 0
        while next_new is not None:
            if next_old is not None and abs((old_w + 1) / (tot_w + 1) - r) < abs(old_w / (tot_w + 1) - r):
                item, _ = next_old
                old_w += 1
                next_old = next(old, None)
            else:
                item, _ = next_new
                next_new = next(new, None)
            tot_w += 1
            yield item

    @property
    def total(self) -> int:
        """Samples in the stream for a fixed budget (default: one pass of the new data, counted)."""
        if self._total is None:
            self._total = self.count_new()
        return self._total

    def count_new(self) -> int:
        """Samples (blocks when packing) in one pass of the new data; reads it once."""
        cfg = self.config
        if cfg.block_size and cfg.unit == "examples":
            sub = ReplayMixer(cfg.model_copy(update={"replay": 0.0, "budget": "added", "total": None}),
                              self.tokenizer)
            return sum(1 for _ in sub._packed_mixed())
        return sum(1 for _ in self._items("new", 0))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.iter()

    def iter(self, skip: int = 0) -> Iterator[dict[str, Any]]:
        """The stream, after ``skip`` samples (for resuming: the same samples as before follow)."""
        cfg = self.config
        if cfg.block_size and cfg.unit == "examples":
            stream = self._packed_mixed()
        else:
            stream = self._mixed()
        return islice(stream, skip, None) if skip else stream

    def to_iterable_dataset(self) -> Any:
        """The stream as a ``datasets.IterableDataset`` (regenerated on every pass)."""
        import datasets

        return datasets.IterableDataset.from_generator(_generate, gen_kwargs={"mixer": [self]})


def _generate(mixer: list[ReplayMixer]) -> Iterator[dict[str, Any]]:
    yield from mixer[0]


def replay_mix_source(cfg: ReplayMixConfig) -> Any:
    """The ``replay-mix`` dataset source: a ``datasets.IterableDataset`` of the mixed stream."""
    return ReplayMixer(cfg).to_iterable_dataset()
