"""Hook implementations: the `c` backend and the `one codegen` command."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .backend import CBackend
from .cli import codegen_command


@hookimpl
def one_register_backends(registry: Any) -> None:
    registry.add(CBackend())


@hookimpl
def one_add_commands(cli: Any) -> None:
    cli.add_command(codegen_command)
