"""The plugin's entry point: registrations, CLI verbs, and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import hooklab


def test_importing_the_entry_point_imports_nothing_heavy() -> None:
    code = ("import sys, hooklab_dpo_trl.plugin, hooklab_dpo_trl.config\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'openai') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_trainer_is_registered_with_its_config(hooklab_plugins) -> None:
    comp = hooklab.components("trainer")["dpo-trl"]
    assert comp.distribution == "hooklab-dpo-trl"
    from hooklab_dpo_trl.config import DPOTrainConfig

    assert comp.load_config() is DPOTrainConfig


def test_cli_verbs_are_registered_once() -> None:
    from click.testing import CliRunner

    from hooklab_cli.main import _add_plugin_commands, cli

    _add_plugin_commands()
    assert "dpo" in cli.commands
    assert "reward-accuracy" in cli.commands["eval"].commands
    res = CliRunner().invoke(cli, ["eval", "reward-accuracy", "--help"])
    assert res.exit_code == 0 and "--pairs" in res.output


def test_an_unknown_option_is_a_config_error() -> None:
    import pytest

    with pytest.raises(hooklab.ConfigError, match="betta"):
        hooklab.get("trainer", "dpo-trl", model="m", betta=0.1)
