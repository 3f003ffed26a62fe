"""The hook implementations the `one` entry point points at."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .frontend import NpzMlpFrontend


@hookimpl
def one_register_frontends(registry: Any) -> None:
    registry.add(NpzMlpFrontend())
