"""The capture probe against the contract kit (hooklab.testing.contracts)."""

from __future__ import annotations

from hooklab.testing.contracts import ProbeContract


class TestCaptureProbeContract(ProbeContract):
    name = "capture"
    family = "mistral"
    options = {"points": ["layers.*", "layers.0.mlp"]}
    inputs = ["The quick brown fox.", "Jumps over the lazy dog, twice."]
    save_name = "acts.parquet"
