"""LensResult (pandas, Parquet, JSON, PNG, HTML, terminal table), the ``lens`` probe, ``hooklab lens``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hooklab
from hooklab.errors import DataError
from hooklab.testing import tiny_model
from hooklab.testing.contracts import ProbeContract
from hooklab_lens import logit_lens

TEXT = "The logit lens decodes every layer of the model."


@pytest.fixture(scope="module")
def result(tiny_tokenizer):
    return logit_lens(tiny_model("llama", num_layers=3), tiny_tokenizer, [TEXT, "short text"],
                      points="resid,attn", topk=3)


def test_to_pandas_has_one_row_per_prompt_point_position(result, tiny_tokenizer):
    df = result.to_pandas()
    n_tokens = len(tiny_tokenizer(TEXT).input_ids) + len(tiny_tokenizer("short text").input_ids)
    assert len(df) == len(result.points) * n_tokens
    assert {"prompt", "point", "layer", "position", "token", "target", "target_rank", "target_prob",
            "target_logprob", "entropy", "kl", "top1", "top1_prob", "topk_tokens", "topk_probs"} <= set(df.columns)
    first = df[(df.prompt == 0) & (df.point == "layers.2")].sort_values("position")
    ids = tiny_tokenizer(TEXT).input_ids
    assert first.token_id.tolist() == ids
    assert first.target_id.tolist() == [*ids[1:], -1]  # the next token; none after the last
    assert (df.layer[df.point == "layers.0.input"] == -1).all() and (df.layer[df.point == "layers.1.attn"] == 1).all()
    assert np.allclose(df.target_prob.dropna(), np.exp(df.target_logprob.dropna()))


def test_save_parquet_and_json_round_trip(result, tmp_path):
    pq = result.save(tmp_path / "lens.parquet")
    back = pd.read_parquet(pq)
    df = result.to_pandas()
    assert len(back) == len(df)
    assert back.top1.tolist() == df.top1.tolist()
    assert np.allclose(back.kl, df.kl)
    data = json.loads(result.save(tmp_path / "lens.json").read_text())
    assert data["points"] == result.points and len(data["rows"]) == len(df)
    assert data["prompts"][1]["ids"] == result.prompts[1]


def test_save_rejects_unknown_extension(result, tmp_path):
    with pytest.raises(DataError, match=r"use \.parquet, \.json, \.png or \.html"):
        result.save(tmp_path / "lens.xlsx")


@pytest.mark.parametrize("kind", ["top1", "rank", "prob"])
def test_png_heatmap(result, tmp_path, kind):
    path = result.plot(kind=kind, path=tmp_path / f"{kind}.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_html_heatmap_is_self_contained_with_hover_details(result, tmp_path):
    path = result.plot(kind="rank", path=tmp_path / "lens.html", prompt=0)
    text = path.read_text()
    assert "<script src" not in text and "http" not in text
    g = result.grid("rank", prompt=0)
    assert text.count("<td ") == len(result.points) * len(g["cols"])
    assert "entropy" in text and "KL" in text and "rank" in text
    # output at the top, input at the bottom, like the original post
    assert text.index(">layers.2<") < text.index(">layers.0.input<")


def test_plot_rejects_unknown_kind(result):
    with pytest.raises(DataError, match="unknown plot kind"):
        result.plot(kind="heat", path="x.png")


def test_terminal_table_lists_every_point_for_one_position(result):
    text = result.table(prompt=0, position=-2)
    lines = text.splitlines()
    assert len(lines) == 2 + len(result.points)
    assert "target" in lines[0] and "rank" in lines[1]
    row = result._row(0, -2)
    top = result.token_str(result.topk_ids[-1, row, 0])
    assert lines[-1].startswith("layers.2") and repr(top) in lines[-1]


def test_table_for_a_position_not_decoded(tiny_tokenizer):
    r = logit_lens(tiny_model("gpt2"), tiny_tokenizer, TEXT, positions=[0])
    with pytest.raises(DataError, match="was not decoded"):
        r.table(position=-1)


# -- the probe -------------------------------------------------------------------------------------
class TestLensProbe(ProbeContract):
    name = "lens"
    options = {"topk": 2, "points": "resid,attn"}


def test_probe_options_reach_the_lens(tiny_tokenizer):
    probe = hooklab.get("probe", "lens", topk=2, positions=[-1])
    r = probe.run(tiny_model("qwen2"), TEXT, tokenizer=tiny_tokenizer)
    assert r.topk_ids.shape[1:] == (1, 2)


# -- the CLI ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from hooklab.testing import save_tiny

    return str(save_tiny("gpt2", tmp_path_factory.mktemp("m") / "gpt2", num_layers=2))


def _cli(args):
    from hooklab_cli import main as cli_main

    cli_main._add_plugin_commands()
    return CliRunner().invoke(cli_main.cli, args)


def test_cli_prints_table_and_writes_png_html_parquet(model_dir, tmp_path):
    outs = [tmp_path / "l.png", tmp_path / "l.html", tmp_path / "l.parquet", tmp_path / "l.json"]
    res = _cli(["lens", model_dir, TEXT, "--topk", "3", "--points", "resid,attn", "--kind", "rank",
                *[a for o in outs for a in ("--out", str(o))]])
    assert res.exit_code == 0, res.output
    assert all(o.is_file() and o.stat().st_size > 0 for o in outs)
    assert "layers.1.attn" in res.output and "layers.0.input" in res.output
    assert len(pd.read_parquet(outs[2])) > 0


def test_cli_json_format_and_target(model_dir):
    res = _cli(["lens", model_dir, TEXT, "--target", " the", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[res.output.index("{"):])
    assert {r["target"] for r in data["rows"]} == {" the"}


@pytest.mark.parametrize(("args", "message"), [
    (["   "], "TEXT is empty"),
    ([TEXT, "--target", " extraordinarily"], "not a single token"),
    ([TEXT, "--out", "x.xlsx"], "unknown extension"),
    ([TEXT, "--points", "layers.99"], "unknown hook point"),
])
def test_cli_bad_input_is_one_line_exit_2(model_dir, args, message):
    res = _cli(["lens", model_dir, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_cli_missing_model_exit_2(tmp_path):
    res = _cli(["lens", str(tmp_path / "nope"), TEXT])
    assert res.exit_code == 2 and "cannot load model" in res.output


def test_console_script_end_to_end(model_dir, tmp_path):
    """The real `hooklab` entry point in a fresh process (plugins loaded from entry points)."""
    env = {**os.environ, "HOOKLAB_STRICT_PLUGINS": "1", "MPLBACKEND": "Agg"}
    ok = subprocess.run([sys.executable, "-m", "hooklab_cli", "lens", model_dir, TEXT],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "layers.1" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "hooklab_cli", "lens", model_dir, ""],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, hooklab_lens.plugin, hooklab_lens.config; "
            "heavy = [m for m in ('torch', 'transformers', 'pandas', 'pyarrow', 'matplotlib', 'numpy') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_docs_offline_example_runs(capsys):
    """The runnable example of docs/lens.md (the block after 'Offline with the test kit')."""
    from pathlib import Path

    doc = Path(__file__).resolve().parents[4] / "docs" / "lens.md"
    if not doc.is_file():
        pytest.skip("docs/ not beside the package (installed elsewhere)")
    text = doc.read_text()
    block = text.split("Offline with the test kit", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    exec(compile(block, str(doc), "exec"), {})
    out = capsys.readouterr().out
    assert "layers.3" in out and "top1_prob" in out
