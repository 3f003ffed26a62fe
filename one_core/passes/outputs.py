"""ONE's `--change_outputs`: other tensors become the main graph's outputs."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError
from ..ir.model import Model
from .dce import remove_dead_operators


def parse_output_names(value: str | Sequence[str]) -> list[str]:
    """`a,b` (ONE's comma-separated form) or a list of names."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n) for n in value]
    if not names or not all(names):
        raise InputError(f"change_outputs: expected comma-separated tensor names, got {value!r}")
    return names


def change_outputs(model: Model, names: Sequence[str]) -> None:
    """Make the tensors named `names` the main graph's outputs, in that order (the signature
    follows), then drop the operators nothing reads any more."""
    sg = model.main
    by_name = {t.name: t for t in sg.tensors}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f"change_outputs: the main graph has no tensor named {', '.join(repr(n) for n in missing)}")
    constant = [n for n in names if by_name[n].is_constant]
    if constant:
        raise InputError(f"change_outputs: {', '.join(repr(n) for n in constant)} is a constant, not a computed tensor")
    sg.outputs = [by_name[n] for n in names]
    for sig in model.signature_defs:
        if sig.subgraph is sg:
            sig.outputs = [(n, by_name[n]) for n in names]
    remove_dead_operators(sg)
    sg.remove_unused_tensors()
