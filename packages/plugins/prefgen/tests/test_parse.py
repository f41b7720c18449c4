"""parse_triples: validation of the LLM's answer."""

from __future__ import annotations

import json

from hooklab_prefgen.parse import PreferenceSet, Triple, parse_triples

T = {"instruction": "What is DPO?", "generated_answer": "A method.", "extracted_answer": "DPO is a method."}


def answer(*triples):
    return json.dumps({"preference_triples": list(triples)})


def test_a_valid_answer_gives_triples():
    ps = parse_triples(answer(T, T), n=2)
    assert ps.triples == [Triple("What is DPO?", "A method.", "DPO is a method.")] * 2
    assert ps.problems == [] and ps.error is None


def test_the_seed_api_still_works():
    assert len(PreferenceSet.from_json(answer(T))) == 1


def test_prose_and_code_fences_around_the_json_are_ignored():
    ps = parse_triples(f"Sure! Here are the triples:\n```json\n{answer(T)}\n```\nLet me know.", n=1)
    assert len(ps) == 1 and ps.error is None


def test_missing_keys_and_wrong_types_drop_only_that_triple():
    bad_key = {k: v for k, v in T.items() if k != "extracted_answer"}
    bad_type = {**T, "generated_answer": ["a", "list"]}
    empty = {**T, "instruction": "   "}
    ps = parse_triples(answer(T, bad_key, bad_type, empty, "text"), n=5)
    assert len(ps) == 1
    assert any("triple 2: missing extracted_answer" in p for p in ps.problems)
    assert any("triple 3: generated_answer not a string" in p for p in ps.problems)
    assert any("triple 4: empty instruction" in p for p in ps.problems)
    assert any("triple 5: not an object" in p for p in ps.problems)
    assert any("1 valid triples, expected 5" in p for p in ps.problems)


def test_more_than_n_triples_are_cut_to_n():
    ps = parse_triples(answer(*[T] * 7), n=5)
    assert len(ps) == 5 and ps.problems == ["7 triples, expected 5: kept the first 5"]


def test_fewer_than_n_triples_are_kept_and_noted():
    ps = parse_triples(answer(T, T), n=5)
    assert len(ps) == 2 and ps.problems == ["2 valid triples, expected 5"]


def test_a_bare_list_or_another_key_is_accepted():
    assert len(parse_triples(json.dumps([T]))) == 1
    assert len(parse_triples(json.dumps({"triples": [T]}))) == 1


def test_a_truncated_answer_keeps_the_complete_triples():
    text = answer(T, T)[:-40]
    ps = parse_triples(text, n=2)
    assert ps.error is None and len(ps) >= 1 and ps.triples[0] == Triple(*T.values())


def test_non_json_is_an_error_not_an_exception():
    ps = parse_triples("I'm sorry, I can't help with that.")
    assert ps.error and ps.triples == []
    assert parse_triples(json.dumps({"answer": 42})).error == "no 'preference_triples' list in the answer"


def test_already_decoded_json_is_accepted():
    assert len(parse_triples({"preference_triples": [T]})) == 1
