"""Hook implementations: the `one quantize` command and onecc's `[one-quantize]` step."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .cli import quantize_command


@hookimpl
def one_add_commands(cli: Any) -> None:
    cli.add_command(quantize_command)


@hookimpl
def one_register_build_steps(registry: Any) -> None:
    from .build_step import QuantizeDriver

    registry.add(QuantizeDriver())
