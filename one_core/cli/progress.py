"""Progress display for long steps: a spinner on a terminal, nothing when piped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

_console = Console(stderr=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Show `message` with a spinner while the block runs (only on an interactive stderr)."""
    if not sys.stderr.isatty():
        yield
        return
    with _console.status(message):
        yield
