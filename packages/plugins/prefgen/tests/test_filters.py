"""Verbatim check, the seed's filters (configurable), de-duplication."""

from __future__ import annotations

from hooklab_prefgen.filters import (
    FilterConfig,
    apply_filters,
    dedupe,
    good_format,
    is_verbatim,
    long_enough,
)

LONG = "This answer is long enough to pass the seed's length filter because it has well over one hundred characters."


def row(chosen, prompt="Q?", verbatim=True):
    return {"prompt": prompt, "chosen": chosen, "rejected": "r", "verbatim": verbatim}


def test_verbatim_allows_only_whitespace_differences():
    chunk = "Alpha beta.  Gamma delta, epsilon."
    assert is_verbatim("Gamma delta, epsilon.", chunk)
    assert is_verbatim("Alpha beta. Gamma", chunk)
    assert not is_verbatim("Gamma delta epsilon.", chunk)  # a comma dropped is not verbatim
    assert not is_verbatim("Alpha ... epsilon.", chunk)


def test_seed_filters():
    assert long_enough(row(LONG)) and not long_enough(row("Short."))
    assert good_format(row("Starts upper and ends well."))
    assert not good_format(row("starts lower."))
    assert not good_format(row("No end punctuation"))
    assert not good_format(row(""))
    assert good_format(row("no rules"), starts_uppercase=False, end_chars="")


def test_dedupe_ignores_case_and_spacing():
    rows = [row(LONG, "What is X?"), row(LONG.upper(), "what  is x?"), row(LONG, "Other?")]
    assert dedupe(rows) == [rows[0], rows[2]]


def test_apply_filters_counts_samples_after_each_step():
    rows = [row(LONG), row(LONG, verbatim=False), row("Too short."), row(LONG[:-1] + " and lower"),
            row(LONG)]
    kept, counts = apply_filters(rows, FilterConfig())
    assert kept == [rows[0]]
    assert counts == {"generated": 5, "verbatim": 4, "min_length": 3, "format": 2, "dedupe": 1}


def test_filters_are_configurable():
    rows = [row("short", verbatim=False), row("short", verbatim=False)]
    kept, counts = apply_filters(rows, FilterConfig(verbatim="flag", min_length=0, starts_uppercase=False,
                                                    end_chars="", dedupe=False))
    assert kept == rows and counts["dedupe"] == 2
