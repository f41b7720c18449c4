"""LLM judges: prompts, parsing, position randomization, bias reports, agreement, dataset ops.

The judge model is :class:`hooklab.testing.judges.BiasedJudge` (prefers position A, prefers the
longer answer) behind an in-process backend that goes through the real batch runner and journal.
The same judge over real HTTP is tested in hooklab-openai's tests.
"""

from __future__ import annotations

import json
import random

import pytest

import hooklab
from hooklab.config import validate
from hooklab.errors import BackendError, ConfigError, DataError
from hooklab.judge_report import (
    agreement,
    cohen_kappa,
    fleiss_kappa,
    majority_vote,
    mean_scores,
    report,
)
from hooklab.judges import (
    PAIRWISE_TEMPLATE,
    Judge,
    JudgeCall,
    JudgeConfig,
    PairItem,
    PairVerdict,
    PairwiseConfig,
    PairwiseResult,
    ScoreConfig,
    ScoreResult,
    backend_judge,
    best_vs_worst,
    candidate_items,
    combine,
    filter_pairs,
    label_agreement,
    load_result,
    map_back,
    pair_items,
    pairwise_messages,
    parse_reasoning,
    parse_score,
    parse_verdict,
    presentation_orders,
    score_items,
)
from hooklab.testing.judges import BiasedJudge, ResponderBackend, sample_pairs

N = 600  # >= 400 items, as the issue asks; the in-process backend makes it take well under a second


def run_pairwise(judge_model, items, **config):
    backend = ResponderBackend(judge_model)
    result = Judge(backend, {"runner": {"concurrency": 16}, **config}).pairwise(items)
    return result, backend


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Reasoning: A is precise.\nBest answer: A", "A"),
    ("Reasoning: ...\nBest answer: B", "B"),
    ("**Best Answer:** (B)", "B"),
    ("best answer - [A]", "A"),
    ("Best answer: Answer B", "B"),
    ("Best answer is A.", "A"),
    ("Best answer: A\nOn reflection... Best answer: B", "B"),  # the last verdict wins
    ("My verdict: [[A]]", "A"),
    ('{"reasoning": "x", "best_answer": "B"}', "B"),
    ("B", "B"),
    ("(A)", "A"),
])
def test_parse_verdict_accepts_the_usual_shapes(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text", [
    "Reasoning: (compare the two answers)\nBest answer: (A or B)",  # the template echoed back
    "Best answer: A or B", "I cannot decide.", "", None, "{\"oops\": ", "Both are fine.",
    "Best answer: tie",  # ties are invalid unless allowed
    "The best answer is a matter of taste.", "best answer: a tie",
])
def test_parse_verdict_rejects_garbage(text):
    assert parse_verdict(text) is None


def test_parse_verdict_tie_only_when_allowed():
    assert parse_verdict("Best answer: tie", allow_tie=True) == "tie"
    assert parse_verdict("[[C]]", allow_tie=True) == "tie"
    assert parse_verdict("[[C]]") is None


