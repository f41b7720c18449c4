"""Contract tests: one reusable test class per component interface.

Subclass the contract in your plugin's tests, name the component, and pytest runs every check the
interface promises against your real component::

    from hooklab.testing.contracts import ScheduleContract

    class TestMySchedule(ScheduleContract):
        name = "step"                      # the registered name
        options = {"every": 5}             # what hooklab.get("schedule", name, **options) gets

First-party plugins subclass these too, so the contracts are proven on real plugins. Base classes
are not named ``Test*``: pytest collects only your subclasses.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest

import hooklab
from hooklab.errors import ConfigError


class ComponentContract:
    """Checks every registered component meets: it is registered, it builds, bad options fail cleanly."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}

    def make(self, **overrides: Any) -> Any:
        """Build the component under test (override for components that need more setup).

        The options used are kept in ``self.last_options``."""
        self.last_options = {**self.options, **overrides}
        return hooklab.get(self.kind, self.name, **self.last_options)

    def test_is_registered_with_a_description(self) -> None:
        comp = hooklab.components(self.kind)[self.name]
        assert comp.description, f"{self.kind} {self.name!r} has no description"

    def test_unknown_option_is_a_config_error(self) -> None:
        comp = hooklab.components(self.kind)[self.name]
        if comp.config is None:
            pytest.skip("component has no config model")
        with pytest.raises(ConfigError, match="hooklab_contract_bogus"):
            self.make(hooklab_contract_bogus=1)


class ScheduleContract(ComponentContract):
    """A schedule: ``lr(step) -> float`` finite and >= 0 over the run, deterministic, and it drives a
    real torch optimizer through ``LambdaLR``."""

    kind = "schedule"
    steps: ClassVar[int] = 200

    def _steps(self, sched: Any) -> range:
        total = getattr(sched, "total_steps", None)
        return range(int(total) if isinstance(total, int) and total > 0 else self.steps)

    def test_lr_is_finite_and_non_negative(self) -> None:
        sched = self.make()
        for step in self._steps(sched):
            lr = sched.lr(step)
            assert isinstance(lr, float) and math.isfinite(lr) and lr >= 0, (step, lr)

    def test_is_deterministic(self) -> None:
        a, b = self.make(), self.make()
        assert [a.lr(s) for s in self._steps(a)] == [b.lr(s) for s in self._steps(b)]

    def test_drives_a_torch_optimizer(self) -> None:
        torch = pytest.importorskip("torch")
        sched = self.make()
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([param], lr=1.0)
        lam = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: sched.lr(s))
        for step in list(self._steps(sched))[:20]:
            assert opt.param_groups[0]["lr"] == pytest.approx(sched.lr(step))
            opt.step()
            lam.step()


class SourceContract(ComponentContract):
    """A dataset source: returns a non-empty ``datasets.Dataset`` / ``IterableDataset`` with the
    promised columns. Set ``columns`` to the columns every row must have."""

    kind = "source"
    columns: ClassVar[tuple[str, ...]] = ()

    def test_returns_rows_with_the_promised_columns(self) -> None:
        datasets = pytest.importorskip("datasets")
        ds = self.make()
        assert isinstance(ds, datasets.Dataset | datasets.IterableDataset)
        first = next(iter(ds))
        assert set(self.columns) <= set(first), f"missing columns: {set(self.columns) - set(first)}"


class AdapterContract(ComponentContract):
    """An architecture adapter: matches its model, and every path it gives exists in the model.
    Implement ``build_model()``."""

    kind = "adapter"

    def build_model(self) -> Any:  # pragma: no cover - subclasses provide it
        raise NotImplementedError

    def test_matches_and_paths_exist(self) -> None:
        model = self.build_model()
        adapter = self.make()
        assert adapter.matches(model)
        modules = dict(model.named_modules())
        paths = adapter.paths(model)
        layers = paths.get("layers")
        for key, path in paths.items():
            if key in {"attn", "mlp"}:
                base = layers or _layers_path(model)
                assert f"{base}.0.{path}" in modules, (key, path)
            else:
                assert path in modules, (key, path)


def _layers_path(model: Any) -> str:
    from hooklab.models import hook_points

    return hook_points(model).layers_path


def no_hooks_left(model: Any) -> bool:
    """True when no forward, forward-pre, backward or state-dict hook is attached anywhere."""
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_state_dict_hooks", "_load_state_dict_post_hooks"):
            if getattr(m, attr, None):
                return False
    return True


