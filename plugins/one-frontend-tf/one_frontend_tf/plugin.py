"""Hook implementations: the tf frontend, and the `one import-tf` command (ONE's flags)."""

from __future__ import annotations

import warnings
from typing import Any

from one_core.plugin import hookimpl

from .frontend import CustomOperatorWarning, TfFrontend


@hookimpl
def one_register_frontends(registry: Any) -> None:
    registry.add(TfFrontend())


@hookimpl
def one_add_commands(cli: Any) -> None:
    from .command import import_tf_command

    cli.add_command(import_tf_command)
    _show_warnings_as_one_line()


def _show_warnings_as_one_line() -> None:
    """On the command line, print our warning as `warning: ...`, not Python's file:line form.
    (Only called when the `one` command loads its commands; other warnings are untouched.)"""
    original = warnings.showwarning
    if getattr(original, "_one_frontend_tf", False):
        return

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, CustomOperatorWarning):
            import click

            click.echo(f"warning: {message}", err=True)
            return
        original(message, category, filename, lineno, file, line)

    show._one_frontend_tf = True  # type: ignore[attr-defined]
    warnings.showwarning = show
