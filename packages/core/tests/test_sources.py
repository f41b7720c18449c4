"""Core's built-in dataset sources on real files."""

from __future__ import annotations

import json

import pytest

import hooklab
from hooklab.errors import DataError

ROWS = [{"prompt": f"p{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(5)]


def test_jsonl_json_parquet_csv_give_the_same_rows(tmp_path):
    import pandas as pd

    df = pd.DataFrame(ROWS)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    df.to_parquet(tmp_path / "d.parquet")
    df.to_csv(tmp_path / "d.csv", index=False)
    for name in ("d.jsonl", "d.json", "d.parquet", "d.csv"):
        ds = hooklab.load_source(tmp_path / name)
        assert ds.to_list() == ROWS, name


def test_json_field_reads_the_seeds_artifact_format(tmp_path):
    doc = {"artifact_data": [{"id": "1", "content": "Hello."}, {"id": "2", "content": "World."}]}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    ds = hooklab.get("source", "json", path=str(tmp_path / "a.json"), field="artifact_data")
    assert ds["content"] == ["Hello.", "World."]


def test_text_folder_and_limit(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text("alpha")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("beta")
    ds = hooklab.load_source(tmp_path / "docs")
    assert sorted(zip(ds["id"], ds["text"], strict=True)) == [("a.txt", "alpha"), ("sub/b.txt", "beta")]
    assert len(hooklab.get("source", "text-folder", path=str(tmp_path / "docs"), limit=1)) == 1


def test_hf_source_loads_a_saved_dataset_and_streams(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    assert hooklab.load_source(tmp_path / "saved").to_list() == ROWS
    it = hooklab.get("source", "hf", name=str(tmp_path / "saved"), streaming=True)
    assert [r["prompt"] for r in it] == [r["prompt"] for r in ROWS]


def test_streaming_jsonl_is_iterable(tmp_path):
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    it = hooklab.get("source", "jsonl", path=str(tmp_path / "d.jsonl"), streaming=True, limit=2)
    assert [r["prompt"] for r in it] == ["p0", "p1"]


def test_missing_empty_and_unknown_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        hooklab.load_source(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError):
        hooklab.load_source(tmp_path / "empty.jsonl")
    (tmp_path / "x.bin").write_text("?")
    with pytest.raises(DataError, match="cannot tell the format"):
        hooklab.load_source(tmp_path / "x.bin")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="no files"):
        hooklab.load_source(tmp_path / "emptydir")
