"""hooklab-schedules' schedules against the contract kit (hooklab.testing.contracts)."""

from __future__ import annotations

from hooklab.testing.contracts import ScheduleContract


class TestCosineContract(ScheduleContract):
    name = "cosine"
    options = {"total_steps": 120, "peak_lr": 3e-4, "warmup_fraction": 0.1, "initial_lr": 3e-5}


class TestLinearContract(ScheduleContract):
    name = "linear"
    options = {"total_steps": 80, "peak_lr": 1e-3, "warmup_steps": 8}


class TestConstantContract(ScheduleContract):
    name = "constant"
    options = {"total_steps": 50, "lr": 1e-3}


class TestInverseSqrtContract(ScheduleContract):
    name = "inverse-sqrt"
    options = {"total_steps": 100, "peak_lr": 1e-3, "warmup_steps": 10}


class TestWSDContract(ScheduleContract):
    name = "wsd"
    options = {"total_steps": 100, "peak_lr": 1e-3, "warmup_steps": 10, "decay_steps": 20}


class TestMultiPhaseContract(ScheduleContract):
    name = "multi-phase"
    options = {"phases": [{"steps": 60, "peak_lr": 1e-3, "warmup_steps": 6},
                          {"steps": 40, "peak_lr": 5e-4, "warmup_steps": 4}]}
