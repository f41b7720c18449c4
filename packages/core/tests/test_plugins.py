"""The plugin system: loading, isolation of broken plugins, strict mode, duplicates, registries."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import hooklab
from hooklab.errors import ConfigError, PluginError, UnknownComponentError
from hooklab.plugins import new_manager


class Flat(BaseModel):
    lr: float = 1.0


class SchedulePlugin:
    @hooklab.hookimpl
    def register_schedules(self, register):
        register("flat", lambda cfg: ("flat", cfg.lr), config=Flat, description="constant")
        register("lazy", "json:dumps")


def test_core_builtin_sources_are_registered(hooklab_plugins):
    assert {"jsonl", "json", "parquet", "csv", "text-folder", "hf"} <= set(hooklab.components("source"))
    assert hooklab.components("source")["jsonl"].distribution == "hooklab-core"


def test_registered_component_is_built_with_validated_config(hooklab_plugins):
    hooklab_plugins.register(SchedulePlugin())
    assert hooklab.get("schedule", "flat", lr=0.5) == ("flat", 0.5)
    assert hooklab.get("schedule", "lazy", obj=[1]) == "[1]"  # "module:attr" imported on use


def test_invalid_options_raise_one_readable_config_error(hooklab_plugins):
    hooklab_plugins.register(SchedulePlugin())
    with pytest.raises(ConfigError) as err:
        hooklab.get("schedule", "flat", lr="fast")
    assert "lr" in str(err.value) and "\n" not in str(err.value)


def test_unknown_name_lists_available_and_suggests(hooklab_plugins):
    hooklab_plugins.register(SchedulePlugin())
    with pytest.raises(UnknownComponentError) as err:
        hooklab.get("schedule", "flta")
    assert "Did you mean: flat" in str(err.value)
    assert "Available: flat, lazy" in str(err.value)


def test_unknown_kind_is_an_error(hooklab_plugins):
    with pytest.raises(UnknownComponentError, match="component kind"):
        hooklab.components("schedules")


class Dup:
    @hooklab.hookimpl
    def register_schedules(self, register):
        register("flat", lambda cfg: None, config=Flat)
        register("other", lambda: "other")


def test_duplicate_name_names_both_distributions(hooklab_plugins, monkeypatch):
    monkeypatch.delenv("HOOKLAB_STRICT_PLUGINS", raising=False)
    hooklab_plugins.register(SchedulePlugin(), distribution="dist-a")
    hooklab_plugins.register(Dup(), distribution="dist-b")
    with pytest.raises(PluginError) as err:
        hooklab.get("schedule", "flat")
    assert "dist-a" in str(err.value) and "dist-b" in str(err.value)
    # the rest of the second plugin still registered; the error is recorded
    assert hooklab.get("schedule", "other") == "other"
    assert any("duplicate schedule name 'flat'" in e.error for e in hooklab_plugins.pm.errors)


def test_duplicate_is_fatal_in_strict_mode(hooklab_plugins, monkeypatch):
    monkeypatch.setenv("HOOKLAB_STRICT_PLUGINS", "1")
    hooklab_plugins.register(SchedulePlugin(), distribution="dist-a")
    hooklab_plugins.register(Dup(), distribution="dist-b")
    with pytest.raises(PluginError, match="dist-a and by dist-b"):
        hooklab.components("schedule")


class Misspelled:
    @hooklab.hookimpl
    def register_schedule(self, register):  # missing "s"
        register("x", lambda: None)


def test_misspelled_hook_is_caught_with_a_suggestion(monkeypatch):
    monkeypatch.delenv("HOOKLAB_STRICT_PLUGINS", raising=False)
    pm = new_manager(entrypoints=False)
    assert pm.add_plugin(Misspelled(), "typo") is False
    assert "did you mean 'register_schedules'" in pm.errors[0].error
    monkeypatch.setenv("HOOKLAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="unknown hook"):
        new_manager(entrypoints=False).add_plugin(Misspelled(), "typo")


class Raises:
    @hooklab.hookimpl
    def register_sources(self, register):
        raise RuntimeError("boom inside the hook")


def test_exception_inside_a_hook_is_recorded_not_fatal(monkeypatch):
    monkeypatch.delenv("HOOKLAB_STRICT_PLUGINS", raising=False)
    pm = new_manager(entrypoints=False)
    pm.add_plugin(Raises(), "raiser")
    assert "jsonl" in pm.registry.names("source")  # the others still work
    assert any("boom inside the hook" in e.error and e.plugin == "raiser" for e in pm.errors)


def test_exception_inside_a_hook_fails_in_strict_mode(monkeypatch):
    monkeypatch.setenv("HOOKLAB_STRICT_PLUGINS", "1")
    pm = new_manager(entrypoints=False)
    pm.add_plugin(Raises(), "raiser")
    with pytest.raises(PluginError, match="boom inside the hook"):
        pm.registry  # noqa: B018


def test_allow_list_empty_loads_no_entry_points(monkeypatch):
    monkeypatch.setenv("HOOKLAB_LOAD_PLUGINS", "")
    pm = new_manager()
    assert list(pm.infos) == ["core"]


def test_temporary_plugin_is_removed_afterwards(hooklab_plugins):
    from hooklab.plugins import temporary_plugins

    with temporary_plugins(SchedulePlugin()):
        assert "flat" in hooklab.components("schedule")
    assert "flat" not in hooklab.components("schedule")
