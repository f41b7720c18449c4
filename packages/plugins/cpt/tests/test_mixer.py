"""The replay mixer: fraction, determinism, budgets, streaming, packing, source registration."""

from __future__ import annotations

import itertools

import pytest

import hooklab
from hooklab.errors import ConfigError, DataError
from hooklab_cpt import ReplayMixer, pack


def _windows_ok(sources: list[str], r: float, window: int = 1000, tol: float = 0.005) -> float:
    flags = [s == "old" for s in sources]
    worst = 0.0
    count = sum(flags[:window])
    for i in range(len(flags) - window + 1):
        if i:
            count += flags[i + window - 1] - flags[i - 1]
        worst = max(worst, abs(count / window - r))
    assert worst <= tol, worst
    return worst


@pytest.mark.parametrize("replay,r", [("weak", 0.05), ("strong", 0.25), (0.137, 0.137)])
def test_token_fraction_is_within_half_a_point_over_every_1000_blocks(corpora, tiny_tokenizer, replay, r) -> None:
    mix = ReplayMixer({"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": replay,
                       "unit": "tokens", "block_size": 16, "total": 2500}, tokenizer=tiny_tokenizer)
    out = list(mix)
    assert len(out) == 2500 and all(len(s["input_ids"]) == 16 for s in out)
    _windows_ok([s["source"] for s in out], r)
    old_tokens = sum(s["old_tokens"] for s in out)
    assert abs(old_tokens / (2500 * 16) - r) < 0.001


def test_example_fraction_is_within_half_a_point(corpora) -> None:
    mix = ReplayMixer({"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": 0.05,
                       "unit": "examples", "total": 3000})
    out = list(mix)
    _windows_ok([s["source"] for s in out], 0.05)
    assert {"text", "source"} <= set(out[0])


def test_same_seed_same_stream_other_seed_other_order(corpora, tiny_tokenizer) -> None:
    def stream(seed: int) -> list[list[int]]:
        cfg = {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "strong",
               "block_size": 16, "total": 300, "seed": seed, "shuffle_buffer": 100}
        return [s["input_ids"] for s in ReplayMixer(cfg, tokenizer=tiny_tokenizer)]

    a = stream(0)
    assert a == stream(0)
    assert a != stream(1)
    mix = ReplayMixer({"new": str(corpora["d2"]), "old": str(corpora["d1"]), "block_size": 16,
                       "total": 300}, tokenizer=tiny_tokenizer)
    assert list(mix.iter(skip=120)) == list(mix)[120:]  # resuming continues the same stream


def test_fixed_budget_replay_displaces_new_data(corpora, tiny_tokenizer) -> None:
    base = {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "block_size": 32, "total": 1000}
    none = list(ReplayMixer({**base, "replay": 0.0}, tokenizer=tiny_tokenizer))
    strong = list(ReplayMixer({**base, "replay": "strong"}, tokenizer=tiny_tokenizer))
    assert len(none) == len(strong) == 1000
    assert sum(s["source"] == "new" for s in strong) == 750
    # the new blocks of the replay run are the first 750 of the no-replay run, in order
    assert [s["input_ids"] for s in strong if s["source"] == "new"] == [s["input_ids"] for s in none[:750]]


def test_added_budget_keeps_every_new_block_and_adds_replay_on_top(corpora, tiny_tokenizer) -> None:
    cfg = {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "strong", "block_size": 64,
           "budget": "added"}
    mix = ReplayMixer(cfg, tokenizer=tiny_tokenizer)
    out = list(mix)
    n_new = mix.count_new()
    assert sum(s["source"] == "new" for s in out) == n_new
    assert abs(sum(s["source"] == "old" for s in out) / len(out) - 0.25) < 0.002


def test_streams_a_corpus_that_never_ends(tiny_tokenizer) -> None:
    """The new data is an endless generator: only a streaming mixer can produce a fixed budget."""
    endless = (f"document number {i} says {'hello ' * (i % 7)}" for i in itertools.count())
    mix = ReplayMixer({"new": endless, "old": ["old text about python " * 5] * 10, "replay": "weak",
                       "block_size": 16, "total": 400}, tokenizer=tiny_tokenizer)
    out = list(mix)
    assert len(out) == 400 and sum(s["source"] == "old" for s in out) == 20


def test_packing_matches_the_seeds_create_dataloader(tiny_tokenizer) -> None:
    from hooklab.testing.models import corpus_text

    text = corpus_text(20_000)
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    L, stride = 24, 10
    expected = [(ids[i:i + L], ids[i + 1:i + L + 1]) for i in range(0, len(ids) - L, stride)]
    assert list(pack([text], tiny_tokenizer, L, stride, add_eos=False)) == expected


def test_unit_examples_with_packing_counts_old_tokens_per_block(corpora, tiny_tokenizer) -> None:
    mix = ReplayMixer({"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "strong",
                       "unit": "examples", "block_size": 32, "total": 200}, tokenizer=tiny_tokenizer)
    out = list(mix)
    assert len(out) == 200
    assert {s["source"] for s in out} <= {"old", "new", "mixed"}
    assert all(0 <= s["old_tokens"] <= 32 for s in out) and any(s["old_tokens"] for s in out)


def test_registered_source_is_an_iterable_dataset(corpora, hooklab_plugins) -> None:
    import datasets

    ds = hooklab.get("source", "replay-mix", new=str(corpora["d2"]), old=str(corpora["d1"]),
                     replay="weak", block_size=16, total=40, tokenizer=str(corpora["model"]))
    assert isinstance(ds, datasets.IterableDataset)
    rows = list(ds)
    assert len(rows) == 40 and len(rows[0]["input_ids"]) == 16
    assert sum(r["source"] == "old" for r in rows) == 2


@pytest.mark.parametrize("cfg,error,fragment", [
    ({"new": ["a"], "replay": "weak"}, ConfigError, "needs old data"),
    ({"new": ["a"], "old": ["b"], "replay": 1.5}, ConfigError, "replay"),
    ({"new": ["a"], "old": ["b"], "unit": "tokens"}, ConfigError, "need a tokenizer"),
    ({"new": ["a"], "old": ["b"], "budget": "added", "total": 5, "unit": "examples"}, ConfigError, "budget"),
])
def test_bad_config_is_a_config_error(cfg, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        ReplayMixer(cfg)


def test_bad_data_is_a_data_error(tmp_path, tiny_tokenizer) -> None:
    with pytest.raises(DataError, match="not found"):
        list(ReplayMixer({"new": str(tmp_path / "nope.jsonl"), "replay": 0, "unit": "examples", "total": 3}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        list(ReplayMixer({"new": str(bad), "replay": 0, "unit": "examples", "total": 3}))
    with pytest.raises(DataError, match="no samples"):
        list(ReplayMixer({"new": ["tiny"], "replay": 0, "block_size": 64, "total": 3}, tokenizer=tiny_tokenizer))