class ProbeContract(ComponentContract):
    """A probe: ``run(model, inputs, **run_kwargs)`` returns a result with a non-empty
    ``to_pandas()`` and a working ``save(path)``, and leaves no hook behind (also when it fails).

    Set ``family`` (a test-kit family), ``inputs`` and ``run_kwargs``; ``save_name`` is the file
    name given to ``save``.
    """

    kind = "probe"
    family: ClassVar[str] = "gpt2"
    inputs: ClassVar[Any] = "The quick brown fox jumps over the lazy dog."
    run_kwargs: ClassVar[dict[str, Any]] = {}
    save_name: ClassVar[str] = "result.parquet"

    def build(self) -> tuple[Any, Any]:
        from hooklab.testing import tiny_model, tiny_tokenizer

        return tiny_model(self.family, num_layers=2), tiny_tokenizer()

    def test_run_returns_a_table_and_saves(self, tmp_path: Any) -> None:
        model, tok = self.build()
        result = self.make().run(model, self.inputs, tokenizer=tok, **self.run_kwargs)
        df = result.to_pandas()
        assert len(df) > 0
        out = tmp_path / self.save_name
        result.save(out)
        assert out.exists() and (out.is_dir() or out.stat().st_size > 0)
        assert no_hooks_left(model)

    def test_leaves_no_hooks_when_the_forward_fails(self) -> None:
        model, tok = self.build()
        boom = RuntimeError("contract: forward failed")

        def fail(*_: Any) -> None:
            raise boom

        from hooklab.models import hook_points

        handle = hook_points(model).layers[0].register_forward_hook(fail)
        try:
            with pytest.raises(RuntimeError, match="contract: forward failed"):
                self.make().run(model, self.inputs, tokenizer=tok, **self.run_kwargs)
        finally:
            handle.remove()
        assert no_hooks_left(model)


class BackendContract(ComponentContract):
    """An LLM backend: answers a chat request with text and usage, fills ``parsed`` for JSON
    requests, and works under the batch runner with a journal (a rerun makes no new request)."""

    kind = "backend"

    def test_answers_a_chat_request(self) -> None:
        from hooklab.llm import LLMRequest, LLMResponse

        resp = self.make().complete_sync(LLMRequest.chat("Say hello."))
        assert isinstance(resp, LLMResponse) and isinstance(resp.text, str)
        assert resp.usage.prompt_tokens >= 0 and resp.usage.completion_tokens >= 0

    def test_json_request_is_parsed_or_explained(self) -> None:
        from hooklab.llm import LLMRequest

        resp = self.make().complete_sync(LLMRequest.chat('Answer {"ok": true} in JSON.', json_mode=True))
        assert resp.parsed is not None or resp.parse_error

    def test_runner_with_journal_resumes_without_new_requests(self, tmp_path: Any) -> None:
        from hooklab.llm import BatchRunner, Journal, LLMRequest

        reqs = [LLMRequest.chat(f"item {i}") for i in range(4)]
        with Journal(tmp_path / "j.db") as journal:
            first = BatchRunner(self.make(), {"concurrency": 2}, journal=journal).run(reqs)
            assert all(r.ok for r in first)
            again = BatchRunner(self.make(), {"concurrency": 2}, journal=journal)
            second = again.run(reqs)
        assert [r.response.text for r in second] == [r.response.text for r in first]
        assert again.stats.sent == 0 and again.stats.skipped == len(reqs)


class JudgeContract(ComponentContract):
    """A judge: pairwise verdicts map back to the original answers, both-order mode makes two calls
    per item, scores stay in the scale or are ``None`` (never made up), and a report is produced."""

    kind = "judge"
    n_items: ClassVar[int] = 8

    def items(self) -> list[Any]:
        from hooklab.judges import PairItem

        return [PairItem(str(i), f"Question {i}?", f"Answer one to {i}.", f"Answer two to {i}, longer.")
                for i in range(self.n_items)]

    def test_pairwise_verdicts_cover_every_item(self) -> None:
        result = self.make(order="random").pairwise(self.items())
        assert [v.id for v in result.verdicts] == [it.id for it in self.items()]
        assert {v.winner for v in result.verdicts} <= {"answer1", "answer2", "tie", None}

    def test_both_orders_asks_twice_per_item(self) -> None:
        result = self.make(order="both").pairwise(self.items())
        assert all(len(v.calls) == 2 for v in result.verdicts)
        assert {c.order for c in result.verdicts[0].calls} == {"12", "21"}

    def test_scores_are_in_scale_or_none(self) -> None:
        from hooklab.judges import ScoreItem

        judge = self.make()
        result = judge.score([ScoreItem(str(i), "Question?", "An answer. " * (i + 1)) for i in range(4)])
        low, high = judge.config.score.low, judge.config.score.high
        assert all(v.score is None or low <= v.score <= high for v in result.verdicts)

    def test_report_has_a_table(self) -> None:
        report = self.make(order="both").pairwise(self.items()).report()
        assert report.table()


class TrainerContract(ComponentContract):
    """A trainer: ``make().train()`` runs and returns a result; when the options name an
    ``output_dir`` the run leaves files there."""

    kind = "trainer"

    def test_trains_and_writes_its_output(self) -> None:
        from pathlib import Path

        trainer = self.make()
        result = trainer.train()
        assert result is not None
        out = self.last_options.get("output_dir")
        if out:
            assert any(Path(out).iterdir()), f"nothing written to {out}"
