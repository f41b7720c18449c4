import pytest
import torch

import hooklab
from hooklab.errors import ConfigError
from hooklab.testing.contracts import ScheduleContract


class TestOneCycle(ScheduleContract):
    name = "one-cycle"
    options = {"total_steps": 120, "max_lr": 0.01}


@pytest.mark.parametrize("total,pct", [(120, 0.3), (1000, 0.25), (37, 0.5)])
def test_equals_torch_one_cycle_lr_at_every_step(total, pct):
    ours = hooklab.get("schedule", "one-cycle", total_steps=total, max_lr=0.02, pct_start=pct)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=total, pct_start=pct,
                                              anneal_strategy="cos", cycle_momentum=False)
    for step in range(total):
        assert ours.lr(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15), step
        opt.step()
        ref.step()


def test_empty_warmup_is_a_config_error():
    with pytest.raises(ConfigError, match="pct_start"):
        hooklab.get("schedule", "one-cycle", total_steps=3, max_lr=0.1, pct_start=0.1)
