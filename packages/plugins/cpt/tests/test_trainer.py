"""The cpt trainer: schedule + clipping, kill-and-resume, 2 processes, CLI, report, registration."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import hooklab_cmd, run_env, run_hooklab

import hooklab
from hooklab_cpt import ForgettingReport, latest_checkpoint, train
from hooklab_schedules import cosine_with_warmup


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(corpora, tmp_path_factory) -> dict:
    """One uninterrupted run that several tests compare against."""
    from conftest import write_jsonl  # noqa: F401 - keeps the helper importable

    out = tmp_path_factory.mktemp("ref")
    cfg = {
        "model": str(corpora["model"]), "output_dir": str(out / "run"), "max_steps": 6,
        "batch_size": 2, "grad_accum": 2, "save_every": 2, "progress": False,
        "data": {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "strong",
                 "block_size": 32, "shuffle_buffer": 50},
        "eval": {"old": str(corpora["d1_held"]), "new": str(corpora["d2_held"]), "max_blocks": 4},
        "schedule": {"name": "cosine", "peak_lr": 2e-3, "warmup_steps": 2},
    }
    return {"config": cfg, "result": train(cfg)}


def test_run_follows_the_schedule_clips_and_writes_everything(reference) -> None:
    res, cfg = reference["result"], reference["config"]
    run = Path(cfg["output_dir"])
    rows = _metrics(run)
    plan = cosine_with_warmup(6, 2e-3, warmup_steps=2)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["lr"] for r in rows] == pytest.approx(plan.lrs(), rel=1e-12)
    assert all(r["tokens"] == r["step"] * 2 * 2 * 32 for r in rows)  # batch x accum x block
    assert res.final_loss == rows[-1]["loss"] and len(res.losses) == 6
    for name in ("config.json", "report.json", "result.json", "forgetting.png", "final/model.safetensors",
                 "final/tokenizer.json", "checkpoints/step-000002/state.json",
                 "checkpoints/step-000004/optimizer.pt"):
        assert (run / name).is_file(), name
    report = ForgettingReport.load(run)
    assert [(p.step, p.label) for p in report.points] == [(0, "before"), (2, "checkpoint"),
                                                          (4, "checkpoint"), (6, "after")]
    assert all(p.old_loss and p.new_loss for p in report.points)
    assert report.points[-1].new_loss < report.points[0].new_loss  # it learned D2


def test_killed_run_resumes_to_the_same_final_loss(reference, tmp_path) -> None:
    cfg = {**reference["config"], "output_dir": str(tmp_path / "killed"), "progress": False}
    path = tmp_path / "cpt.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(hooklab_cmd("cpt", "--config", str(path)), env=run_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while latest_checkpoint(cfg["output_dir"]) is None and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (Path(cfg["output_dir"]) / "result.json").exists()
    killed_at = int(latest_checkpoint(cfg["output_dir"]).name.split("-")[1])

    resumed = train(cfg)
    assert resumed.resumed_from == killed_at > 0
    assert abs(resumed.final_loss - reference["result"].final_loss) <= 1e-6
    assert resumed.losses == pytest.approx(reference["result"].losses, abs=1e-6)
    from safetensors.torch import load_file

    a = load_file(Path(cfg["output_dir"]) / "final/model.safetensors")
    b = load_file(Path(reference["config"]["output_dir"]) / "final/model.safetensors")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff == 0.0, diff  # bit-exact weights


@pytest.mark.slow
def test_two_cpu_processes_with_accelerate_launch(reference, corpora, tmp_path) -> None:
    """2 processes (gloo) with batch B each train like 1 process with batch 2B."""
    cfg = {**reference["config"], "output_dir": str(tmp_path / "ddp"), "max_steps": 3, "save_every": 0,
           "batch_size": 1}
    path = tmp_path / "cpt.json"
    path.write_text(json.dumps(cfg))
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", "29517", "-m"]
    r = subprocess.run(hooklab_cmd("cpt", "--config", str(path), prefix=launch), capture_output=True,
                       text=True, env=run_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("trained 3 steps") == 1  # only the main process reports
    ddp = _metrics(tmp_path / "ddp")
    assert [row["tokens"] for row in ddp] == [128, 256, 384]  # 2 processes x 1 x accum 2 x 32
    single = train({**cfg, "output_dir": str(tmp_path / "single"), "batch_size": 2, "eval": {}})
    assert [row["loss"] for row in ddp] == pytest.approx(single.losses, abs=1e-5)


def test_registered_trainer_and_config_errors(corpora, tmp_path, hooklab_plugins) -> None:
    from hooklab.errors import ConfigError

    assert "cpt" in hooklab.components("trainer")
    trainer = hooklab.get("trainer", "cpt", model=str(corpora["model"]), output_dir=str(tmp_path / "r"),
                          max_steps=1, batch_size=1, progress=False,
                          data={"new": str(corpora["d2"]), "replay": 0, "block_size": 16})
    res = trainer.train()
    assert res.steps == 1 and res.report.points == []
    with pytest.raises(ConfigError, match="block_size"):
        train({"model": str(corpora["model"]), "data": {"new": str(corpora["d2"]), "replay": 0}})


def test_cli_trains_and_reports_and_bad_input_is_one_line(reference, corpora, tmp_path) -> None:
    run = Path(reference["config"]["output_dir"])
    png = tmp_path / "f.png"
    r = run_hooklab("cpt", "report", str(run), "--out", str(png))
    assert r.returncode == 0, r.stderr
    assert "D1 loss" in r.stdout and "after" in r.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run_hooklab("cpt", "report", str(run), "--json", "--out", str(png))
    assert json.loads(r.stdout)["summary"]["after_step"] == 6

    bad = tmp_path / "bad.toml"
    bad.write_text(f'model = "{corpora["model"]}"\n[data]\nnew = "{corpora["d2"]}"\nreplay = 0.5\n'
                   f'block_size = 16\nbogus = 1\n')
    no_old = tmp_path / "no_old.toml"
    no_old.write_text(bad.read_text().replace("bogus = 1\n", ""))
    for args, fragment in ((["cpt", "--config", str(bad)], "bogus"),
                           (["cpt", "--config", str(no_old), "--set", "max_steps=1"], "needs old data"),
                           (["cpt", "report", str(tmp_path / "nowhere")], "no forgetting report"),
                           (["cpt"], "give --config")):
        r = run_hooklab(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and fragment in r.stderr, r.stderr


def test_importing_the_plugin_imports_no_heavy_library() -> None:
    code = ("import sys, hooklab_cpt.plugin, hooklab_cpt.cli; "
            "bad = [m for m in ('torch', 'transformers', 'accelerate', 'datasets', 'matplotlib') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_accumulation_equals_a_bigger_batch_and_bf16_autocast_runs(corpora, tmp_path) -> None:
    base = {"model": str(corpora["model"]), "max_steps": 2, "progress": False, "eval": {},
            "data": {"new": str(corpora["d2"]), "old": str(corpora["d1"]), "replay": "weak", "block_size": 16},
            "schedule": {"name": "constant", "lr": 1e-3}}
    accum = train({**base, "output_dir": str(tmp_path / "a"), "batch_size": 1, "grad_accum": 4})
    batch = train({**base, "output_dir": str(tmp_path / "b"), "batch_size": 4, "grad_accum": 1})
    assert accum.losses == pytest.approx(batch.losses, abs=1e-5)
    bf16 = train({**base, "output_dir": str(tmp_path / "c"), "batch_size": 4, "precision": "bf16"})
    assert all(math.isfinite(x) for x in bf16.losses)
    assert bf16.losses[0] != batch.losses[0]  # autocast really ran in bf16
    assert bf16.losses == pytest.approx(batch.losses, abs=0.05)


def test_prefetch_keeps_order_and_raises_the_producers_error() -> None:
    from hooklab_cpt.trainer import prefetch

    assert list(prefetch(iter(range(1000)), 7)) == list(range(1000))

    def broken():
        yield 1
        raise ValueError("bad document")

    it = prefetch(broken(), 3)
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad document"):
        next(it)
    gen = prefetch(iter(range(10**9)), 5)  # closing stops an endless producer
    assert next(gen) == 0
    gen.close()
