"""``hooklab capture``: files, progress, one-line errors with exit 2, kill and resume, 2 processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hooklab_capture.capture import load_capture, read_settings

CLI = [sys.executable, "-m", "hooklab_cli"]


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def hooklab(*args: str) -> Result:
    """Run the real ``hooklab`` root command in-process (what the console script runs)."""
    from click.testing import CliRunner

    from hooklab_cli.main import _add_plugin_commands, cli

    _add_plugin_commands()
    r = CliRunner().invoke(cli, list(args), prog_name="hooklab")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)


def hooklab_process(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HOOKLAB_STRICT_PLUGINS": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_capture_writes_shards_and_reports(model_dir, texts_file, tmp_path):
    out = tmp_path / "acts"
    r = hooklab("capture", str(model_dir), "--texts", str(texts_file), "--points", "layers.*",
                "--points", "final_norm", "--out", str(out), "--shard-texts", "8", "--dtype", "float16")
    assert r.returncode == 0, r.stderr
    assert "captured" in r.stdout and "3 shards" in r.stdout
    assert "text" in r.stderr and "tok_s" in r.stderr  # the progress bar: texts, tokens/s, bytes written
    assert "written" in r.stderr
    settings = read_settings(out)
    assert settings["points"] == ["layers.0", "layers.1", "final_norm"] and settings["dtype"] == "float16"
    assert settings["model"] == str(model_dir)
    acts = load_capture(out)
    assert acts["layers.1"].dtype == torch.float16 and len(acts) > 20


@pytest.mark.parametrize(("args", "message"), [
    (["--points", "layers.9"], "unknown hook point 'layers.9'"),
    (["--points", "layer.1.mlp"], "Did you mean: layers.1.mlp"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "cuda:99"], "not available"),
])
def test_bad_input_is_one_line_and_exit_2(model_dir, texts_file, tmp_path, args, message):
    if args[-1] == "cuda:99":
        pytest.skip("needs a machine without CUDA")
    r = hooklab("capture", str(model_dir), "--texts", str(texts_file), "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error:")


def test_empty_text_file_and_missing_file(model_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    # once through the real console entry point in a subprocess
    r = hooklab_process("capture", str(model_dir), "--texts", str(empty), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "it is empty" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    r = hooklab("capture", str(model_dir), "--texts", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_not_a_model_is_exit_2(texts_file, tmp_path):
    (tmp_path / "m").mkdir()
    r = hooklab("capture", str(tmp_path / "m"), "--texts", str(texts_file), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "cannot load model" in r.stderr and "Traceback" not in r.stderr


def test_folder_from_a_different_capture_is_exit_2(model_dir, texts_file, tmp_path):
    out = tmp_path / "acts"
    assert hooklab("capture", str(model_dir), "--texts", str(texts_file), "--out", str(out),
                   "--points", "layers.0", "--no-progress").returncode == 0
    r = hooklab("capture", str(model_dir), "--texts", str(texts_file), "--out", str(out), "--points", "layers.1")
    assert r.returncode == 2 and "different capture" in r.stderr and "--overwrite" in r.stderr
    assert "Traceback" not in r.stderr
    r = hooklab("capture", str(model_dir), "--texts", str(texts_file), "--out", str(out), "--points", "layers.1",
                "--overwrite", "--no-progress")
    assert r.returncode == 0 and read_settings(out)["points"] == ["layers.1"]


@pytest.mark.slow
def test_killed_capture_resumes_to_the_same_files(model_dir, tmp_path):
    from hooklab.testing.models import corpus_documents

    texts = tmp_path / "many.txt"
    texts.write_text("\n".join(" ".join(d.split())[:120] for d in corpus_documents()[:240]))
    common = ["capture", str(model_dir), "--texts", str(texts), "--points", "layers.*", "--shard-texts", "2",
              "--batch-size", "2", "--no-progress"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert hooklab(*common, "--out", str(ref)).returncode == 0
    # start, wait for a few finished shards, kill -9
    env = os.environ | {"HOOKLAB_STRICT_PLUGINS": "1"}
    proc = subprocess.Popen([*CLI, *common, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out / "shard-00003.parquet").exists():
            assert proc.poll() is None, "capture ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = sorted(p.name for p in out.glob("shard-*.parquet"))
    assert 4 <= len(done) < 120, "the kill must leave a partial capture"
    r = hooklab(*common, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"({len(done)} already done)" in r.stdout
    files = sorted(p.name for p in ref.iterdir())
    assert sorted(p.name for p in out.iterdir()) == files  # no temporary files left
    for name in files:
        if name != "capture.json":
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name


@pytest.mark.slow
def test_two_processes_each_write_their_shards(model_dir, texts_file, tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("accelerate is not installed")
    out = tmp_path / "acts"
    # `--multi_gpu` is what makes accelerate start N processes through torchrun; without a GPU,
    # hooklab-capture puts them on the CPU with the gloo backend.
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "hooklab_cli", "capture", str(model_dir), "--texts", str(texts_file), "--out", str(out),
           "--points", "layers.*", "--shard-texts", "3", "--batch-size", "2", "--no-progress"]
    env = os.environ | {"HOOKLAB_STRICT_PLUGINS": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rank 0: captured" in r.stdout and "rank 1: captured" in r.stdout
    import json

    import pyarrow.parquet as pq

    writers = {json.loads(pq.read_schema(p).metadata[b"hooklab.capture"])["rank"]: 0 for p in out.glob("shard-*.parquet")}
    assert set(writers) == {0, 1}
    # the same values as one process writes
    single = tmp_path / "single"
    assert hooklab("capture", str(model_dir), "--texts", str(texts_file), "--out", str(single), "--points",
                   "layers.*", "--shard-texts", "3", "--batch-size", "2", "--no-progress").returncode == 0
    a, b = load_capture(out), load_capture(single)
    assert torch.equal(a["layers.1"], b["layers.1"]) and torch.equal(a.doc_id, b.doc_id)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, hooklab_capture.plugin, hooklab_capture.config; "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'pyarrow', 'trl', 'peft', 'openai') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_lists_the_verb():
    r = hooklab("capture", "--help")
    assert r.returncode == 0 and "--points" in r.stdout and "--overwrite" in r.stdout
