"""hooklab-schedules: exact formulas (the seed's and transformers'), bad input, LambdaLR, Trainer."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import hooklab
from hooklab.errors import ConfigError
from hooklab_schedules import (
    cosine_with_warmup,
    hf_optimizers,
    inverse_sqrt,
    linear_with_warmup,
    multi_phase,
    segments,
    to_lambda_lr,
    warmup_constant,
    wsd,
)


def _seed_cosine(total_steps: int, warmup_steps: int, initial_lr: float, peak_lr: float) -> list[float]:
    """The seed's loop, verbatim apart from the data loader."""
    min_lr = 0.1 * initial_lr
    lr_increment = (peak_lr - initial_lr) / warmup_steps
    out = []
    for global_step in range(total_steps):
        if global_step < warmup_steps:
            lr = initial_lr + global_step * lr_increment
        else:
            progress = (global_step - warmup_steps) / (total_steps - warmup_steps)
            lr = min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        out.append(lr)
    return out


@pytest.mark.parametrize("total,frac", [(150, 0.2), (1000, 0.001), (37, 0.1)])
def test_cosine_equals_the_seed_at_every_step(total: int, frac: float) -> None:
    warm = int(frac * total)
    if warm == 0:
        warm = 1
        plan = cosine_with_warmup(total, 0.01, warmup_steps=1, initial_lr=0.0001)
    else:
        plan = cosine_with_warmup(total, 0.01, warmup_fraction=frac, initial_lr=0.0001)
    assert plan.lrs() == _seed_cosine(total, warm, 0.0001, 0.01)


def test_warmup_constant_equals_the_seeds_warmup_loop() -> None:
    initial_lr, peak_lr, total = 0.0001, 0.01, 90
    warmup_steps = int(0.2 * total)
    inc = (peak_lr - initial_lr) / warmup_steps
    expected = [initial_lr + s * inc if s < warmup_steps else peak_lr for s in range(total)]
    assert warmup_constant(total, peak_lr, warmup_fraction=0.2, initial_lr=initial_lr).lrs() == expected


