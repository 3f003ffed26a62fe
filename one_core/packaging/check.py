"""Comparing outputs with a package's stored expected outputs (`one run PKG --check`).

Floats agree when every element is within `rtol` times the output's scale (its largest
magnitude in the expected values) and NaNs sit in the same places; integers and booleans
must be equal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OutputCheck:
    """The verdict on one output."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'MISMATCH'} ({self.detail})"


def compare_outputs(outputs: Mapping[str, np.ndarray], expected: Sequence[np.ndarray],
                    rtol: float = 1e-5) -> list[OutputCheck]:
    """Check each output (in order) against the expected array at the same position."""
    checks = []
    for (name, got), want in zip(outputs.items(), expected):
        checks.append(_check(name, np.asarray(got), np.asarray(want), rtol))
    return checks


def _check(name: str, got: np.ndarray, want: np.ndarray, rtol: float) -> OutputCheck:
    if got.shape != want.shape:
        return OutputCheck(name, False, f"shape {list(got.shape)}, expected {list(want.shape)}")
    floats = got.dtype.kind == "f" or want.dtype.kind == "f"
    if floats != (got.dtype.kind == "f" and want.dtype.kind == "f"):
        return OutputCheck(name, False, f"dtype {got.dtype}, expected {want.dtype}")
    if got.size == 0:
        return OutputCheck(name, True, "empty")
    if not floats:
        equal = got == want
        if equal.all():
            return OutputCheck(name, True, f"{got.size} values equal")
        bad = np.argwhere(~equal)
        first = tuple(int(i) for i in bad[0])
        return OutputCheck(name, False, f"{len(bad)} of {got.size} values differ, first at {list(first)}: "
                                        f"{got[first]} vs {want[first]}")
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if (nan_g != nan_w).any():
        first = [int(i) for i in np.argwhere(nan_g != nan_w)[0]]
        return OutputCheck(name, False, f"NaN at {first} in only one of the two")
    inf_w = np.isinf(w)
    if (np.isinf(g) != inf_w).any() or (g[inf_w] != w[inf_w]).any():
        first = [int(i) for i in np.argwhere((np.isinf(g) != inf_w) | (inf_w & (g != w)))[0]]
        return OutputCheck(name, False, f"infinity at {first} differs: {got[tuple(first)]} vs {want[tuple(first)]}")
    finite = np.isfinite(w)
    scale = float(np.abs(w[finite]).max()) if finite.any() else 0.0
    tolerance = rtol * scale if scale > 0 else rtol
    diff = np.where(finite, np.abs(np.where(finite, g, 0.0) - np.where(finite, w, 0.0)), 0.0)
    worst = float(diff.max())
    if worst <= tolerance:
        return OutputCheck(name, True, f"max abs diff {worst:.3g} <= {tolerance:.3g}")
    at = [int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)]
    return OutputCheck(name, False, f"max abs diff {worst:.3g} at {at} > tolerance {tolerance:.3g} "
                                    f"= rtol {rtol:g} x output scale {scale:.3g}")
