"""The hook specifications: every way a plugin can extend hooklab.

A plugin is one module of ``@hooklab.hookimpl`` functions named after these specs, listed under the
``hooklab.plugins`` entry-point group. Component hooks use the register-callback pattern::

    @hookimpl
    def register_schedules(register):
        register("one-cycle", "my_plugin.schedules:OneCycle", config="my_plugin.schedules:OneCycleConfig",
                 description="one-cycle LR policy")

``register(name, factory, *, config=None, description="")``: ``factory`` is a callable or a
``"module:attr"`` string, imported only when the component is first used, so that importing a
plugin never imports torch. ``config`` is an optional pydantic model (or ``"module:attr"``): when
given, ``hooklab.get(kind, name, **options)`` validates ``options`` into it and calls
``factory(config_instance)``; without it, ``factory(**options)``.

Every spec below is documented in ``docs/writing-plugins.md`` (a test checks that).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("hooklab")

#: Spec name -> component kind it registers (``hooklab.components(kind)``).
COMPONENT_HOOKS: dict[str, str] = {
    "register_adapters": "adapter",
    "register_probes": "probe",
    "register_schedules": "schedule",
    "register_sources": "source",
    "register_backends": "backend",
    "register_judges": "judge",
    "register_trainers": "trainer",
}


@hookspec
def register_adapters(register: Any) -> None:
    """Register architecture adapters (the hook-points interface).

    An adapter maps canonical hook-point names (``embed``, ``layers.{i}``, ``layers.{i}.attn``,
    ``layers.{i}.mlp``, ``final_norm``, ``unembed``) onto the modules of a model family where
    hooklab's probing of the module tree cannot find them. The factory is called with no arguments
    and returns an object with ``matches(model) -> bool`` and ``paths(model) -> dict[str, str]``
    (canonical name -> dotted module path; ``layers`` -> path of the block list).
    """


@hookspec
def register_probes(register: Any) -> None:
    """Register probes: objects that attach hooks at hook points and return a result object.

    The factory returns an object with ``run(model, inputs, **kwargs)`` returning a result with
    ``to_pandas()`` and ``save(path)``.
    """


@hookspec
def register_schedules(register: Any) -> None:
    """Register learning-rate schedules.

    The factory returns an object with ``lr(step: int) -> float`` and ``total_steps``; it can be
    turned into a ``torch.optim.lr_scheduler.LambdaLR``.
    """


@hookspec
def register_sources(register: Any) -> None:
    """Register dataset sources.

    The factory (usually with a pydantic ``config``) returns a ``datasets.Dataset`` or
    ``datasets.IterableDataset``.
    """


@hookspec
def register_backends(register: Any) -> None:
    """Register LLM backends (chat completion with JSON output, async, bounded concurrency)."""


@hookspec
def register_judges(register: Any) -> None:
    """Register LLM judges (absolute 1-5 scores and pairwise A/B verdicts) over an LLM backend."""


@hookspec
def register_trainers(register: Any) -> None:
    """Register trainers: ``train(config) -> result`` on a model and a dataset, with checkpoints."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``hooklab`` command line.

    ``cli`` is the root ``click.Group``; add commands with ``cli.add_command(...)`` or the
    ``@cli.command()`` decorator. Import heavy libraries inside the command function, never at
    module level: ``hooklab --help`` must stay fast.
    """
