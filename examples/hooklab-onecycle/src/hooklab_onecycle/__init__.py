"""Example third-party hooklab plugin: the one-cycle LR schedule."""

from hooklab_onecycle.schedule import OneCycle, OneCycleConfig

__all__ = ["OneCycle", "OneCycleConfig"]
