"""Plugin discovery: hooks, registrars, duplicates, disabling, built-ins through the same hooks."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from one_core.errors import OneError
from one_core.ir import Model
from one_core.plugin import Frontend, Plugins, get_plugins, hookimpl, reset_plugins


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
