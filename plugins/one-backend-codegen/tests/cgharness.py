"""Generated C against the references: LiteRT's reference kernels and the runtime back end.

    path = tflite_model(fn, [((1, 8, 8, 3), np.float32)], quantize="int8")   # from opharness
    check_c(path)        # float: 1e-5 of the output's scale; integers: exact

The C backend compiles with -Wall -Wextra -Werror -pedantic (its default flags), so every
check also proves the generated code compiles cleanly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from opharness import random_inputs, run_litert, run_ours

import one_core
from one_core.ir import Model


def run_c(model: Path | Model, inputs: Sequence[np.ndarray], **options) -> list[np.ndarray]:
    session = one_core.Session(model, backend="c", **options)
    result = session.run(list(inputs))
    return [result[o.name] for o in session.outputs]


def assert_close(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float, label: str) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, f"{label} output {i}: dtype {g.dtype}, expected {w.dtype}"
        assert g.shape == w.shape, f"{label} output {i}: shape {g.shape}, expected {w.shape}"
        if np.issubdtype(w.dtype, np.floating):
            scale = max(float(np.abs(w).max()) if w.size else 0.0, 1e-30)
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * scale, err_msg=f"{label} output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{label} output {i}")


def check_c(path: Path, seed: int = 0, rtol: float = 1e-5, inputs: Sequence[np.ndarray] | None = None,
            **options) -> list[np.ndarray]:
    """The generated C's outputs equal LiteRT's (reference kernels) and the runtime's: floats
    within `rtol` of the output's largest magnitude, integers exactly. Returns them."""
    rng = np.random.default_rng(seed)
    xs = list(inputs) if inputs is not None else random_inputs(path, rng)
    got = run_c(path, xs, **options)
    assert_close(got, run_litert(path, xs), rtol, "vs LiteRT")
    assert_close(got, run_ours(path, xs), rtol, "vs runtime")
    return got
