"""Core's built-in dataset sources: JSONL, JSON, Parquet, CSV, a folder of text files, and
Hugging Face ``datasets`` by name or local path.

They need the ``data`` extra (``pip install "hooklab-core[data]"``). Each returns a
``datasets.Dataset`` (or an ``IterableDataset`` with ``streaming=True``) and raises
:class:`~hooklab.errors.DataError` for missing files and empty data.

Example::

    import hooklab
    ds = hooklab.get("source", "jsonl", path="pairs.jsonl")
    ds = hooklab.load_source("pairs.jsonl")            # the source picked from the extension
    ds = hooklab.load_source({"source": "hf", "name": "./my_dataset_dir", "split": "train"})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import ConfigError, DataError


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSourceConfig(_Config):
    """Options shared by the file sources."""

    path: str | list[str] = Field(description="file path, glob, or list of them")
    streaming: bool = Field(False, description="return an IterableDataset (no full load)")
    limit: int | None = Field(None, ge=1, description="keep only the first N rows")


class JsonSourceConfig(FileSourceConfig):
    field: str | None = Field(
        None, description="key of the list of records, e.g. 'artifact_data' for the seed's format"
    )


class CsvSourceConfig(FileSourceConfig):
    delimiter: str = ","


class TextFolderConfig(_Config):
    path: str = Field(description="folder of text files")
    pattern: str = Field("*.txt", description="glob of the files to read")
    recursive: bool = True
    text_column: str = "text"
    limit: int | None = Field(None, ge=1)


class HFSourceConfig(_Config):
    name: str = Field(description="dataset name or local path (a saved dataset or a script-free repo)")
    config_name: str | None = None
    split: str = "train"
    data_files: str | list[str] | dict[str, Any] | None = None
    revision: str | None = None
    streaming: bool = False
    limit: int | None = Field(None, ge=1)
    trust_remote_code: bool = Field(False, description="off unless you trust the dataset's code")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise DataError(
            'dataset sources need the data extra: pip install "hooklab-core[data]"'
        ) from exc
    datasets.disable_progress_bars()
    return datasets


def _files(path: str | list[str]) -> list[str]:
    paths = [path] if isinstance(path, str) else list(path)
    out: list[str] = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            matches = sorted(str(m) for m in Path().glob(p)) if not Path(p).is_absolute() else sorted(
                str(m) for m in Path("/").glob(p.lstrip("/"))
            )
            if not matches:
                raise DataError(f"no file matches {p!r}")
            out.extend(matches)
        elif not Path(p).is_file():
            raise DataError(f"data file not found: {p}")
        else:
            out.append(p)
    return out


def _finish(ds: Any, limit: int | None, what: str, streaming: bool = False) -> Any:
    if streaming:
        return ds.take(limit) if limit else ds
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    if len(ds) == 0:
        raise DataError(f"{what} is empty: no rows to use")
    return ds


def _builder(kind: str, cfg: FileSourceConfig, **kwargs: Any) -> Any:
    datasets = _datasets()
    files = _files(cfg.path)
    try:
        ds = datasets.load_dataset(kind, data_files=files, split="train", streaming=cfg.streaming, **kwargs)
    except Exception as exc:
        raise DataError(f"cannot read {', '.join(files)} as {kind}: {' '.join(str(exc).split())}") from exc
    return _finish(ds, cfg.limit, ", ".join(files), cfg.streaming)


def jsonl_source(cfg: FileSourceConfig) -> Any:
    """JSON Lines files, one record per line."""
    return _builder("json", cfg)


def json_source(cfg: JsonSourceConfig) -> Any:
    """A JSON file holding a list of records, or a mapping whose ``field`` holds the list."""
    if cfg.field is None:
        return _builder("json", cfg)
    return _builder("json", cfg, field=cfg.field)


def parquet_source(cfg: FileSourceConfig) -> Any:
    """Parquet files (e.g. capture shards or exported preference data)."""
    return _builder("parquet", cfg)


def csv_source(cfg: CsvSourceConfig) -> Any:
    """CSV files with a header row."""
    return _builder("csv", cfg, delimiter=cfg.delimiter)


def text_folder_source(cfg: TextFolderConfig) -> Any:
    """A folder of text files: one row per file with columns ``id`` (relative path) and text."""
    datasets = _datasets()
    root = Path(cfg.path)
    if not root.is_dir():
        raise DataError(f"text folder not found: {root}")
    files = sorted(root.rglob(cfg.pattern) if cfg.recursive else root.glob(cfg.pattern))
    files = [f for f in files if f.is_file()]
    if cfg.limit:
        files = files[: cfg.limit]
    if not files:
        raise DataError(f"no files matching {cfg.pattern!r} in {root}")
    rows = {"id": [str(f.relative_to(root)) for f in files],
            cfg.text_column: [f.read_text(encoding="utf-8", errors="replace") for f in files]}
    return datasets.Dataset.from_dict(rows)


def hf_source(cfg: HFSourceConfig) -> Any:
    """A Hugging Face dataset by hub name (needs network) or a local path.

    A directory written by ``Dataset.save_to_disk`` is loaded with ``load_from_disk``.
    """
    datasets = _datasets()
    local = Path(cfg.name)
    try:
        if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "state.json").exists()):
            ds = datasets.load_from_disk(str(local))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[cfg.split]
            if cfg.streaming:
                ds = ds.to_iterable_dataset()
        else:
            kwargs: dict[str, Any] = {}
            if cfg.trust_remote_code:
                kwargs["trust_remote_code"] = True
            ds = datasets.load_dataset(
                cfg.name, cfg.config_name, split=cfg.split, data_files=cfg.data_files,
                revision=cfg.revision, streaming=cfg.streaming, **kwargs,
            )
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot load dataset {cfg.name!r}: {' '.join(str(exc).split())[:300]}") from exc
    return _finish(ds, cfg.limit, f"dataset {cfg.name!r}", cfg.streaming)


_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
              ".csv": "csv", ".tsv": "csv"}


def load_source(spec: str | Path | dict[str, Any], /, **options: Any) -> Any:
    """Load a dataset from a path (source chosen by extension; a folder -> ``text-folder``, or a
    saved dataset -> ``hf``) or from a mapping ``{"source": NAME, **options}``.

    Returns a ``datasets.Dataset`` / ``IterableDataset``. Raises :class:`DataError` or
    :class:`ConfigError`.
    """
    from hooklab.plugins import get

    if isinstance(spec, dict):
        opts = dict(spec)
        name = opts.pop("source", None)
        if not name:
            raise ConfigError("a source mapping needs a 'source' key, e.g. {'source': 'jsonl', 'path': ...}")
        opts.update(options)
        return get("source", name, **opts)
    path = Path(spec)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return get("source", "hf", name=str(path), **options)
        return get("source", "text-folder", path=str(path), **options)
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        options.setdefault("delimiter", "\t")
    if suffix not in _BY_SUFFIX:
        if not path.exists():
            raise DataError(f"data file not found: {path}")
        raise DataError(
            f"cannot tell the format of {path} from its extension; use one of "
            f"{', '.join(sorted(_BY_SUFFIX))} or name a source"
        )
    return get("source", _BY_SUFFIX[suffix], path=str(path), **options)
