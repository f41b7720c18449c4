"""Validation of preference pairs: clear errors, drops and truncations counted."""

from __future__ import annotations

import datasets
import pytest

from hooklab.errors import DataError
from hooklab_dpo_trl.data import load_pairs, split_pairs, validate_pairs


def ds(rows: list[dict]) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows)


def test_missing_columns_are_named(tiny_tokenizer) -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\) rejected; found: prompt, chosen, answer"):
        validate_pairs(ds([{"prompt": "q", "chosen": "a", "answer": "b"}]), tiny_tokenizer)


def test_empty_answers_fail_with_row_numbers_or_are_dropped(tiny_tokenizer) -> None:
    rows = [{"prompt": "q", "chosen": "yes", "rejected": "no"}, {"prompt": "q", "chosen": "  ", "rejected": "no"}]
    with pytest.raises(DataError, match=r"1 of 2 pairs have an empty .* \(rows 1\); .*drop_empty"):
        validate_pairs(ds(rows), tiny_tokenizer)
    out, report = validate_pairs(ds(rows), tiny_tokenizer, drop_empty=True)
    assert len(out) == 1 and report.dropped_empty == 1 and report.kept == 1


def test_identical_pairs_are_dropped_and_counted(tiny_tokenizer) -> None:
    rows = [{"prompt": "q", "chosen": "same", "rejected": "same"},
            {"prompt": "q", "chosen": "good", "rejected": "bad"}]
    out, report = validate_pairs(ds(rows), tiny_tokenizer)
    assert out["chosen"] == ["good"]
    assert report.dropped_identical == 1 and report.examples["identical"] == [0]
    assert "1 with chosen == rejected dropped" in str(report)


def test_over_long_pairs_are_counted_and_long_prompts_dropped(tiny_tokenizer) -> None:
    long = " ".join(["word"] * 50)
    rows = [{"prompt": "Q: ", "chosen": long, "rejected": "short"},
            {"prompt": long, "chosen": "a", "rejected": "b"},
            {"prompt": "Q: ", "chosen": "a", "rejected": "b"}]
    out, report = validate_pairs(ds(rows), tiny_tokenizer, max_length=20)
    assert report.truncated == 1
    assert report.dropped_prompt_too_long == 1
    assert len(out) == 2


def test_max_prompt_length_keeps_the_end_of_text_prompts(tiny_tokenizer) -> None:
    prompt = " ".join(f"w{i}" for i in range(40)) + " END"
    out, report = validate_pairs(ds([{"prompt": prompt, "chosen": "a", "rejected": "b"}]), tiny_tokenizer,
                                 max_prompt_length=5)
    assert report.prompt_truncated == 1
    assert out[0]["prompt"].endswith("END") and len(tiny_tokenizer(out[0]["prompt"])["input_ids"]) <= 6


def test_chat_pairs_validate_and_prompt_can_be_extracted(tiny_tokenizer) -> None:
    user = {"role": "user", "content": "Tell me a joke."}
    rows = [{"chosen": [user, {"role": "assistant", "content": "A good one."}],
             "rejected": [user, {"role": "assistant", "content": ""}]},
            {"chosen": [user, {"role": "assistant", "content": "Funny."}],
             "rejected": [user, {"role": "assistant", "content": "Dull."}]}]
    out, report = validate_pairs(ds(rows), tiny_tokenizer, drop_empty=True, max_length=64)
    assert report.dropped_empty == 1
    assert out[0]["prompt"] == [user]
    assert out[0]["chosen"] == [{"role": "assistant", "content": "Funny."}]


def test_pairs_load_from_a_file_through_core_sources(pairs_file) -> None:
    d = load_pairs(str(pairs_file))
    assert set(d.column_names) >= {"prompt", "chosen", "rejected"} and len(d) == 192
    train, held = split_pairs(d, 0.25, seed=0)
    assert len(train) == 144 and len(held) == 48
    assert not set(train["chosen"]) & set(held["chosen"])
