"""Capture activations at hook points over many texts: in memory, or streamed to Parquet shards.

Layout on disk (one folder per capture)::

    capture.json               the settings (model, revision, dtype, points, tokenizer, ...)
    shard-00000.parquet        texts [0, S), one row per (non-padding) token
    shard-00001.parquet        texts [S, 2S) ...

Each shard has the columns ``doc_id`` (int64, index of the text), ``position`` (int32, index of
the token in its text), ``token_id`` (int32) and one ``fixed_size_list<float16|float32>[width]``
column per hook point, named after it (``layers.0``...). One row per token with a column per point
keeps token metadata once (not once per point), lets a reader load one point's column alone, and
puts the width in the schema, so ``datasets`` and pandas read it without a custom decoder. The
schema metadata key ``hooklab.capture`` holds the settings and the shard's text range.

Memory is bounded by one batch: each batch is written as a row group and dropped. A shard is
written to a temporary file and renamed when complete, so a killed capture resumes by skipping the
shards that exist. Under ``accelerate launch`` (or any launcher setting ``RANK``/``WORLD_SIZE``),
rank ``r`` captures shards ``r, r + N, ...``; shard names do not depend on the number of ranks.

Example::

    from hooklab.testing import tiny_model, tiny_tokenizer
    from hooklab_capture.capture import capture, load_capture

    model, tok = tiny_model("llama"), tiny_tokenizer()
    acts = capture(model, tok, ["some text", "more text"], "layers.*")          # in memory
    acts["layers.0"].shape                                                       # [tokens, hidden]
    capture(model, tok, texts, "layers.*", out="acts/")                         # Parquet shards
    assert load_capture("acts/")["layers.0"].shape == acts["layers.0"].shape
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import DataError, ModelError

FORMAT = "hooklab-capture/1"
MANIFEST = "capture.json"
META_KEY = b"hooklab.capture"
POSITIONS = "every non-padding token"
_DTYPES = ("float16", "float32")


# -- inputs --------------------------------------------------------------------------------------
def read_texts(source: Any, text_field: str = "text") -> list[str]:
    """Texts from a list, a ``.txt`` file (one text per non-empty line), a JSONL/JSON/CSV/Parquet
    file or folder (column ``text_field``), or a ``datasets.Dataset``.

    Raises:
        DataError: the file is missing or empty, or has no ``text_field`` column.
    """
    if isinstance(source, (list, tuple)):
        texts = [str(t) for t in source]
    elif isinstance(source, (str, Path)) and Path(source).suffix in {".txt", ".text", ""} and Path(source).is_file():
        path = Path(source)
        texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif isinstance(source, (str, Path)):
        if not Path(source).exists():
            raise DataError(f"text file {str(source)!r} does not exist; pass --texts FILE (.txt, .jsonl, .parquet...)")
        from hooklab.sources import load_source

        texts = _column(load_source(str(source)), text_field, source)
    else:
        texts = _column(source, text_field, "dataset")
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise DataError(f"no texts in {source if isinstance(source, (str, Path)) else 'the input'!s}: "
                        f"it is empty; give at least one non-empty text")
    return texts


def _column(ds: Any, field_name: str, where: Any) -> list[str]:
    names = getattr(ds, "column_names", None) or []
    if field_name not in names:
        raise DataError(f"{where}: no {field_name!r} column (columns: {', '.join(names)}); use --text-field")
    return [str(t) for t in ds[field_name]]


def check_device_dtype(device: str, dtype: str) -> None:
    """Raise :class:`~hooklab.errors.ModelError` when ``device`` is unavailable or cannot run a
    norm and a matmul in ``dtype``."""
    import torch

    if dtype not in (*_DTYPES, "bfloat16"):
        raise ModelError(f"dtype {dtype!r} is not supported for capture; use float16 or float32")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} is not available (no CUDA); use --device cpu")
    try:
        dt = getattr(torch, dtype)
        x = torch.ones(2, 8, dtype=dt, device=device)
        torch.nn.functional.layer_norm(x, (8,)) @ x.T
    except (RuntimeError, TypeError) as exc:
        first = str(exc).splitlines()[0][:160]
        raise ModelError(f"dtype {dtype} is not supported on device {device!r} ({first}); "
                         f"use --dtype float32") from None


# -- the core loop -------------------------------------------------------------------------------
def _storage_dtype(model: Any, dtype: str | None) -> str:
    if dtype is None:
        name = str(next(model.parameters()).dtype).replace("torch.", "")
        return name if name in _DTYPES else "float32"
    if dtype not in _DTYPES:
        raise ModelError(f"dtype {dtype!r} cannot be stored; use float16 or float32")
    return dtype


def iter_batches(
    model: Any, tokenizer: Any, texts: Sequence[str], points: Any, *, batch_size: int = 8,
    max_length: int = 512, dtype: str | None = None, start: int = 0,
) -> Iterator[dict[str, Any]]:
    """Run ``model`` over ``texts`` in batches and yield one dict per batch: ``doc_id``,
    ``position``, ``token_id`` (1-D CPU tensors, one entry per non-padding token) and one
    ``[tokens, width]`` CPU tensor per hook point name. ``start`` offsets ``doc_id``.

    Raises :class:`~hooklab.errors.HookPointError` for unknown points.
    """
    import torch

    from hooklab.hooks import Hooks, StopForward
    from hooklab.models import hook_points

    resolved = hook_points(model).resolve(points)
    store = getattr(torch, _storage_dtype(model, dtype))
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelError("the tokenizer has no pad or eos token; set tokenizer.pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    current: dict[str, Any] = {}

    def record(act: Any, hp: Any) -> None:
        current[hp.name] = act

    with Hooks(model, owner="hooklab-capture") as h, torch.inference_mode():
        h.forward(resolved, record)
        # nothing after the last point is needed (often the LM head, the largest matmul)
        h.stop_after(resolved)
        for lo in range(0, len(texts), batch_size):
            batch = list(texts[lo:lo + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            mask = enc["attention_mask"].bool()
            current.clear()
            try:
                model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
            except StopForward:
                pass
            doc = torch.arange(lo, lo + len(batch), dtype=torch.int64)[:, None].expand_as(mask)
            pos = (mask.long().cumsum(1) - 1).to(torch.int32)
            out: dict[str, Any] = {
                "doc_id": doc[mask] + start, "position": pos[mask], "token_id": enc["input_ids"][mask].to(torch.int32),
            }
            mask_d = mask.to(device)
            for hp in resolved:
                act = current.get(hp.name)
                if act is not None and act.dim() == 2 and act.shape[0] == mask.numel():
                    act = act.reshape(*mask.shape, -1)  # OPT's fc2 sees [batch * seq, width]
                if act is None or act.dim() < 3 or act.shape[:2] != mask.shape:
                    raise ModelError(f"hook point {hp.name!r} does not give a [batch, seq, width] activation "
                                     f"(got {None if act is None else tuple(act.shape)}); capture block, "
                                     f"attn, mlp, norm or embedding outputs")
                out[hp.name] = act[mask_d].reshape(int(mask.sum()), -1).to(dtype=store).cpu()
            yield out


# -- in memory -------------------------------------------------------------------------------------
@dataclass
class Activations:
    """Captured activations: ``{point: [tokens, width] tensor}`` plus per-token ``doc_id``,
    ``position`` and ``token_id``, and the capture's ``meta``."""

    tensors: dict[str, Any]
    doc_id: Any
    position: Any
    token_id: Any
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, point: str) -> Any:
        try:
            return self.tensors[point]
        except KeyError:
            raise DataError(f"no activations for {point!r}; captured: {', '.join(self.tensors)}") from None

    @property
    def points(self) -> list[str]:
        return list(self.tensors)

    def __len__(self) -> int:
        return int(self.doc_id.shape[0])

    def to_pandas(self) -> Any:
        """One row per token: doc_id, position, token_id and one array column per point."""
        import pandas as pd

        data: dict[str, Any] = {"doc_id": self.doc_id.numpy(), "position": self.position.numpy(),
                                "token_id": self.token_id.numpy()}
        for name, t in self.tensors.items():
            data[name] = list(t.numpy())
        return pd.DataFrame(data)

    def save(self, path: str | Path) -> Path:
        """Write one Parquet file (same schema as the shards)."""
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_to_table(self.__dict__ | self.tensors, list(self.tensors), self.meta), path)
        return path


