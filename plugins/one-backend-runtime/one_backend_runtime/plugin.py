"""Hook implementation: the runtime backend."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .backend import RuntimeBackend


@hookimpl
def one_register_backends(registry: Any) -> None:
    registry.add(RuntimeBackend())

