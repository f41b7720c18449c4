"""Input documents: the seed's ``{"artifact_data": [...]}`` JSON, JSON, JSONL, Parquet, a folder
of text files, or any hooklab dataset source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import DataError


@dataclass
class Document:
    """One article: its id, text, and the rest of its record (platform, author, link...)."""

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def _records(spec: str | Path | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(spec, dict):
        import hooklab

        return list(hooklab.load_source(spec))
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in {".txt", ".md"})
        if not files:
            raise DataError(f"no .txt or .md files in {path}")
        return [{"id": str(f.relative_to(path)), "content": f.read_text(encoding="utf-8", errors="replace")}
                for f in files]
    if not path.is_file():
        raise DataError(f"documents file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                lists = {k: v for k, v in data.items() if isinstance(v, list)}
                if "artifact_data" in lists:
                    return list(lists["artifact_data"])
                if len(lists) == 1:
                    return list(next(iter(lists.values())))
                raise DataError(f"{path}: expected a list of records or {{\"artifact_data\": [...]}}")
            if isinstance(data, list):
                return data
            raise DataError(f"{path}: expected a list of records or {{\"artifact_data\": [...]}}")
        if suffix in {".jsonl", ".ndjson"}:
            rows = []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path} line {n} is not JSON: {exc.msg}") from None
            return rows
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    import hooklab

    return list(hooklab.load_source(str(path)))  # csv, tsv, a saved dataset...


def load_documents(spec: str | Path | dict[str, Any], *, text_field: str = "content",
                   id_field: str = "id", limit: int | None = None) -> list[Document]:
    """Load the documents to turn into preference data.

    ``spec`` is a path (``.json`` — the seed's shape or a list —, ``.jsonl``, ``.parquet``, a
    folder of ``.txt``/``.md`` files, or anything :func:`hooklab.load_source` reads) or a source
    mapping such as ``{"source": "hf", "name": "./saved"}``. Each record needs ``text_field``
    (``content`` in the seed; ``text`` is accepted too); ``id_field`` defaults to the row number.

    Raises:
        DataError: the file is missing or malformed, has no records, or lacks the text field.
    """
    records = _records(spec)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise DataError(f"no documents in {spec}")
    docs = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"document {i} of {spec} is not an object")
        field_name = text_field if text_field in rec else ("text" if "text" in rec else None)
        if field_name is None or not isinstance(rec[field_name], str):
            raise DataError(f"document {i} of {spec} has no string field {text_field!r} "
                            f"(fields: {', '.join(sorted(rec))}); pass text_field=NAME")
        doc_id = rec.get(id_field)
        meta = {k: v for k, v in rec.items() if k not in {field_name, id_field}}
        docs.append(Document(str(doc_id) if doc_id is not None else str(i), rec[field_name], meta))
    return docs