def _concat(batches: Iterable[dict[str, Any]], names: list[str], meta: dict[str, Any]) -> Activations:
    import torch

    cols: dict[str, list[Any]] = {}
    for b in batches:
        for k, v in b.items():
            cols.setdefault(k, []).append(v)
    if not cols:
        raise DataError("nothing was captured: no tokens in the texts")
    cat = {k: torch.cat(v) for k, v in cols.items()}
    return Activations({n: cat[n] for n in names}, cat["doc_id"], cat["position"], cat["token_id"], meta)


# -- Parquet ---------------------------------------------------------------------------------------
def _arrow(values: Any) -> Any:
    """A zero-copy pyarrow array over a 1-D contiguous numpy array (``pa.array`` converts
    float16 element by element: 10x slower than the forward pass it follows)."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _to_table(batch: dict[str, Any], names: list[str], meta: dict[str, Any]) -> Any:
    import pyarrow as pa

    arrays = [_arrow(batch["doc_id"].numpy()), _arrow(batch["position"].numpy()), _arrow(batch["token_id"].numpy())]
    fields = [pa.field("doc_id", pa.int64()), pa.field("position", pa.int32()), pa.field("token_id", pa.int32())]
    for name in names:
        t = batch[name]
        values = _arrow(t.numpy().reshape(-1))
        arrays.append(pa.FixedSizeListArray.from_arrays(values, int(t.shape[1])))
        fields.append(pa.field(name, pa.list_(values.type, int(t.shape[1]))))
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(meta, sort_keys=True).encode()})
    return pa.Table.from_arrays(arrays, schema=schema)


def _rank_world() -> tuple[int, int, Any]:
    """(rank, world size, accelerate state or None) from the launcher's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    try:
        from accelerate import PartialState
    except ImportError:  # a launcher without accelerate: no barrier, ranks share by shard index
        return int(os.environ.get("RANK", "0")), world, None
    import torch

    # cpu=True makes accelerate pick gloo (MULTI_CPU) where there is no GPU
    state = PartialState(cpu=not torch.cuda.is_available())
    return state.process_index, state.num_processes, state