def _param_optimizer(lr: float):
    import torch

    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _walk(scheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def _assert_same(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-18), (step, a, b)


PEAK = 3e-4


@pytest.mark.parametrize("total,warm,cycles", [(100, 10, 0.5), (64, 0, 0.5), (50, 50, 0.5), (80, 8, 1.5)])
def test_cosine_equals_transformers(total: int, warm: int, cycles: float) -> None:
    from transformers import get_cosine_schedule_with_warmup

    theirs = _walk(get_cosine_schedule_with_warmup(_param_optimizer(PEAK), warm, total, cycles), total)
    plan = cosine_with_warmup(total, PEAK, warmup_steps=warm, cycles=cycles)
    _assert_same(_walk(to_lambda_lr(plan, _param_optimizer(1.0)), total), theirs)
    _assert_same(plan.lrs(), theirs)


def test_cosine_with_floor_equals_transformers_min_lr_schedule() -> None:
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    theirs = _walk(get_cosine_with_min_lr_schedule_with_warmup(
        _param_optimizer(PEAK), 12, 120, min_lr_rate=0.1), 120)
    _assert_same(cosine_with_warmup(120, PEAK, warmup_steps=12, min_lr=0.1 * PEAK).lrs(), theirs)


def test_linear_equals_transformers() -> None:
    from transformers import get_linear_schedule_with_warmup

    theirs = _walk(get_linear_schedule_with_warmup(_param_optimizer(PEAK), 7, 70), 70)
    _assert_same(linear_with_warmup(70, PEAK, warmup_steps=7).lrs(), theirs)


@pytest.mark.parametrize("timescale", [None, 25])
def test_inverse_sqrt_equals_transformers(timescale: int | None) -> None:
    from transformers.optimization import get_inverse_sqrt_schedule

    theirs = _walk(get_inverse_sqrt_schedule(_param_optimizer(PEAK), 10, timescale), 200)
    _assert_same(inverse_sqrt(200, PEAK, warmup_steps=10, timescale=timescale).lrs(), theirs)


@pytest.mark.parametrize("warmup_shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("decay_shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("min_ratio", [0.0, 0.1])
def test_wsd_equals_transformers(warmup_shape: str, decay_shape: str, min_ratio: float) -> None:
    from transformers.optimization import get_wsd_schedule

    theirs = _walk(get_wsd_schedule(_param_optimizer(PEAK), num_warmup_steps=10, num_decay_steps=30,
                                    num_training_steps=100, warmup_type=warmup_shape,
                                    decay_type=decay_shape, min_lr_ratio=min_ratio), 100)
    plan = wsd(100, PEAK, warmup_steps=10, decay_steps=30, min_lr=min_ratio * PEAK,
               warmup_shape=warmup_shape, decay_shape=decay_shape)
    _assert_same(plan.lrs(), theirs)


def test_multi_phase_rewarms_and_redecays_each_phase() -> None:
    plan = multi_phase([
        {"steps": 100, "peak_lr": 1e-3, "warmup_steps": 10, "initial_lr": 1e-4},
        {"steps": 50, "peak_lr": 5e-4, "warmup_steps": 5, "start": 100},
    ])
    assert plan.total_steps == 150 and plan.phase_starts == (0, 100)
    first = cosine_with_warmup(100, 1e-3, warmup_steps=10, initial_lr=1e-4)
    assert plan.lrs(100) == first.lrs()
    # phase 2 starts where phase 1 ended and warms up again to its own peak
    assert plan.lr(100) == pytest.approx(first.segments[-1].end_lr)
    assert plan.lr(105) == 5e-4
    assert plan.lr(104) < plan.lr(105) and plan.lr(149) < plan.lr(105)


@pytest.mark.parametrize("build,fragment", [
    (lambda: cosine_with_warmup(100, 1e-3, warmup_steps=101), "longer than the run"),
    (lambda: cosine_with_warmup(100, 1e-3, min_lr=2e-3), "above peak_lr"),
    (lambda: cosine_with_warmup(100, 1e-3, initial_lr=-1e-4), ">= 0"),
    (lambda: cosine_with_warmup(100, -1e-3), ">= 0"),
    (lambda: cosine_with_warmup(-5, 1e-3), "total_steps"),
    (lambda: linear_with_warmup(100, 1e-3, warmup_fraction=1.5), "between 0 and 1"),
    (lambda: wsd(100, 1e-3, warmup_steps=60, decay_steps=50), "longer than the run"),
    (lambda: multi_phase([{"steps": 100, "peak_lr": 1e-3}, {"steps": 50, "peak_lr": 1e-3, "start": 90}]),
     "overlap"),
    (lambda: multi_phase([{"steps": 100, "peak_lr": 1e-3}, {"steps": 50, "peak_lr": 1e-3, "start": 120}]),
     "gap"),
    (lambda: segments([{"kind": "warmup", "steps": 10, "start_lr": 1.0, "end_lr": 0.5}]), "goes down"),
])
def test_bad_input_is_a_config_error_with_a_clear_message(build, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build()


def test_every_schedule_is_registered_and_built_from_config(hooklab_plugins) -> None:
    names = set(hooklab.components("schedule"))
    assert {"cosine", "linear", "constant", "warmup-constant", "inverse-sqrt", "wsd", "multi-phase",
            "segments"} <= names
    plan = hooklab.get("schedule", "cosine", total_steps=40, peak_lr=1e-3, warmup_fraction=0.1)
    assert plan.lrs() == cosine_with_warmup(40, 1e-3, warmup_fraction=0.1).lrs()
    with pytest.raises(ConfigError, match="peak_lr"):
        hooklab.get("schedule", "cosine", total_steps=40, peak_lr=-1.0)
    with pytest.raises(ConfigError, match="unknown option"):
        hooklab.get("schedule", "wsd", total_steps=40, peak_lr=1e-3, decay_stepz=3)


def test_segments_compose_any_curve() -> None:
    plan = segments([
        {"kind": "warmup", "steps": 4, "end_lr": 1.0},
        {"kind": "constant", "steps": 3, "lr": 1.0},
        {"kind": "linear", "steps": 4, "start_lr": 1.0, "end_lr": 0.2},
    ])
    assert plan.lrs() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4])
    assert plan.lr(500) == pytest.approx(0.2)  # the floor is held after the end


def test_lambda_lr_state_round_trips_with_weights_only(tmp_path) -> None:
    import torch

    plan = cosine_with_warmup(30, 1e-3, warmup_steps=3)
    sched = to_lambda_lr(plan, _param_optimizer(0.5))
    _walk(sched, 11)
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    fresh = to_lambda_lr(plan, _param_optimizer(0.5))
    fresh.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    fresh.optimizer.param_groups[0]["lr"] = fresh.get_last_lr()[0]
    assert _walk(fresh, 19) == plan.lrs()[11:]


def test_relative_keeps_each_groups_own_peak() -> None:
    import torch

    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1e-3}, {"params": [b], "lr": 1e-4}])
    plan = cosine_with_warmup(20, 2e-3, warmup_steps=2)
    sched = to_lambda_lr(plan, opt, relative=True)
    for _ in range(5):
        opt.step()
        sched.step()
    lr_a, lr_b = sched.get_last_lr()
    assert lr_a == pytest.approx(1e-3 * plan.lr(5) / 2e-3)
    assert lr_b == pytest.approx(1e-4 * plan.lr(5) / 2e-3)


def test_hf_trainer_follows_the_plan(tmp_path, tiny_tokenizer) -> None:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from hooklab.testing import tiny_model

    model = tiny_model("gpt2", num_layers=1, hidden_size=32)
    model.train()
    plan = cosine_with_warmup(6, 1e-3, warmup_steps=2, initial_lr=1e-4)
    ids = tiny_tokenizer("def f(x): return x + 1", return_tensors="pt")["input_ids"][0][:16]
    data = [{"input_ids": ids, "labels": ids} for _ in range(12)]
    seen: list[tuple[int, float]] = []

    class Record(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kw):
            seen.append((state.global_step, optimizer.param_groups[0]["lr"]))

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=2,
                             report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no",
                             disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data,
                      optimizers=hf_optimizers(model, plan, weight_decay=0.1), callbacks=[Record()])
    trainer.train()
    assert [s for s, _ in seen] == list(range(6))
    for step, lr in seen:
        assert lr == pytest.approx(plan.lr(step), rel=1e-12)
    assert torch.isfinite(torch.tensor(trainer.state.log_history[-1]["train_loss"]))


def test_importing_the_plugin_imports_no_heavy_library() -> None:
    code = ("import sys, hooklab_schedules.plugin, hooklab_schedules, hooklab_schedules.cli; "
            "bad = [m for m in ('torch', 'transformers', 'matplotlib', 'datasets') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
