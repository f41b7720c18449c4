"""Capture in memory and to Parquet: equal values, padding excluded, metadata, readers, resume."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch

import hooklab
from hooklab.errors import DataError, HookPointError, ModelError
from hooklab.hooks import list_hooks
from hooklab.testing import FAMILIES, tiny_model
from hooklab_capture.capture import Activations, capture, load_capture, read_settings, shard_files

POINTS = ["embed", "layers.*", "layers.0.attn", "layers.1.mlp", "final_norm"]


@pytest.mark.parametrize("family", FAMILIES)
def test_parquet_capture_equals_in_memory_capture_exactly(family, tiny_tokenizer, texts, tmp_path):
    model = tiny_model(family, num_layers=2)
    mem = capture(model, tiny_tokenizer, texts, POINTS, batch_size=3, max_length=32, shard_texts=7)
    run = capture(model, tiny_tokenizer, texts, POINTS, batch_size=3, max_length=32, shard_texts=7, out=tmp_path)
    assert run.shards_written == [0, 1, 2] and run.tokens == len(mem)
    disk = load_capture(tmp_path)
    assert disk.points == mem.points == ["embed", "layers.0", "layers.0.attn", "layers.1", "layers.1.mlp", "final_norm"]
    for name in mem.points:
        assert torch.equal(disk[name], mem[name]), name
    for col in ("doc_id", "position", "token_id"):
        assert torch.equal(getattr(disk, col), getattr(mem, col))
    assert list_hooks(model) == []


def test_padding_is_excluded_and_rows_match_single_text_runs(tiny_tokenizer, texts):
    model = tiny_model("llama", num_layers=2)
    acts = capture(model, tiny_tokenizer, texts, "layers.1", batch_size=4, max_length=32)
    lengths = [len(tiny_tokenizer(t, truncation=True, max_length=32)["input_ids"]) for t in texts]
    assert len(set(lengths)) > 1  # the batches really were padded
    assert len(acts) == sum(lengths)
    assert int((acts.token_id == tiny_tokenizer.pad_token_id).sum()) == 0
    # each text's rows equal a batch-of-one run of that text (no padding at all)
    for i in (0, 5, 13):
        one = capture(model, tiny_tokenizer, [texts[i]], "layers.1", max_length=32)
        rows = acts.doc_id == i
        assert acts.position[rows].tolist() == list(range(lengths[i]))
        assert acts.token_id[rows].tolist() == tiny_tokenizer(texts[i], truncation=True, max_length=32)["input_ids"]
        torch.testing.assert_close(acts["layers.1"][rows], one["layers.1"], rtol=1e-4, atol=1e-5)


def test_left_padding_gives_the_same_positions(texts):
    from hooklab.testing import tiny_tokenizer

    model = tiny_model("qwen2")
    right = capture(model, tiny_tokenizer(), texts[:6], "layers.0", batch_size=6, max_length=32)
    left = capture(model, tiny_tokenizer(padding_side="left"), texts[:6], "layers.0", batch_size=6, max_length=32)
    assert torch.equal(left.position, right.position) and torch.equal(left.token_id, right.token_id)


def test_float16_storage_and_metadata(tiny_tokenizer, texts, tmp_path):
    model = tiny_model("mistral", num_layers=3)
    capture(model, tiny_tokenizer, texts, "layers.{0,2}", out=tmp_path, dtype="float16", shard_texts=8,
            model_name="tiny/mistral", revision="abc123")
    settings = read_settings(tmp_path)
    assert settings["model"] == "tiny/mistral" and settings["revision"] == "abc123"
    assert settings["dtype"] == "float16" and settings["points"] == ["layers.0", "layers.2"]
    assert settings["point_paths"]["layers.2"] == "model.layers.2"
    assert settings["positions"] == "every non-padding token" and settings["tokenizer"]
    files = shard_files(tmp_path)
    schema = pq.read_schema(files[1])
    meta = json.loads(schema.metadata[b"hooklab.capture"])
    assert meta["text_range"] == [8, 16] and meta["shard"] == 1 and meta["dtype"] == "float16"
    assert str(schema.field("layers.2").type) == "fixed_size_list<element: halffloat>[64]"
    assert load_capture(tmp_path)["layers.0"].dtype == torch.float16


def test_readable_with_datasets_and_pandas(tiny_tokenizer, texts, tmp_path):
    import datasets
    import pandas as pd

    model = tiny_model("phi")
    run = capture(model, tiny_tokenizer, texts, "layers.*", out=tmp_path, shard_texts=5)
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "shard-*.parquet"), split="train",
                               cache_dir=str(tmp_path / ".hf"))
    assert len(ds) == run.tokens
    assert ds.features["layers.1"].length == 64
    mem = capture(model, tiny_tokenizer, texts, "layers.*", shard_texts=5)
    torch.testing.assert_close(torch.tensor(ds[:3]["layers.1"]), mem["layers.1"][:3], rtol=0, atol=0)
    df = pd.read_parquet(shard_files(tmp_path)[0])
    assert list(df.columns) == ["doc_id", "position", "token_id", "layers.0", "layers.1"]
    assert len(df.iloc[0]["layers.0"]) == 64
    assert run.to_pandas().shape == (run.tokens, 5)


def test_resume_skips_finished_shards(tiny_tokenizer, texts, tmp_path):
    model = tiny_model("gpt2")
    first = capture(model, tiny_tokenizer, texts, "layers.0", out=tmp_path, shard_texts=4)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("shard-*.parquet")}
    (tmp_path / "shard-00002.parquet").unlink()
    again = capture(model, tiny_tokenizer, texts, "layers.0", out=tmp_path, shard_texts=4)
    assert first.shards_written == [0, 1, 2, 3, 4]
    assert again.shards_written == [2] and again.shards_skipped == [0, 1, 3, 4]
    assert {p.name: p.read_bytes() for p in tmp_path.glob("shard-*.parquet")} == before


def test_refuses_to_mix_settings_unless_overwrite(tiny_tokenizer, texts, tmp_path):
    model = tiny_model("gpt2")
    capture(model, tiny_tokenizer, texts, "layers.0", out=tmp_path, shard_texts=4)
    with pytest.raises(DataError, match=r"different capture \(differs in: point_paths, points\).*--overwrite"):
        capture(model, tiny_tokenizer, texts, "layers.1", out=tmp_path, shard_texts=4)
    with pytest.raises(DataError, match="differs in: dtype"):
        capture(model, tiny_tokenizer, texts, "layers.0", out=tmp_path, shard_texts=4, dtype="float16")
    run = capture(model, tiny_tokenizer, texts, "layers.1", out=tmp_path, shard_texts=4, overwrite=True)
    assert run.shards_written == [0, 1, 2, 3, 4]
    assert load_capture(tmp_path).points == ["layers.1"]


def test_refuses_a_folder_that_is_not_a_capture(tiny_tokenizer, texts, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds no hooklab capture"):
        capture(tiny_model("gpt2"), tiny_tokenizer, texts, "layers.0", out=tmp_path)
    capture(tiny_model("gpt2"), tiny_tokenizer, texts, "layers.0", out=tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"  # --overwrite never deletes what is not ours


def test_incomplete_capture_is_reported(tiny_tokenizer, texts, tmp_path):
    capture(tiny_model("gpt2"), tiny_tokenizer, texts, "layers.0", out=tmp_path, shard_texts=4)
    (tmp_path / "shard-00003.parquet").unlink()
    with pytest.raises(DataError, match=r"incomplete.*rerun"):
        load_capture(tmp_path)


def test_bad_inputs(tiny_tokenizer, texts, tmp_path):
    model = tiny_model("gpt2")
    with pytest.raises(HookPointError, match=r"Did you mean: layers\.1"):
        capture(model, tiny_tokenizer, texts, "layer.1")
    with pytest.raises(DataError, match="empty"):
        capture(model, tiny_tokenizer, ["", "  "], "layers.0")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        capture(model, tiny_tokenizer, empty, "layers.0")
    with pytest.raises(ModelError, match="no list of decoder blocks"):
        capture(torch.nn.Sequential(torch.nn.Linear(2, 2)), tiny_tokenizer, texts, "layers.0")
    assert list_hooks(model) == []


def test_texts_from_jsonl_and_dataset(tiny_tokenizer, texts, tmp_path):
    import datasets

    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps({"body": t}) for t in texts[:4]))
    a = capture(tiny_model("gpt2"), tiny_tokenizer, path, "layers.0", text_field="body")
    b = capture(tiny_model("gpt2"), tiny_tokenizer, datasets.Dataset.from_dict({"text": texts[:4]}), "layers.0")
    assert torch.equal(a["layers.0"], b["layers.0"])
    with pytest.raises(DataError, match="no 'text' column"):
        capture(tiny_model("gpt2"), tiny_tokenizer, path, "layers.0")


def test_probe_is_registered_and_runs(tiny_tokenizer, texts, tmp_path):
    probe = hooklab.get("probe", "capture", points=["layers.1"], batch_size=2)
    acts = probe.run(tiny_model("gemma"), texts[:3], tokenizer=tiny_tokenizer)
    assert isinstance(acts, Activations) and acts.points == ["layers.1"]
    assert len(acts.to_pandas()) == len(acts)
    saved = acts.save(tmp_path / "one.parquet")
    assert pq.read_table(saved).num_rows == len(acts)
    with pytest.raises(hooklab.ConfigError):
        hooklab.get("probe", "capture", points=["layers.1"], batch_sise=2)
