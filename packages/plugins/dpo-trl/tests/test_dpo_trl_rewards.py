"""Reward accuracy equals an independent, one-sequence-at-a-time reference implementation."""

from __future__ import annotations

import pytest
import torch

from hooklab.testing.models import tiny_model
from hooklab_dpo_trl.rewards import reward_accuracy


def naive_logp(model, tok, prompt_ids: list[int], completion_ids: list[int]) -> float:
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    return sum(float(logp[len(prompt_ids) + j - 1, t]) for j, t in enumerate(completion_ids))


def naive_accuracy(pol, ref, tok, rows) -> tuple[float, float, list[float]]:
    margins = []
    for r in rows:
        p = tok(r["prompt"])["input_ids"]
        rewards = []
        for key in ("chosen", "rejected"):
            c = tok(r[key] + tok.eos_token)["input_ids"]
            rewards.append(naive_logp(pol, tok, p, c) - naive_logp(ref, tok, p, c))
        margins.append(rewards[0] - rewards[1])
    return sum(m > 0 for m in margins) / len(rows), sum(margins) / len(rows), margins


@pytest.fixture(scope="module")
def models(tiny_shape):
    return tiny_model("qwen2", seed=0, **tiny_shape), tiny_model("qwen2", seed=1, **tiny_shape)


def test_equals_an_independent_implementation(models, tiny_tokenizer, pairs) -> None:
    pol, ref = models
    rows = [dict(r, prompt="Sentence:\n") for r in pairs[1][:24]]
    res = reward_accuracy(pol, tiny_tokenizer, rows, ref_model=ref, batch_size=5)
    acc, margin, margins = naive_accuracy(pol, ref, tiny_tokenizer, rows)
    assert res.n == 24 and res.reference == "model"
    assert res.accuracy == pytest.approx(acc)
    assert res.mean_margin == pytest.approx(margin, abs=1e-3)
    assert [r["margin"] for r in res.rows] == pytest.approx(margins, abs=1e-3)
    assert 0 < res.accuracy < 1  # two random models disagree both ways: the check has teeth


def test_beta_scales_rewards_not_accuracy(models, tiny_tokenizer, pairs) -> None:
    pol, ref = models
    a = reward_accuracy(pol, tiny_tokenizer, pairs[1][:8], ref_model=ref)
    b = reward_accuracy(pol, tiny_tokenizer, pairs[1][:8], ref_model=ref, beta=0.1)
    assert b.accuracy == a.accuracy and b.mean_margin == pytest.approx(0.1 * a.mean_margin, rel=1e-4)


def test_ties_count_as_wrong(models, tiny_tokenizer, pairs) -> None:
    pol, _ = models
    res = reward_accuracy(pol, tiny_tokenizer, pairs[1][:8], ref_model=pol)
    assert res.accuracy == 0.0 and res.ties == 8 and res.mean_margin == 0.0


def test_per_subset_and_outputs(models, tiny_tokenizer, tmp_path) -> None:
    from hooklab_dpo_trl.synthetic import shuffled_sentence_pairs

    rows, _ = shuffled_sentence_pairs(20, seed=3, subsets=True)
    pol, ref = models
    res = reward_accuracy(pol, tiny_tokenizer, rows, ref_model=ref)
    subs = {r["subset"] for r in rows}
    assert set(res.per_subset) == subs
    n_short = sum(r["subset"] == "short" for r in rows)
    short = [r for r in res.rows if r["subset"] == "short"]
    assert res.per_subset["short"]["n"] == n_short
    assert res.per_subset["short"]["accuracy"] == pytest.approx(sum(r["correct"] for r in short) / n_short)
    assert len(res.to_pandas()) == 20
    assert res.save(tmp_path / "r.csv").read_text().startswith("chosen_reward")
    assert '"accuracy"' in res.save(tmp_path / "r.json").read_text()


def test_chat_pairs_score_only_the_assistant_turn(models, tiny_tokenizer) -> None:
    pol, ref = models
    user = [{"role": "user", "content": "Say something."}]
    rows = [{"prompt": user, "chosen": [{"role": "assistant", "content": "Hello there."}],
             "rejected": [{"role": "assistant", "content": "there Hello."}]}]
    res = reward_accuracy(pol, tiny_tokenizer, rows, ref_model=ref)
    p = tiny_tokenizer.apply_chat_template(user, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    rewards = []
    for key in ("chosen", "rejected"):
        full = tiny_tokenizer.apply_chat_template(user + rows[0][key], tokenize=True, return_dict=True)["input_ids"]
        assert full[:len(p)] == p
        rewards.append(naive_logp(pol, tiny_tokenizer, p, full[len(p):]) - naive_logp(ref, tiny_tokenizer, p, full[len(p):]))
    assert res.rows[0]["margin"] == pytest.approx(rewards[0] - rewards[1], abs=1e-3)


def test_without_a_reference_rewards_are_log_probs(models, tiny_tokenizer, pairs) -> None:
    pol, _ = models
    res = reward_accuracy(pol, tiny_tokenizer, pairs[1][:4])
    assert res.reference == "none"
    assert all(r["chosen_reward"] < 0 for r in res.rows)
