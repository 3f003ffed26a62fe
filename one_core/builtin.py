"""The core's own plugin: the circle frontend, the built-in commands and the dead-code pass.

Registered through the same hooks as third-party plugins."""

from __future__ import annotations

from typing import Any

from .circle.reader import CIRCLE_IDENTIFIER, read_model
from .ir.model import Model
from .plugin.hookspecs import hookimpl
from .plugin.interfaces import CONTENT_MATCH, Frontend


class CircleFrontend(Frontend):
    """Reads .circle files (ONE's format) as they are."""

    name = "circle"
    description = "circle models (.circle), ONE's flatbuffer format"
    extensions = (".circle",)

    def match(self, source: Any, head: bytes) -> int:
        if head[4:8] == CIRCLE_IDENTIFIER:
            return CONTENT_MATCH
        return super().match(source, head)

    def load(self, source: Any, **options: Any) -> Model:
        return read_model(source)


@hookimpl
def one_register_frontends(registry: Any) -> None:
    registry.add(CircleFrontend())


@hookimpl
def one_register_packagers(registry: Any) -> None:
    from .packaging import NnpackagePackager

    registry.add(NnpackagePackager())


@hookimpl
def one_register_passes(registry: Any) -> None:
    from .passes.dce import RemoveDeadOperatorsPass

    registry.add(RemoveDeadOperatorsPass())


@hookimpl
def one_add_commands(cli: Any) -> None:
    from .cli.build_commands import build_command, init_command
    from .cli.commands import import_command, inspect_command, plugins_command
    from .cli.package_commands import pack_command, unpack_command
    from .cli.run_command import run_command
    from .passes.cli import optimize_command, passes_command

    for command in (import_command, inspect_command, plugins_command, run_command, pack_command,
                    unpack_command, passes_command, optimize_command, build_command, init_command):
        cli.add_command(command)
