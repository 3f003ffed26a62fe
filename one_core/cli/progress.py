"""Progress display for long steps: a spinner or a bar on a terminal, nothing when piped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

_console = Console(stderr=True)


@contextmanager
def step(message: str) -> Iterator[None]:
    """Show `message` with a spinner while the block runs (only on an interactive stderr)."""
    if not sys.stderr.isatty():
        yield
        return
    with _console.status(message):
        yield


@contextmanager
def counter(message: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar for `total` items (a running count when None); yields `done(n)`, to be
    called with the number of items finished. Shown only on an interactive stderr."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    label = TextColumn("{task.description}")
    columns = [label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    if total is None:
        columns = [SpinnerColumn(), label, TextColumn("{task.completed}"), TimeElapsedColumn()]
    with Progress(*columns, console=_console) as bar:
        task = bar.add_task(message, total=total)
        yield lambda n: bar.update(task, completed=n)
