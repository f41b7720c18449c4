"""Input documents in every supported shape."""

from __future__ import annotations

import json

import pytest

from hooklab.errors import DataError
from hooklab_prefgen.documents import load_documents


def test_the_seed_shape(sample_docs):
    docs = load_documents(sample_docs)
    assert [d.id for d in docs] == ["article-1", "article-2", "article-3"]
    assert docs[0].text.startswith("Why preference data matters")
    assert docs[0].meta["author_full_name"] == "hooklab contributors" and "link" in docs[0].meta


def test_a_json_list_and_jsonl(tmp_path):
    recs = [{"id": 7, "content": "a"}, {"text": "b"}]
    (tmp_path / "d.json").write_text(json.dumps(recs))
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    for name in ("d.json", "d.jsonl"):
        docs = load_documents(tmp_path / name)
        assert [(d.id, d.text) for d in docs] == [("7", "a"), ("1", "b")]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"id": "x", "content": "hello", "platform": "p"}]), tmp_path / "d.parquet")
    [doc] = load_documents(tmp_path / "d.parquet")
    assert (doc.id, doc.text, doc.meta) == ("x", "hello", {"platform": "p"})


def test_a_folder_of_text_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "sub" / "b.md").write_text("second")
    (tmp_path / "ignored.bin").write_bytes(b"\0")
    docs = load_documents(tmp_path)
    assert [(d.id, d.text) for d in docs] == [("a.txt", "first"), ("sub/b.md", "second")]


def test_any_core_source(tmp_path):
    (tmp_path / "d.csv").write_text("id,body\n1,hello there\n")
    [doc] = load_documents({"source": "csv", "path": str(tmp_path / "d.csv")}, text_field="body")
    assert (doc.id, doc.text) == ("1", "hello there")


def test_limit(sample_docs):
    assert len(load_documents(sample_docs, limit=2)) == 2


@pytest.mark.parametrize("content,match", [
    ('{"artifact_data": [{"id": 1, "body": "x"}]}', "no string field 'content'"),
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "expected a list of records"),
    ('{"artifact_data": []}', "no documents"),
])
def test_bad_input_is_a_data_error(tmp_path, content, match):
    (tmp_path / "d.json").write_text(content)
    with pytest.raises(DataError, match=match):
        load_documents(tmp_path / "d.json")


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_documents(tmp_path / "nope.json")
