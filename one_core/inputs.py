"""Putting run inputs in model order, for every backend and for packages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError


def order_inputs(
    names: Sequence[str], inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], taker: str = "model"
) -> list[np.ndarray]:
    """Inputs given by name or in order, as a list in the order of `names`; a wrong name,
    count or missing input is an InputError saying what the `taker` expects."""
    if isinstance(inputs, Mapping):
        unknown = [k for k in inputs if k not in names]
        if unknown:
            raise InputError(f"unknown input(s) {', '.join(unknown)} (the {taker} takes {', '.join(names)})")
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InputError(f"missing input(s) {', '.join(missing)}")
        return [inputs[n] for n in names]
    given = list(inputs)
    if len(given) != len(names):
        raise InputError(f"{len(given)} input(s) given, the {taker} takes {len(names)}: {', '.join(names)}")
    return given


def checked_inputs(infos: Sequence[Any], inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
    """`order_inputs`, then each array checked against its description (`name`, `shape` with -1
    for a dynamic dimension, numpy `dtype`); a mismatch is an InputError naming the input."""
    out = []
    for info, x in zip(infos, order_inputs([i.name for i in infos], inputs)):
        x = np.asarray(x)
        if x.dtype != info.dtype:
            raise InputError(f"input '{info.name}': dtype {x.dtype}, expected {info.dtype}")
        if len(x.shape) != len(info.shape) or any(d not in (-1, g) for d, g in zip(info.shape, x.shape)):
            raise InputError(f"input '{info.name}': shape {list(x.shape)}, expected {list(info.shape)}")
        out.append(x)
    return out
