"""clean_text, split_sentences, chunk_text: the seed's steps as functions."""

from __future__ import annotations

import pytest

from hooklab_prefgen.text import chunk_text, clean_text, split_sentences, text_stats


def test_clean_text_keeps_letters_digits_and_basic_punctuation():
    assert clean_text("Hello,   **world**!  It's #1 (really?)\n\n— yes.") == "Hello, world ! It's 1 really? yes."


def test_clean_text_collapses_whitespace_and_strips():
    assert clean_text("  a\t\tb\n\nc  ") == "a b c"


def test_split_sentences_splits_after_sentence_ends_but_not_after_abbreviations():
    text = "It works, e.g. here. Mr. Smith agrees! Does it? Yes."
    assert split_sentences(text) == ["It works, e.g. here.", "Mr. Smith agrees!", "Does it?", "Yes."]


def test_chunks_are_within_bounds_and_end_with_a_sentence():
    text = " ".join(f"Sentence number {i} says something useful about topic {i}." for i in range(200))
    chunks = chunk_text(text, 300, 600)
    assert len(chunks) > 5
    assert all(300 <= len(c) <= 600 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert all(c.startswith("Sentence number") for c in chunks)


def test_chunks_keep_the_text_in_order_without_overlap():
    text = " ".join(f"Fact {i} is true." for i in range(100))
    chunks = chunk_text(text, 50, 120)
    # nothing repeated, nothing reordered; only the too-short tail is dropped (as in the seed)
    assert text.startswith(" ".join(chunks)) and len(" ".join(chunks)) > len(text) - 50


def test_a_short_article_gives_no_chunk_and_long_sentences_are_skipped():
    assert chunk_text("Too short.", 1000, 2000) == []
    long = "A" * 300 + "."
    assert chunk_text(f"{long} Short one here. Another short one.", 10, 100) == ["Short one here. Another short one."]


def test_bad_bounds_raise():
    with pytest.raises(ValueError):
        chunk_text("x", 10, 5)


def test_text_stats():
    assert text_stats(["one two\nthree", "four"]) == {"articles": 2, "characters": 17, "words": 4, "lines": 3}
