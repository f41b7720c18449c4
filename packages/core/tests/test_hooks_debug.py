"""Debug/profile helpers: shapes, dtypes and norms per module; time per module."""

from __future__ import annotations

import torch

from hooklab.debug import log_activations, time_modules
from hooklab.hooks import capture_activations, list_hooks
from hooklab.testing import tiny_model

IDS = torch.tensor([[5, 6, 7, 8]])


def test_log_activations_records_shape_dtype_and_norm():
    model = tiny_model("llama", num_layers=2)
    lines = []
    with torch.no_grad(), log_activations(model, "layers.*", printer=lines.append) as log:
        model(IDS)
    assert [r.name for r in log.records] == ["layers.0", "layers.1"]
    r = log.records[0]
    assert r.shape == (1, 4, 64) and r.dtype == "float32" and r.nonfinite == 0
    with torch.no_grad(), capture_activations(model, "layers.0") as c:
        model(IDS)
    assert abs(r.norm - float(c["layers.0"].norm())) < 1e-4
    assert len(lines) == 2 and "layers.0 [1, 4, 64] float32" in lines[0]
    assert list(log.to_pandas().columns)[:3] == ["call", "name", "path"]
    assert "layers.1" in str(log)
    assert list_hooks(model) == []


def test_log_activations_flags_non_finite_values():
    model = tiny_model("gpt2")
    with torch.no_grad():
        model.transformer.h[1].mlp.c_proj.bias.fill_(float("inf"))
        with log_activations(model, "layers.1") as log:
            model(IDS)
    assert log.records[0].nonfinite > 0
    assert "non-finite" in str(log)


def test_log_every_module_of_a_plain_module():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    with log_activations(model) as log:
        model(torch.ones(5, 2))
    assert [(r.path, r.shape) for r in log.records] == [("0", (5, 3)), ("1", (5, 3))]


def test_time_modules_counts_calls_and_nests():
    model = tiny_model("qwen2", num_layers=2)
    with torch.no_grad(), time_modules(model, ["layers.*", "layers.0.mlp", "layers.1.input"]) as times:
        model(IDS)
        model(IDS)
    assert {n: t.calls for n, t in times.times.items()} == {
        "layers.0": 2, "layers.1": 2, "layers.0.mlp": 2, "layers.1.input": 2}
    # a block's time includes its MLP's
    assert times.times["layers.0"].total_s >= times.times["layers.0.mlp"].total_s > 0
    assert set(times.to_pandas()["name"]) == set(times.times)
    assert "mean ms" in str(times)
    assert list_hooks(model) == []