def _sha(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def settings_of(model: Any, tokenizer: Any, texts: Sequence[str], points: Any, *, max_length: int,
                dtype: str, shard_texts: int, model_name: str | None = None,
                revision: str | None = None) -> dict[str, Any]:
    """The settings that make two captures the same capture (stored in ``capture.json``)."""
    from hooklab.models import hook_points

    resolved = hook_points(model).resolve(points)
    cfg = getattr(model, "config", None)
    return {
        "format": FORMAT,
        "model": model_name or getattr(cfg, "_name_or_path", "") or type(model).__name__,
        "model_type": getattr(cfg, "model_type", None),
        "revision": revision,
        "dtype": dtype,
        "points": [p.name for p in resolved],
        "point_paths": {p.name: p.path for p in resolved},
        "tokenizer": getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "max_length": max_length,
        "positions": POSITIONS,
        "padding_side": getattr(tokenizer, "padding_side", "right"),
        "num_texts": len(texts),
        "texts_sha256": _sha(texts),
        "shard_texts": shard_texts,
    }


@dataclass
class CaptureRun:
    """What :func:`capture` did on disk."""

    out: Path
    settings: dict[str, Any]
    shards_written: list[int]
    shards_skipped: list[int]
    tokens: int
    bytes_written: int
    seconds: float

    def load(self) -> Activations:
        """Read the whole capture back (see :func:`load_capture`)."""
        return load_capture(self.out)

    def to_pandas(self) -> Any:
        return self.load().to_pandas()


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.parquet"


def _prepare_out(out: Path, settings: dict[str, Any], overwrite: bool, rank: int, state: Any) -> None:
    manifest = out / MANIFEST
    if rank == 0:
        if out.exists() and not out.is_dir():
            raise DataError(f"--out {str(out)!r} is a file; give a folder")
        ours = [*out.glob("shard-*.parquet"), *out.glob("shard-*.parquet.tmp*")] if out.exists() else []
        if manifest.exists():
            old = json.loads(manifest.read_text())
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if diff and not overwrite:
                raise DataError(f"{out} holds a different capture (differs in: {', '.join(diff)}); "
                                f"use --overwrite to replace it or choose another --out")
            if diff:
                for p in ours:
                    p.unlink()
        elif out.exists() and any(out.iterdir()):
            if not overwrite:
                raise DataError(f"{out} is not empty and holds no hooklab capture; use --overwrite or "
                                f"choose another --out")
            for p in ours:
                p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True))
        os.replace(tmp, manifest)
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        old = json.loads(manifest.read_text())
        if old != settings:
            raise DataError(f"rank {rank}: settings differ from rank 0's; give every rank the same inputs")


