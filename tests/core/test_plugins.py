"""Plugin discovery: hooks, registrars, duplicates, disabling, built-ins through the same hooks."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from one_core.errors import OneError
from one_core.ir import Model
from one_core.plugin import Frontend, Plugins, get_plugins, hookimpl, hookspec, reset_plugins



class _Dummy(Frontend):
    name = "circle"  # clashes with the core's own frontend
    extensions = (".dummy",)

    def load(self, source: Any, **options: Any) -> Model:
        raise NotImplementedError


class _ClashingPlugin:
    @hookimpl
    def one_register_frontends(self, registry: Any) -> None:
        registry.add(_Dummy())


def test_builtin_items_come_through_the_hooks() -> None:
    plugins = Plugins(disabled=set())
    assert plugins.frontends.owner("circle") == "one-core"
    assert plugins.info["one-core"].provides["frontend"] == ["circle"]
    assert "tflite" in plugins.frontends and plugins.frontends.owner("tflite") == "tflite"


def test_duplicate_names_are_refused_naming_both_plugins() -> None:
    plugins = Plugins(disabled=set())
    plugins.register(_ClashingPlugin(), "clasher", "clasher-dist", "1.0")
    with pytest.raises(OneError, match="frontend 'circle' is registered twice: by plugin 'one-core' and by plugin 'clasher'"):
        plugins._collect("frontend", "one_register_frontends")


def test_disabled_plugins_are_not_loaded() -> None:
    plugins = Plugins(disabled={"tflite"})
    assert "tflite" not in plugins.frontends and "tflite" not in plugins.info


def test_plugins_load_once_and_lazily(monkeypatch) -> None:
    reset_plugins()
    first = get_plugins()
    assert get_plugins() is first
    reset_plugins()
    assert get_plugins() is not first


def _one(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", "from one_core.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_plugins_command_lists_what_each_plugin_registers() -> None:
    result = _one("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["plugin"]: r for r in json.loads(result.stdout)}
    assert rows["one-core"]["provides"]["frontend"] == ["circle"]
    assert set(rows["one-core"]["provides"]["command"]) >= {"import", "inspect", "plugins"}
    assert rows["tflite"]["distribution"] == "one-frontend-tflite"
    assert rows["tflite"]["provides"] == {"frontend": ["tflite"]}


def test_one_disable_plugins_environment_variable() -> None:
    result = _one("plugins", "--json", env={"ONE_DISABLE_PLUGINS": "tflite"})
    assert "tflite" not in {r["plugin"] for r in json.loads(result.stdout)}


class _CommandClash:
    @hookimpl
    def one_add_commands(self, cli: Any) -> None:
        import click

        cli.add_command(click.Command("inspect", callback=lambda: None))


class _BrokenHook:
    @hookimpl
    def one_register_frontends(self, registry: Any) -> None:
        raise RuntimeError("boom")


class _Reentrant:
    @hookimpl
    def one_register_frontends(self, registry: Any) -> None:
        get_plugins()


def test_a_command_name_is_taken_once() -> None:
    import click

    plugins = Plugins(disabled=set())
    plugins.register(_CommandClash(), "clasher", "clasher-dist", "1.0")
    with pytest.raises(OneError, match="command 'inspect' is registered twice: by plugin 'one-core' and by plugin 'clasher'"):
        plugins.add_commands(click.Group())


def test_a_failing_third_party_hook_is_reported_and_skipped(capsys) -> None:
    plugins = Plugins(disabled=set())
    plugins.register(_BrokenHook(), "broken", "broken-dist", "1.0")
    registry = plugins._collect("frontend", "one_register_frontends")
    assert "circle" in registry and "tflite" in registry
    assert plugins.info["broken"].error == "RuntimeError: boom"
    assert "warning: plugin 'broken' failed in one_register_frontends: boom" in capsys.readouterr().err


def test_using_the_registry_while_it_loads_is_an_error(monkeypatch) -> None:
    from one_core.plugin import manager

    original = manager.Plugins.__init__

    def init(self, disabled=None, builtin=True):
        original(self, disabled, builtin)
        self.register(_Reentrant(), "reentrant", "reentrant-dist", "1.0")
        self._collect("frontend", "one_register_frontends")

    monkeypatch.setattr(manager.Plugins, "__init__", init)
    reset_plugins()
    try:
        with pytest.raises(OneError, match="plugins are still loading"):
            get_plugins()
    finally:
        reset_plugins()


def test_the_core_cannot_be_disabled() -> None:
    plugins = Plugins(disabled={"one-core"})
    assert "circle" in plugins.frontends


def test_frontend_ties_go_to_the_first_registered(tmp_path, monkeypatch) -> None:
    from one_core.plugin import manager

    class Second(Frontend):
        name = "second"
        extensions = (".circle",)

        def load(self, source: Any, **options: Any) -> Model:
            raise AssertionError("the first registered frontend should win")

    class Plugin:
        @hookimpl
        def one_register_frontends(self, registry: Any) -> None:
            registry.add(Second())

    import one_core
    from irbuild import tiny_mlp

    path = tmp_path / "m.circle"
    one_core.save(tiny_mlp(), path)
    path.write_bytes(path.read_bytes()[:4] + b"XXXX" + path.read_bytes()[8:])  # extension only
    plugins = Plugins(disabled=set())
    plugins.register(Plugin(), "second", "second-dist", "1.0")
    plugins.frontends = plugins._collect("frontend", "one_register_frontends")
    monkeypatch.setattr(manager, "_plugins", plugins)
    with pytest.raises(one_core.InvalidModelError, match="file identifier b'XXXX'"):
        one_core.load(path)  # reached the circle frontend, which checks the identifier


def test_plugin_errors_while_listing_commands_are_one_line(monkeypatch, capsys) -> None:
    from one_core.cli import main as cli_main
    from one_core.cli.main import cli
    from one_core.plugin import manager

    plugins = Plugins(disabled=set())
    plugins.register(_CommandClash(), "clasher", "clasher-dist", "1.0")
    monkeypatch.setattr(manager, "_plugins", plugins)
    monkeypatch.setattr(cli, "_loaded", False, raising=False)
    monkeypatch.setattr(cli, "commands", {})
    monkeypatch.setattr(sys, "argv", ["one", "--help"])
    with pytest.raises(SystemExit) as info:
        cli_main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: command 'inspect' is registered twice: by plugin 'one-core' and by plugin 'clasher'\n"


class _WidgetSpecs:
    """A hookspec a plugin declares for its own extension point."""

    @staticmethod
    @hookspec
    def one_register_widgets(registry: Any) -> None:
        """Add widgets."""


class _WidgetPlugin:
    @hookimpl
    def one_register_widgets(self, registry: Any) -> None:
        registry.add("gear", name="gear")


def test_plugins_can_declare_their_own_registries() -> None:
    plugins = Plugins(disabled=set())
    plugins.register(_WidgetPlugin(), "widgets", "widgets-dist", "1.0")
    widgets = plugins.registry("widget", "one_register_widgets", _WidgetSpecs)
    assert widgets.get("gear") == "gear" and widgets.owner("gear") == "widgets"
    assert plugins.registry("widget", "one_register_widgets", _WidgetSpecs) is widgets
    assert plugins.info["widgets"].provides == {"widget": ["gear"]}
