"""An on-disk cache of precomputed reference log-probs.

The key is a hash of (reference-model fingerprint, tokenized-dataset fingerprint, lengths and
precision): a later run with the same reference weights, the same tokenized pairs and the same
``max_length`` reuses the numbers instead of running the reference over the data again. Entries are
safetensors files (two float32 vectors) plus a small JSON sidecar saying what they were made from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: Columns of a TRL-tokenized DPO dataset that determine the reference log-probs.
TOKEN_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")


def default_cache_dir() -> Path:
    """``<user cache dir>/hooklab/dpo-ref`` (platformdirs)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hooklab")) / "dpo-ref"


def model_fingerprint(model: Any, *, skip: tuple[str, ...] = ("lora_",)) -> str:
    """SHA-256 over every parameter and buffer (name, dtype, shape, values) of ``model``.

    Keys containing any of ``skip`` are left out, so that a PEFT model's fingerprint is its base
    model's (the reference of a LoRA run is the base with the adapter disabled).
    """
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if any(s in name for s in skip):
            continue
        # a PEFT wrapper renames base weights (base_model.model.x.base_layer.weight): normalise
        norm = name.replace("base_model.model.", "").replace(".base_layer", "")
        t = tensor.detach()
        h.update(f"{norm}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.dtype in (torch.bfloat16, torch.float16) or (not t.dtype.is_floating_point and t.dtype != torch.bool):
            t = t.to(torch.float32) if t.dtype.is_floating_point else t.to(torch.int64)
        h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def dataset_fingerprint(ds: Any, columns: tuple[str, ...] = TOKEN_COLUMNS) -> str:
    """SHA-256 of the token-id columns of a tokenized dataset (their Arrow IPC bytes)."""
    import pyarrow as pa

    table = ds.select_columns([c for c in columns if c in ds.column_names]).data
    table = getattr(table, "table", table)
    if ds._indices is not None:  # a selected/shuffled view: hash the rows it shows, in order
        table = table.take(ds._indices.column(0))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def cache_key(model_fp: str, data_fp: str, **settings: Any) -> str:
    """The cache key: a hash of the two fingerprints and the settings (lengths, precision...)."""
    blob = json.dumps({"model": model_fp, "data": data_fp, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class RefLogpCache:
    """Reference log-probs on disk, one safetensors file per key."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.paths: list[str] = []

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def load(self, key: str, n: int) -> tuple[Any, Any] | None:
        """``(chosen, rejected)`` float32 tensors for ``key``, or None (absent or wrong length)."""
        from safetensors.torch import load_file

        p = self.path(key)
        if not p.is_file():
            self.misses += 1
            return None
        try:
            t = load_file(str(p))
        except Exception:  # a torn write: recompute rather than fail
            self.misses += 1
            return None
        if t["chosen"].shape[0] != n or t["rejected"].shape[0] != n:
            self.misses += 1
            return None
        self.hits += 1
        self.paths.append(str(p))
        return t["chosen"], t["rejected"]

    def store(self, key: str, chosen: Any, rejected: Any, meta: dict[str, Any]) -> Path:
        """Write an entry atomically (temp file + rename). Returns its path."""
        import torch
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        p = self.path(key)
        tmp = p.with_suffix(".tmp")
        save_file({"chosen": torch.as_tensor(chosen, dtype=torch.float32).contiguous(),
                   "rejected": torch.as_tensor(rejected, dtype=torch.float32).contiguous()}, str(tmp))
        tmp.replace(p)
        p.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        self.paths.append(str(p))
        return p
