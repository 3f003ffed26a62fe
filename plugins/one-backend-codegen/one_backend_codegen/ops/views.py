"""Operators that only re-label bytes: their output is their input's memory."""

from __future__ import annotations

from ..emit import OpEmit, emitter


@emitter("RESHAPE", "SQUEEZE", "EXPAND_DIMS", view=True)
def view(e: OpEmit) -> None:
    """Nothing to compute: the planner makes the output an alias of input 0."""
