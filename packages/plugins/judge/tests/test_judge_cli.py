"""``hooklab judge pairwise|score|report`` end to end, in process.

The judge is a real backend registered the way a plugin registers one: an in-process backend whose
answers come from the test kit's :class:`BiasedJudge` (prefers position A, prefers the longer
answer), wrapped by core's judge logic (``backend_judge``). The same command against a real HTTP
server through hooklab-openai and ``--base-url`` is tested in the root integration tests.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hooklab
from hooklab.judges import JudgeConfig, backend_judge
from hooklab.testing.judges import BiasedJudge, ResponderBackend, sample_pairs

SENT: list[dict] = []


class ScriptedJudgePlugin:
    """Registers the backend ``biased`` and the judge ``biased`` over it."""

    @hooklab.hookimpl
    def register_backends(self, register):
        def make(model: str = "biased-0.7", garbage: float = 0.0):
            backend = ResponderBackend(BiasedJudge(float(model.rsplit("-", 1)[-1]), garbage_rate=garbage),
                                       name="biased", model=model)
            backend.requests = SENT  # shared so tests can count requests across runs
            return backend

        register("biased", make)

    @hooklab.hookimpl
    def register_judges(self, register):
        register("biased", backend_judge("biased"), config=JudgeConfig)


@pytest.fixture
def cli(hooklab_plugins):
    from hooklab_cli.main import cli as root
    from hooklab_judge.cli import judge

    root.add_command(judge)
    hooklab_plugins.register(ScriptedJudgePlugin(), name="scripted-judge")
    SENT.clear()

    def invoke(*args: str):
        return CliRunner().invoke(root, list(args))

    return invoke


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in sample_pairs(400)))
    return path


def test_pairwise_writes_verdicts_report_and_plot(cli, pairs_file, tmp_path):
    out = tmp_path / "run"
    res = cli("judge", "pairwise", "--pairs", str(pairs_file), "--judge", "biased:biased-0.7",
              "--order", "random", "--concurrency", "16", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "first position win %" in res.output and "agreement with the labels" in res.output
    report = json.loads((out / "report.json").read_text())
    row = report["judges"][0]
    assert row["judge"] == "biased:biased-0.7" and row["items"] == 400
    assert row["first_position_win_rate"] == pytest.approx(0.7, abs=0.05)
    assert row["longer_answer_win_rate"] == pytest.approx(0.8, abs=0.05)
    lines = (out / "verdicts-biased_biased-0.7.jsonl").read_text().splitlines()
    assert len(lines) == 401  # header + one line per pair, raw outputs included
    assert json.loads(lines[1])["calls"][0]["raw"].startswith("Reasoning:")
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.txt").read_text().startswith("judge")
    stats = json.loads((out / "stats-biased_biased-0.7.json").read_text())
    assert stats["total"] == 400 and stats["failed"] == 0


def test_family_bias_from_source_columns(cli, tmp_path):
    rows = [{**r, "m1": "llama-3" if k % 2 else "qwen2", "m2": "qwen2" if k % 2 else "llama-3"}
            for k, r in enumerate(sample_pairs(100))]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli("judge", "pairwise", "--pairs", str(path), "--judge", "biased:biased-0.7", "--sources", "m1,m2",
              "--family", "llama", "--out", str(tmp_path / "run"))
    assert res.exit_code == 0, res.output
    rate = json.loads((tmp_path / "run" / "report.json").read_text())["judges"][0]["own_family_win_rate"]
    assert rate is not None and 0.3 < rate < 0.7  # this judge does not know families
    assert "own family win %" in res.output


def test_rerun_in_the_same_folder_asks_nothing_again(cli, pairs_file, tmp_path):
    args = ["judge", "pairwise", "--pairs", str(pairs_file), "--judge", "biased:biased-0.7", "--order",
            "both", "--out", str(tmp_path / "run")]
    assert cli(*args).exit_code == 0
    assert len(SENT) == 800
    again = cli(*args)
    assert again.exit_code == 0 and len(SENT) == 800
    assert "800 from journal" in again.output


def test_two_judges_report_agreement_and_relabel_by_majority(cli, pairs_file, tmp_path):
    out = tmp_path / "run"
    res = cli("judge", "pairwise", "--pairs", str(pairs_file), "--judge", "biased:biased-0.6",
              "--judge", "biased:biased-0.9", "--action", "relabel", "--out", str(out))
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["agreement"]["method"] == "cohen" and report["agreement"]["kappa"] is not None
    assert report["combined"]["judge"] == "majority(biased:biased-0.6,biased:biased-0.9)"
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["judge_winner"] in ("answer1", "answer2") for p in pairs)
    originals = {r["id"]: r for r in sample_pairs(400)}
    for p in pairs:
        if p.get("relabeled"):
            assert p["chosen"] == originals[p["id"]]["rejected"]
    # and `report` rebuilds the same numbers from the folder
    again = cli("judge", "report", str(out), "--format", "json")
    assert json.loads(again.output)["agreement"] == report["agreement"]


def test_score_with_garbage_and_best_vs_worst_pairs(cli, tmp_path):
    rows = [{"id": f"q{i}", "prompt": f"Explain item {i}.",
             "candidates": ["short.", "a somewhat longer answer " * 2, "the longest answer of all " * 5]}
            for i in range(150)]
    path = tmp_path / "cands.json"
    path.write_text(json.dumps(rows))
    out = tmp_path / "scores"
    res = cli("judge", "score", "--answers", str(path), "--candidates", "candidates", "--judge",
              "biased:biased-0.7", "--set", "backend.garbage=0.2", "--out", str(out))
    assert res.exit_code == 0, res.output
    row = json.loads((out / "report.json").read_text())["judges"][0]
    assert row["items"] == 450 and row["invalid_rate"] == pytest.approx(0.2, abs=0.05)
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen_score"] > p["rejected_score"] for p in pairs)
    assert "best vs worst" in res.output


def test_report_of_an_existing_folder_as_table(cli, pairs_file, tmp_path):
    out = tmp_path / "run"
    cli("judge", "pairwise", "--pairs", str(pairs_file), "--judge", "biased:biased-0.7", "--limit", "50",
        "--out", str(out))
    res = cli("judge", "report", str(out), "--plot", str(tmp_path / "again.png"))
    assert res.exit_code == 0 and "biased:biased-0.7" in res.output
    assert (tmp_path / "again.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["pairwise", "--pairs", "missing.jsonl", "--judge", "biased:x-0.7"], "input file not found"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "nosuch:model"], "unknown judge 'nosuch'"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "biased"], "expected NAME:MODEL"),
    (["pairwise", "--pairs", "{pairs}"], "at least one --judge"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "biased:biased-0.7", "--a-col", "answer"],
     "missing column 'answer'"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "biased:biased-0.7", "--set", "pairwise.template=x"],
     "pairwise template must contain"),
    (["score", "--answers", "{pairs}", "--judge", "biased:biased-0.7", "--scale", "5"], "--scale"),
    (["report", "{empty}"], "holds no verdicts"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "biased:biased-0.7", "--sources", "m1"], "two column names"),
    (["pairwise", "--pairs", "{pairs}", "--judge", "biased:biased-0.7", "--base-url", "http://127.0.0.1:1/v1"],
     "none of the judges talks to a server"),
])
def test_bad_input_is_one_line_and_exit_code_2(cli, pairs_file, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(pairs=pairs_file, empty=empty) for a in args]
    if args[0] != "report":
        args += ["--out", str(tmp_path / "out")]
    res = cli("judge", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_importing_the_plugin_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, hooklab_judge.plugin, hooklab_judge.cli; "
            "print([m for m in ('torch', 'transformers', 'openai', 'datasets', 'pandas', 'matplotlib') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
