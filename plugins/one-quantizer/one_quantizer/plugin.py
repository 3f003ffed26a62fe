"""Hook implementation: the `one quantize` command."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .cli import quantize_command


@hookimpl
def one_add_commands(cli: Any) -> None:
    cli.add_command(quantize_command)
