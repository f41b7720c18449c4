from __future__ import annotations

from typing import Any

import hooklab


@hooklab.hookimpl
def register_schedules(register: Any) -> None:
    register("one-cycle", "hooklab_onecycle.schedule:OneCycle", config="hooklab_onecycle.schedule:OneCycleConfig",
             description="one-cycle policy (Smith): cosine up to max_lr, cosine down far below; = torch OneCycleLR")