def capture(
    model: Any,
    tokenizer: Any,
    texts: Any,
    points: Any = "layers.*",
    *,
    out: str | Path | None = None,
    batch_size: int = 8,
    max_length: int = 512,
    dtype: str | None = None,
    shard_texts: int = 256,
    overwrite: bool = False,
    text_field: str = "text",
    model_name: str | None = None,
    revision: str | None = None,
    progress: bool = False,
) -> Activations | CaptureRun:
    """Capture ``points`` over ``texts`` (a list, a file or a dataset; see :func:`read_texts`).

    Without ``out``: returns :class:`Activations` (in memory). With ``out``: streams Parquet
    shards of ``shard_texts`` texts into that folder (resuming a partial capture with the same
    settings) and returns a :class:`CaptureRun`. Padding is never captured.

    Raises:
        HookPointError: an unknown hook point (lists the valid names).
        DataError: no texts; ``out`` holds a different capture and ``overwrite`` is off.
        ModelError: the model has no block list, or a point is not a per-token activation.
    """
    from hooklab.models import hook_points

    texts = read_texts(texts, text_field)
    names = [p.name for p in hook_points(model).resolve(points)]
    store = _storage_dtype(model, dtype)
    settings = settings_of(model, tokenizer, texts, points, max_length=max_length, dtype=store,
                           shard_texts=shard_texts, model_name=model_name, revision=revision)
    if out is None:
        # batches never cross shard boundaries, as on disk: the values are bit-identical
        chunks = (iter_batches(model, tokenizer, texts[lo:lo + shard_texts], names, batch_size=batch_size,
                               max_length=max_length, dtype=store, start=lo)
                  for lo in range(0, len(texts), shard_texts))
        return _concat((b for chunk in chunks for b in chunk), names, settings)
    return _capture_to_parquet(model, tokenizer, texts, names, settings, Path(out), batch_size=batch_size,
                               overwrite=overwrite, progress=progress)


def _capture_to_parquet(model: Any, tokenizer: Any, texts: list[str], names: list[str], settings: dict[str, Any],
                        out: Path, *, batch_size: int, overwrite: bool, progress: bool) -> CaptureRun:
    from tqdm.auto import tqdm

    rank, world, state = _rank_world()
    _prepare_out(out, settings, overwrite, rank, state)
    S = settings["shard_texts"]
    n_shards = (len(texts) + S - 1) // S
    mine = [k for k in range(n_shards) if k % world == rank]
    todo = [k for k in mine if not _complete(out / _shard_name(k))]
    skipped = [k for k in mine if k not in todo]
    t0, tokens, nbytes = time.perf_counter(), 0, 0
    bar = tqdm(total=sum(min(S, len(texts) - k * S) for k in todo), unit="text", disable=not progress,
               desc=f"capture{f' rank {rank}' if world > 1 else ''}", dynamic_ncols=True)
    # Writing runs in one background thread (pyarrow releases the GIL) while the next batch is
    # computed; at most one batch waits to be written, so memory stays bounded by two batches.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hooklab-capture-writer")
    try:
        for k in todo:
            lo, hi = k * S, min((k + 1) * S, len(texts))
            meta = settings | {"shard": k, "text_range": [lo, hi], "rank": rank, "world_size": world}
            shard = _ShardWriter(out / f"{_shard_name(k)}.tmp{rank}", out / _shard_name(k))
            pending: Future[None] | None = None
            try:
                for batch in iter_batches(model, tokenizer, texts[lo:hi], names, batch_size=batch_size,
                                          max_length=settings["max_length"], dtype=settings["dtype"], start=lo):
                    table = _to_table(batch, names, meta)
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(shard.write, table)
                    tokens += table.num_rows
                    bar.update(int(batch["doc_id"].unique().numel()))
                    bar.set_postfix(tok_s=f"{tokens / max(time.perf_counter() - t0, 1e-9):.0f}",
                                    written=_human(nbytes + shard.bytes))
                if pending is not None:
                    pending.result()
                    pending = None
            finally:
                if pending is not None:  # an error while computing: let the write end, keep the .tmp
                    pending.exception()
                shard.close()
            nbytes += shard.finish()
    finally:
        pool.shutdown(wait=True)
    bar.close()
    if state is not None:
        state.wait_for_everyone()
    return CaptureRun(out, settings, todo, skipped, tokens, nbytes, time.perf_counter() - t0)


