"""Training through TRL on a tiny model: learning evidence, reference cache, resume, LR plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hooklab_dpo_trl.trainer import DPORun


def test_learns_the_synthetic_task(tiny_path, pairs, fast_config, tmp_path) -> None:
    """Held-out reward accuracy goes from chance to >= 80% (chosen = sentence, rejected = shuffled)."""
    res = DPORun(fast_config(tiny_path, tmp_path / "run", num_train_epochs=3), train_data=pairs[0],
                 eval_data=pairs[1]).train()
    # before: policy == reference, every implicit reward is 0: all ties (strictly 0% right, 50% with
    # ties counted half, i.e. chance)
    assert res.before.ties == len(pairs[1]) and res.before.accuracy == 0.0
    assert res.before.accuracy_ties_half == 0.5
    assert res.after.accuracy >= 0.8 and res.after.mean_margin > 0
    assert res.after.reference == "initial-policy"
    assert res.data.kept == len(pairs[0])
    out = Path(res.output_dir)
    for name in ("metrics.json", "metrics.csv", "summary.json", "reward_accuracy_before.json",
                 "reward_accuracy_after.json", "final/model.safetensors", "final/tokenizer.json"):
        assert (out / name).is_file(), name
    rows = json.loads((out / "metrics.json").read_text())
    assert any("rewards/accuracies" in r and "rewards/margins" in r and "loss" in r for r in rows)
    assert json.loads((out / "summary.json").read_text())["after"]["accuracy"] == res.after.accuracy


def test_reference_log_probs_are_cached_on_disk_and_reused(tiny_path, pairs, fast_config, tmp_path) -> None:
    from safetensors.torch import load_file

    from hooklab.models import load_model
    from hooklab_dpo_trl.rewards import pair_logps

    cfg = fast_config(tiny_path, tmp_path / "a", max_steps=1, logging_steps=1, evaluate=False, save_final=False)
    first = DPORun(cfg, train_data=pairs[0][:32]).train()
    assert first.ref_cache["misses"] == 1 and first.ref_cache["hits"] == 0
    entries = list((tmp_path / "refcache").glob("*.safetensors"))
    assert len(entries) == 1

    # the cached numbers are the initial model's completion log-probs
    model, tok = load_model(str(tiny_path))
    chosen, rejected = pair_logps(model, tok, pairs[0][:32], max_length=64)
    cached = load_file(str(entries[0]))
    assert cached["chosen"].tolist() == pytest.approx(chosen.tolist(), abs=1e-3)
    assert cached["rejected"].tolist() == pytest.approx(rejected.tolist(), abs=1e-3)

    again = DPORun(dict(cfg, output_dir=str(tmp_path / "b")), train_data=pairs[0][:32]).train()
    assert again.ref_cache["hits"] == 1 and again.ref_cache["misses"] == 0
    assert again.metrics[0]["loss"] == pytest.approx(first.metrics[0]["loss"], rel=1e-5)

    shorter = DPORun(dict(cfg, output_dir=str(tmp_path / "c"), max_length=16), train_data=pairs[0][:32]).train()
    assert shorter.ref_cache["misses"] == 1  # other lengths: another key
    other_data = DPORun(dict(cfg, output_dir=str(tmp_path / "d")), train_data=pairs[0][32:64]).train()
    assert other_data.ref_cache["misses"] == 1


def test_a_live_reference_copy_gives_the_same_losses(tiny_path, pairs, fast_config, tmp_path) -> None:
    base = fast_config(tiny_path, tmp_path / "p", max_steps=3, logging_steps=1, evaluate=False, save_final=False)
    pre = DPORun(base, train_data=pairs[0][:48]).train()
    live = DPORun(dict(base, output_dir=str(tmp_path / "c"), reference="copy"), train_data=pairs[0][:48]).train()
    assert live.ref_cache == {}
    assert [r["loss"] for r in live.metrics if "loss" in r] == pytest.approx(
        [r["loss"] for r in pre.metrics if "loss" in r], rel=1e-4)


def test_resume_continues_from_the_last_checkpoint(tiny_path, pairs, fast_config, tmp_path) -> None:
    cfg = fast_config(tiny_path, tmp_path / "run", max_steps=4, save_steps=2, evaluate=False, logging_steps=1)
    first = DPORun(cfg, train_data=pairs[0][:64]).train()
    assert first.global_step == 4 and (tmp_path / "run" / "checkpoint-4").is_dir()
    second = DPORun(dict(cfg, max_steps=6, resume=True), train_data=pairs[0][:64]).train()
    assert second.resumed_from.endswith("checkpoint-4")
    assert second.global_step == 6
    assert [r["step"] for r in second.metrics if "loss" in r] == [5, 6]  # steps 1-4 were not redone


def test_resume_from_a_missing_checkpoint_is_a_config_error(tiny_path, pairs, fast_config, tmp_path) -> None:
    from hooklab.errors import ConfigError

    with pytest.raises(ConfigError, match="resume checkpoint not found"):
        DPORun(fast_config(tiny_path, tmp_path / "r", resume=str(tmp_path / "nope"), max_steps=1),
               train_data=pairs[0][:16]).train()


class HalvingSchedule:
    def __init__(self, total_steps: int, peak_lr: float) -> None:
        self.total_steps, self.peak_lr = total_steps, peak_lr

    def lr(self, step: int) -> float:
        return self.peak_lr * 0.5 ** step


def test_a_hooklab_schedule_is_the_lr_plan(hooklab_plugins, tiny_path, pairs, fast_config, tmp_path) -> None:
    from pydantic import BaseModel

    import hooklab

    class HalvingConfig(BaseModel):
        total_steps: int
        peak_lr: float

    class Plugin:
        @hooklab.hookimpl
        def register_schedules(self, register):
            register("test-halving", lambda c: HalvingSchedule(c.total_steps, c.peak_lr), config=HalvingConfig)

    hooklab_plugins.register(Plugin())
    cfg = fast_config(tiny_path, tmp_path / "s", max_steps=3, logging_steps=1, evaluate=False, save_final=False,
                      learning_rate=1e-3, schedule={"name": "test-halving"})
    res = DPORun(cfg, train_data=pairs[0][:48]).train()
    lrs = [r["learning_rate"] for r in res.metrics if "learning_rate" in r]
    # the row logged at step s shows the LR its update used: schedule.lr(s - 1)
    assert lrs == pytest.approx([1e-3 * 0.5 ** s for s in (0, 1, 2)])


def test_a_schedule_from_hooklab_schedules(tiny_path, pairs, fast_config, tmp_path) -> None:
    pytest.importorskip("hooklab_schedules")
    import hooklab

    if "cosine" not in hooklab.components("schedule"):
        pytest.skip("hooklab-schedules registers no cosine")
    cfg = fast_config(tiny_path, tmp_path / "s", max_steps=4, logging_steps=1, evaluate=False, save_final=False,
                      learning_rate=1e-3, schedule={"name": "cosine", "warmup_steps": 2})
    res = DPORun(cfg, train_data=pairs[0][:64]).train()
    plan = hooklab.get("schedule", "cosine", total_steps=4, peak_lr=1e-3, warmup_steps=2)
    lrs = [r["learning_rate"] for r in res.metrics if "learning_rate" in r]
    assert lrs == pytest.approx([plan.lr(s) for s in (0, 1, 2, 3)])


def test_unknown_schedule_names_the_available_ones(tiny_path, pairs, fast_config, tmp_path) -> None:
    from hooklab.errors import UnknownComponentError

    cfg = fast_config(tiny_path, tmp_path / "s", max_steps=1, evaluate=False, schedule="no-such-plan")
    with pytest.raises(UnknownComponentError, match="no-such-plan"):
        DPORun(cfg, train_data=pairs[0][:16]).train()


def test_an_explicit_reference_model_is_precomputed_and_used_for_evaluation(tiny_path, tiny_shape, pairs,
                                                                           fast_config, tmp_path) -> None:
    from hooklab.models import load_model
    from hooklab.testing.models import save_tiny
    from hooklab_dpo_trl.rewards import reward_accuracy

    ref_path = save_tiny("qwen2", tmp_path / "ref", seed=1, **tiny_shape)
    cfg = fast_config(tiny_path, tmp_path / "run", max_steps=1, ref_model=str(ref_path), save_final=False)
    run = DPORun(cfg, train_data=pairs[0][:16], eval_data=pairs[1][:8])
    res = run.train()
    assert run.trainer.ref_model is None  # precomputed: the reference weights were let go
    assert res.ref_cache["misses"] == 1
    policy, tok = load_model(str(tiny_path))
    ref, _ = load_model(str(ref_path))
    expected = reward_accuracy(policy, tok, pairs[1][:8], ref_model=ref, beta=cfg.get("beta", 0.1), max_length=64)
    assert res.before.reference == "model" and res.before.ties == 0
    assert res.before.mean_margin == pytest.approx(expected.mean_margin, abs=1e-4)
