"""The `one` command: a click group whose subcommands come from plugins (the core's included)."""

from __future__ import annotations

import sys
import traceback

import click

from .. import __version__
from ..errors import OneError
from ..plugin.manager import get_plugins


class _OneGroup(click.Group):
    """Loads plugin commands on first use and turns errors into one `error: ...` line."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            get_plugins().add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OneError as exc:
            _fail(ctx, str(exc), 1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except Exception as exc:  # an unexpected failure is a bug: say so, briefly
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}", 2)
        return None


def _fail(ctx: click.Context, message: str, code: int) -> None:
    debug = bool(ctx.obj and ctx.obj.get("debug"))
    if debug:
        traceback.print_exc()
    elif code == 2:
        message += " (rerun with --debug for details)"
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_OneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="one")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """ONE toolchain: import, optimize, quantize, pack and run models on small devices."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point. Plugins load while click lists commands, before `invoke`,
    so their errors (a duplicate name, say) are caught here too."""
    try:
        cli(prog_name="one")
    except OneError as exc:
        if "--debug" in sys.argv[1:]:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
