"""Generated C against the references: LiteRT's reference kernels and the runtime back end.

    path = tflite_model(fn, [((1, 8, 8, 3), np.float32)], quantize="int8")   # from opharness
    check_c(path)        # float: 1e-5 of the output's scale; integers: exact

The C backend compiles with -Wall -Wextra -Werror -pedantic (its default flags), so every
check also proves the generated code compiles cleanly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from opharness import assert_outputs_match, random_inputs, run_litert, run_ours

from one_core.ir import Model


def run_c(model: Path | Model, inputs: Sequence[np.ndarray], **options) -> list[np.ndarray]:
    """Outputs in model order of the generated C (`options`: the c backend's)."""
    return run_ours(model, inputs, backend="c", **options)


def check_c(path: Path, seed: int = 0, rtol: float = 1e-5, inputs: Sequence[np.ndarray] | None = None,
            **options) -> list[np.ndarray]:
    """The generated C's outputs equal LiteRT's (reference kernels) and the runtime's: floats
    within `rtol` of the output's largest magnitude, integers exactly. Returns them."""
    rng = np.random.default_rng(seed)
    xs = list(inputs) if inputs is not None else random_inputs(path, rng)
    got = run_c(path, xs, **options)
    assert_outputs_match(got, run_litert(path, xs), rtol, "vs LiteRT")
    assert_outputs_match(got, run_ours(path, xs), rtol, "vs runtime")
    return got