class _ShardWriter:
    """One shard: row groups go to a temporary file, renamed to its final name when complete."""

    def __init__(self, tmp: Path, final: Path) -> None:
        self.tmp, self.final = tmp, final
        self.writer: Any = None
        self.bytes = 0

    def write(self, table: Any) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            meta_cols = ["doc_id", "position", "token_id"]
            # float activations: no dictionary (it never pays off and costs 2-4x the write time),
            # no min/max statistics; both kept for the small integer columns
            self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="none",
                                           use_dictionary=meta_cols, write_statistics=meta_cols)
        self.writer.write_table(table)
        self.bytes = self.tmp.stat().st_size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> int:
        self.close()
        os.replace(self.tmp, self.final)
        return self.final.stat().st_size


def _complete(path: Path) -> bool:
    if not path.exists():
        return False
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return True
    except Exception:  # a torn file (should not happen: shards are renamed when complete)
        return False


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f}{unit}"
        n /= 1000
    return f"{n:.1f}TB"


def read_settings(out: str | Path) -> dict[str, Any]:
    """The settings of the capture in ``out`` (``capture.json``). Raises DataError if none."""
    manifest = Path(out) / MANIFEST
    if not manifest.exists():
        raise DataError(f"{out} holds no hooklab capture (no {MANIFEST})")
    return dict(json.loads(manifest.read_text()))


def shard_files(out: str | Path) -> list[Path]:
    """The shard files of a complete capture, in order.

    Raises :class:`DataError` when shards are missing (rerun the same command to resume).
    """
    settings = read_settings(out)
    n = (settings["num_texts"] + settings["shard_texts"] - 1) // settings["shard_texts"]
    files = [Path(out) / _shard_name(k) for k in range(n)]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise DataError(f"capture in {out} is incomplete ({len(missing)} of {n} shards missing, e.g. "
                        f"{missing[0]}); rerun the same capture command to resume it")
    return files


def load_capture(out: str | Path, points: Sequence[str] | None = None) -> Activations:
    """Read a Parquet capture back into :class:`Activations` (only ``points`` when given)."""
    import numpy as np
    import pyarrow.parquet as pq
    import torch

    settings = read_settings(out)
    names = list(points) if points is not None else settings["points"]
    cols = ["doc_id", "position", "token_id", *names]
    tables = [pq.read_table(f, columns=cols) for f in shard_files(out)]
    import pyarrow as pa

    table = pa.concat_tables(tables)

    def tensor(name: str) -> Any:
        col = table.column(name).combine_chunks()
        if isinstance(col.type, pa.FixedSizeListType):
            flat = col.values.to_numpy(zero_copy_only=False)
            return torch.from_numpy(np.array(flat).reshape(len(col), col.type.list_size))
        return torch.from_numpy(col.to_numpy(zero_copy_only=False).copy())

    return Activations({n: tensor(n) for n in names}, tensor("doc_id"), tensor("position"),
                       tensor("token_id"), settings)
