"""Whole models made by TensorFlow run on this runtime as on LiteRT's reference kernels.

Keras applications (weights re-drawn so activations stay of order one), the float and integer
zoo models, control flow and variables. Float outputs agree within 1e-4 of the output's scale
(long chains of convolutions and reductions), integer outputs exactly."""

from __future__ import annotations

import numpy as np
import pytest

import modelzoo
from opharness import random_inputs, run_litert, run_ours

MODELS = {
    **modelzoo.KERAS_APPLICATIONS,
    "resnet50": modelzoo.resnet50,
    **{k: v for k, v in modelzoo.ALL_MODELS.items() if k not in ("custom_op_model", "mobilenet_v2")},
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_litert(name: str) -> None:
    path = MODELS[name]()
    rng = np.random.default_rng(11)
    feeds = [random_inputs(path, rng) for _ in range(2)]
    results = []
    for xs in feeds:
        want = run_litert(path, xs)
        got = run_ours(path, xs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            if np.issubdtype(w.dtype, np.floating):
                scale = max(float(np.abs(w).max()), 1e-30)
                np.testing.assert_allclose(g, w, rtol=0, atol=1e-4 * scale)
            else:
                np.testing.assert_array_equal(g, w)
        results.append(want)
    # Two different inputs must give clearly different outputs, or the check proves little.
    first, second = results
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