@pytest.mark.parametrize("text, expected", [
    ("Reasoning: fine.\nScore: 4", 4), ("Rating: 4/5", 4), ("**Score:** 5 out of 5", 5),
    ('{"score": 2}', 2), ("3", 3), ("Score: 2.0", 2), ("Score: 1\nActually, Score: 3", 3),
])
def test_parse_score_accepts_the_usual_shapes(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize("text", ["Score: 7", "Score: 0", "Score: 3.5", "great answer", "", None, "Score: -2"])
def test_parse_score_never_makes_up_a_number(text):
    assert parse_score(text) is None


def test_parse_score_uses_the_configured_scale():
    assert parse_score("Score: 9", low=1, high=10) == 9
    assert parse_score("Score: 9") is None


def test_parse_reasoning_is_the_text_before_the_verdict():
    assert parse_reasoning("Reasoning: A cites the source.\nBest answer: A") == "A cites the source."
    assert parse_reasoning("no structure") == ""


# -- prompts and order ------------------------------------------------------------------------


def test_default_pairwise_prompt_is_the_seed_prompt():
    msgs = pairwise_messages(PairwiseConfig(), "What is 2+2?", "four", "five")
    text = msgs[-1]["content"]
    assert text.startswith("You are an answer judge. Your goal is to compare answer A and answer B.")
    assert "relevance, accuracy, completeness, clarity, structure, and conciseness" in text
    assert "Answer A: four" in text and "Answer B: five" in text
    assert text.endswith("Reasoning: (compare the two answers)\nBest answer: (A or B)")


def test_answers_with_braces_do_not_break_the_template():
    text = pairwise_messages(PairwiseConfig(), "q", "{x}", "{answer_b}")[-1]["content"]
    assert "Answer A: {x}" in text and "Answer B: {answer_b}" in text


def test_custom_template_must_keep_the_answers():
    with pytest.raises(ConfigError, match="answer_b"):
        validate(PairwiseConfig, {"template": "Compare {answer_a} for {instruction}"})
    with pytest.raises(ConfigError, match="unknown field"):
        validate(PairwiseConfig, {"template": PAIRWISE_TEMPLATE + "{typo}"})


def test_few_shot_examples_come_before_the_question():
    cfg = validate(PairwiseConfig, {"few_shot": [
        {"instruction": "q1", "answer_a": "good", "answer_b": "bad", "output": "Reasoning: x\nBest answer: A"},
        {"instruction": "q2", "answer_a": "bad", "answer_b": "good", "output": "Reasoning: y\nBest answer: B"},
    ], "system": "Be fair."})
    msgs = pairwise_messages(cfg, "q3", "x", "y")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"].endswith("Best answer: A") and "q3" in msgs[-1]["content"]


def test_few_shot_output_without_a_verdict_is_a_config_error():
    with pytest.raises(ConfigError, match="few-shot"):
        validate(PairwiseConfig, {"few_shot": [{"instruction": "q", "answer_a": "a", "answer_b": "b",
                                                 "output": "A is nicer"}]})


def test_unbalanced_few_shot_verdicts_are_refused_unless_allowed():
    shot = {"instruction": "q", "answer_a": "a", "answer_b": "b", "output": "Best answer: A"}
    with pytest.raises(ConfigError, match=r"unbalanced \(2 A, 0 B\)"):
        validate(PairwiseConfig, {"few_shot": [shot, shot]})
    assert len(validate(PairwiseConfig, {"few_shot": [shot, shot], "balanced_few_shot": False}).few_shot) == 2


def test_score_scale_must_be_increasing():
    with pytest.raises(ConfigError, match="high"):
        validate(ScoreConfig, {"low": 5, "high": 1})


def test_random_order_is_seeded_per_item():
    ids = [f"item{i}" for i in range(400)]
    first = [presentation_orders(i, "random", seed=3)[0] for i in ids]
    again = [presentation_orders(i, "random", seed=3)[0] for i in reversed(ids)][::-1]
    assert first == again  # independent of the other items and of their order
    assert 0.4 < first.count("21") / len(first) < 0.6
    other_seed = [presentation_orders(i, "random", seed=4)[0] for i in ids]
    assert other_seed != first
    assert presentation_orders("x", "both", 0) == ["12", "21"]
    assert presentation_orders("x", "fixed", 0) == ["12"]


def test_verdicts_are_mapped_back_to_the_original_answers():
    assert map_back("A", "12") == "answer1" and map_back("B", "12") == "answer2"
    assert map_back("A", "21") == "answer2" and map_back("B", "21") == "answer1"
    assert map_back("tie", "21") == "tie" and map_back(None, "12") is None


def test_both_orders_disagreement_is_a_tie():
    def call(order, verdict):
        return JudgeCall(order, verdict, map_back(verdict, order), "raw")

    assert combine([call("12", "A"), call("21", "B")]) == ("answer1", True)
    assert combine([call("12", "A"), call("21", "A")]) == ("tie", False)  # pure position bias
    assert combine([call("12", "A"), call("21", None)]) == (None, None)


# -- a biased judge, end to end through the batch runner --------------------------------------


def test_report_recovers_position_and_length_bias():
    judge_model = BiasedJudge(first_bias=0.7)
    result, backend = run_pairwise(judge_model, pair_items(sample_pairs(N)), order="random")
    stats = result.report().rows[0]
    assert len(backend.requests) == N
    assert stats["first_position_win_rate"] == pytest.approx(0.7, abs=0.05)
    assert stats["longer_answer_win_rate"] == pytest.approx(judge_model.expected_longer_win_rate, abs=0.05)
    assert stats["length_diff_correlation"] > 0.3
    curve = stats["length_curve"]  # A wins more the longer it is than B
    assert curve[0]["diff"] < 0 < curve[-1]["diff"] and curve[0]["a_rate"] < 0.5 < curve[-1]["a_rate"]
    assert stats["invalid_rate"] == 0


def test_random_order_removes_position_bias_from_final_verdicts():
    # equal-length answers: only the position bias can decide
    rows = [{"id": f"e{i}", "prompt": f"q{i}", "chosen": f"answer one {i:04d}", "rejected": f"answer two {i:04d}"}
            for i in range(N)]
    items = pair_items(rows)
    fixed, _ = run_pairwise(BiasedJudge(0.7), items, order="fixed")
    random_, _ = run_pairwise(BiasedJudge(0.7), items, order="random")
    assert fixed.report().rows[0]["answer1_win_rate"] == pytest.approx(0.7, abs=0.05)
    assert random_.report().rows[0]["answer1_win_rate"] == pytest.approx(0.5, abs=0.05)


def test_both_orders_turn_inconsistent_pairs_into_ties():
    judge_model = BiasedJudge(first_bias=0.7)
    result, backend = run_pairwise(judge_model, pair_items(sample_pairs(N)), order="both")
    assert len(backend.requests) == 2 * N
    inconsistent = [v for v in result.verdicts if v.consistent is False]
    assert inconsistent and all(v.winner == "tie" for v in inconsistent)
    assert all(v.winner in ("answer1", "answer2") for v in result.verdicts if v.consistent)
    stats = result.report().rows[0]
    # the judge is consistent exactly when its position bias does not fire: 1 - (2*0.7 - 1)
    assert stats["position_consistency"] == pytest.approx(0.6, abs=0.05)
    assert stats["tie_rate"] == pytest.approx(len(inconsistent) / N)


def test_family_bias_is_measured_from_answer_sources(tmp_path):
    # a "llama" judge that recognizes its own family's style ("Indeed.") and prefers it 80% of the time
    def llama_judge(request, index):
        text = request["messages"][-1]["content"]
        a = text.split("Answer A:")[1].split("Answer B:")[0]
        b = text.split("Answer B:")[1]
        rng = random.Random(text)
        own = "A" if "Indeed." in a else "B" if "Indeed." in b else None
        pick = own if own and rng.random() < 0.8 else rng.choice("AB")
        return f"Reasoning: ...\nBest answer: {pick}"

    rows = [{"id": i, "prompt": f"q{i}", "chosen": f"Answer number {i}. Indeed.", "rejected": f"Answer number {i}.",
             "m1": "llama-3-8b", "m2": "qwen2-7b"} for i in range(N)]
    items = pair_items(rows, source1="m1", source2="m2")
    result, _ = run_pairwise(llama_judge, items, family="llama")
    stats = result.report().rows[0]
    assert stats["own_family_win_rate"] == pytest.approx(0.9, abs=0.05)
    assert "own family win %" in result.report().table()
    assert PairwiseResult.load(result.save(tmp_path / "v.jsonl")).family == "llama"
    unknown, _ = run_pairwise(llama_judge, items)  # no family given: not measured
    assert unknown.report().rows[0]["own_family_win_rate"] is None


def test_garbage_answers_are_counted_invalid_never_guessed():
    result, _ = run_pairwise(BiasedJudge(0.7, garbage_rate=0.2), pair_items(sample_pairs(N)))
    invalid = [v for v in result.verdicts if v.winner is None]
    assert len(invalid) / N == pytest.approx(0.2, abs=0.05)
    assert all(v.calls[0].raw is not None and v.calls[0].error == "unparseable verdict" for v in invalid)
    assert result.report().rows[0]["invalid_rate"] == pytest.approx(len(invalid) / N)


def test_garbage_scores_are_none_and_left_out_of_the_mean():
    rows = [{"id": f"s{i}", "prompt": f"q{i}", "answer": " ".join(["word"] * (i % 25))} for i in range(N)]
    backend = ResponderBackend(BiasedJudge(garbage_rate=0.2))
    result = Judge(backend, {"runner": {"concurrency": 16}}).score(score_items(rows))
    invalid = [v for v in result.verdicts if v.score is None]
    assert len(invalid) / N == pytest.approx(0.2, abs=0.05)
    assert all(v.raw is not None for v in invalid)
    stats = result.report().rows[0]
    valid = [v.score for v in result.verdicts if v.score is not None]
    assert stats["mean_score"] == pytest.approx(sum(valid) / len(valid))
    assert stats["invalid_rate"] == pytest.approx(len(invalid) / N)
    assert stats["length_score_correlation"] > 0.9  # this judge scores by length


def test_failed_requests_become_invalid_verdicts_with_the_error():
    def flaky(request, index):
        if "Question 3:" in request["messages"][-1]["content"]:
            raise BackendError("the model refused")
        return BiasedJudge()(request, index)

    result, _ = run_pairwise(flaky, pair_items(sample_pairs(10)))
    bad = result.by_id()["p3"]
    assert bad.winner is None and bad.calls[0].raw is None and "refused" in bad.calls[0].error
    assert all(v.winner is not None for v in result.verdicts if v.id != "p3")


def test_rerun_with_a_journal_sends_nothing_twice(tmp_path):
    items = pair_items(sample_pairs(50))
    config = {"order": "both", "journal": str(tmp_path / "judge.db")}
    first, backend1 = run_pairwise(BiasedJudge(), items, **config)
    second, backend2 = run_pairwise(BiasedJudge(), items, **config)
    assert len(backend1.requests) == 100 and len(backend2.requests) == 0
    assert [v.winner for v in first.verdicts] == [v.winner for v in second.verdicts]


def test_async_api_inside_a_running_event_loop():
    import asyncio

    items = pair_items(sample_pairs(20))

    async def main():
        judge = Judge(ResponderBackend(BiasedJudge()), {"order": "both"})
        pairs = await judge.apairwise(items)
        scores = await judge.ascore(score_items([{"prompt": "q", "answer": "a b c"}]))
        return pairs, scores

    pairs, scores = asyncio.run(main())
    sync, _ = run_pairwise(BiasedJudge(), items, order="both")
    assert [v.winner for v in pairs.verdicts] == [v.winner for v in sync.verdicts]
    assert scores.verdicts[0].score == 1


def test_duplicate_ids_are_a_data_error():
    with pytest.raises(DataError, match="duplicate"):
        pair_items([{"id": 1, "prompt": "q", "chosen": "a", "rejected": "b"}] * 2)
    with pytest.raises(DataError, match="missing column 'chosen'"):
        pair_items([{"prompt": "q", "answer": "a"}])


# -- agreement and several judges -------------------------------------------------------------


def test_cohen_kappa_matches_the_textbook_example():
    # Wikipedia: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0


def test_fleiss_kappa_matches_the_textbook_example():
    # Wikipedia's 10 subjects x 14 raters x 5 categories -> kappa = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    ratings = [[cat for cat, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=0.001)


def _result(name, winners):
    return PairwiseResult(name, [PairVerdict(f"i{k}", w, []) for k, w in enumerate(winners)])


def test_majority_vote_and_fleiss_kappa_for_three_judges():
    a = _result("a", ["answer1", "answer1", "answer2", None, "answer1"])
    b = _result("b", ["answer1", "answer2", "answer2", "answer2", "tie"])
    c = _result("c", ["answer2", "answer2", "answer2", None, "answer2"])
    vote = majority_vote([a, b, c])
    assert [v.winner for v in vote.verdicts] == ["answer1", "answer2", "answer2", "answer2", "tie"]
    agr = agreement([a, b, c])
    assert agr["method"] == "fleiss" and agr["items"] == 4  # item 3 has invalid verdicts
    assert agr["all_agree_rate"] == pytest.approx(0.25)
    two = agreement([a, b])
    assert two["method"] == "cohen" and two["items"] == 4


def test_report_of_several_judges_has_a_combined_row_and_kappa(tmp_path):
    items = pair_items(sample_pairs(200))
    r1, _ = run_pairwise(BiasedJudge(0.7, seed=1), items, name="judge-1")
    r2, _ = run_pairwise(BiasedJudge(0.9, seed=2), items, name="judge-2")
    rep = report([r1, r2])
    assert [r["judge"] for r in rep.rows] == ["judge-1", "judge-2"]
    assert rep.agreement["method"] == "cohen" and -1 <= rep.agreement["kappa"] <= 1
    assert rep.combined["judge"] == "majority(judge-1,judge-2)"
    text = rep.table()
    assert "first position win %" in text and "cohen kappa" in text
    data = json.loads(rep.save(tmp_path / "report.json").read_text())
    assert data["judges"][1]["first_position_win_rate"] > data["judges"][0]["first_position_win_rate"]


def test_mean_scores_skip_invalid():
    from hooklab.judges import ScoreVerdict

    a = ScoreResult("a", [ScoreVerdict("x", 4, "Score: 4"), ScoreVerdict("y", None, "junk")])
    b = ScoreResult("b", [ScoreVerdict("x", 2, "Score: 2"), ScoreVerdict("y", None, "junk")])
    assert mean_scores([a, b]) == {"x": 3.0, "y": None}


def test_report_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    result, _ = run_pairwise(BiasedJudge(), pair_items(sample_pairs(40)), order="both")
    path = tmp_path / "bias.png"
    result.report().plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_round_trip_through_jsonl(tmp_path):
    result, _ = run_pairwise(BiasedJudge(garbage_rate=0.3), pair_items(sample_pairs(30)), order="both")
    back = load_result(result.save(tmp_path / "verdicts.jsonl"))
    assert isinstance(back, PairwiseResult)
    assert back.report().to_dict() == result.report().to_dict()
    assert [c.raw for v in back.verdicts for c in v.calls] == [c.raw for v in result.verdicts for c in v.calls]


# -- dataset operations -----------------------------------------------------------------------


def test_keep_drop_and_relabel_a_preference_dataset():
    rows = [{"id": "a", "prompt": "q", "chosen": "c1", "rejected": "r1"},
            {"id": "b", "prompt": "q", "chosen": "c2", "rejected": "r2"},
            {"id": "c", "prompt": "q", "chosen": "c3", "rejected": "r3"},
            {"id": "d", "prompt": "q", "chosen": "c4", "rejected": "r4"}]
    result = PairwiseResult("j", [PairVerdict("a", "answer1", []), PairVerdict("b", "answer2", []),
                                  PairVerdict("c", "tie", []), PairVerdict("d", None, [])])
    assert label_agreement(result)["agreement"] == 0.5
    assert [r["id"] for r in filter_pairs(rows, result, action="keep")] == ["a"]
    assert [r["id"] for r in filter_pairs(rows, result, action="drop")] == ["a", "c", "d"]
    relabeled = filter_pairs(rows, result, action="relabel")
    assert [(r["id"], r["chosen"], r["rejected"]) for r in relabeled] == [("a", "c1", "r1"), ("b", "r2", "c2")]


def test_best_vs_worst_pairs_from_scored_candidates():
    rows = [{"id": "q1", "prompt": "Explain norms.", "candidates": ["one two", "one " * 30, "one " * 12]},
            {"id": "q2", "prompt": "Same length.", "candidates": ["a b c", "d e f"]}]
    items, groups = candidate_items(rows)
    result = Judge(ResponderBackend(BiasedJudge())).score(items)
    pairs = best_vs_worst(groups, result, items)
    assert len(pairs) == 1  # q2's candidates score the same: no pair
    assert pairs[0]["chosen"] == "one " * 30 and pairs[0]["rejected"] == "one two"
    assert pairs[0]["chosen_score"] > pairs[0]["rejected_score"]


# -- the registry -----------------------------------------------------------------------------


def test_backend_plugins_register_judges_by_backend_name(hooklab_plugins):
    judge_model = BiasedJudge()

    class Plugin:
        @hooklab.hookimpl
        def register_backends(self, register):
            register("scripted-test", lambda model="m": ResponderBackend(judge_model, model=model))

        @hooklab.hookimpl
        def register_judges(self, register):
            register("scripted-test", backend_judge("scripted-test"), config=JudgeConfig)

    hooklab_plugins.register(Plugin())
    judge = hooklab.get("judge", "scripted-test", backend={"model": "tiny"}, order="both")
    assert judge.name == "scripted:tiny" and judge.config.pairwise.order == "both"
    result = judge.pairwise([PairItem("x", "q", "short", "a much longer answer")])
    assert result.verdicts[0].winner == "answer2"
    with pytest.raises(ConfigError, match="order"):
        hooklab.get("judge", "scripted-test", order="sometimes")


def test_the_demo_judge_server_writes_pairs_and_answers_over_http(tmp_path):
    import subprocess
    import sys
    import urllib.request

    pairs = tmp_path / "sample.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "hooklab.testing.judges", "--port", "0", "--pairs", str(pairs),
                             "-n", "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("wrote 5 sample pairs")
        base_url = proc.stdout.readline().split()[4]
        item = json.loads(pairs.read_text().splitlines()[0])
        prompt = pairwise_messages(PairwiseConfig(), item["prompt"], item["chosen"], item["rejected"])
        req = urllib.request.Request(f"{base_url}/chat/completions", method="POST",
                                     data=json.dumps({"model": "scripted", "messages": prompt}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())["choices"][0]["message"]["content"]
        assert parse_verdict(answer) in ("A", "B")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
