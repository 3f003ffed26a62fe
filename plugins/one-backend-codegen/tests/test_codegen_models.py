"""Whole Keras applications (weights re-drawn so activations stay of order one), float and
full-integer int8, as generated C: outputs equal LiteRT's reference kernels and the runtime
back end (floats within 1e-4 of the output's scale, integers exactly).

Input sizes: float ResNet50 and InceptionV3 are tested at 96 and 139, where LiteRT and the
runtime (two independent float32 implementations) agree within 8e-5 and 9e-5 of the scale; at
64 and 75 they differ by up to 1.4e-4 and 2.8e-4 from each other, so no float32 code could meet
1e-4 against both."""

from __future__ import annotations

import modelzoo
import numpy as np
import pytest
from cgharness import check_c, run_c
from opharness import random_inputs

from one_backend_codegen.build import DEFAULT_CFLAGS

MODELS = {
    "mobilenet_v2": modelzoo.mobilenet_v2,
    "mobilenet_v3_small": modelzoo.mobilenet_v3_small,
    "efficientnet_b0": modelzoo.efficientnet_b0,
    "resnet50": lambda: modelzoo.resnet50(96),
    "inception_v3": lambda: modelzoo.inception_v3(139),
    "mobilenet_v2_int8": modelzoo.mobilenet_v2_int8,
    "mobilenet_v3_small_int8": lambda: modelzoo.keras_int8("MobileNetV3Small", 96),
    "efficientnet_b0_int8": lambda: modelzoo.keras_int8("EfficientNetB0", 96),
    "resnet50_int8": lambda: modelzoo.keras_int8("ResNet50", 64),
    "inception_v3_int8": lambda: modelzoo.keras_int8("InceptionV3", 75),
    "int8_per_channel_model": modelzoo.int8_per_channel_model,
    "int16x8_model": modelzoo.int16x8_model,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_litert_and_runtime(name: str) -> None:
    path = MODELS[name]()
    first = check_c(path, seed=1, rtol=1e-4)
    second = check_c(path, seed=2, rtol=1e-4)
    # Two different inputs must give clearly different outputs, or the check proves little.
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v2_int8"])
def test_openmp_build_gives_the_same_bits(name: str, monkeypatch) -> None:
    """With -fopenmp (and scratch planned for 2 threads) matrix products, depthwise rows and 8-bit
    row blocks are shared by threads; every output element is still summed by one thread in one
    order, so the results are bit-identical."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    path = MODELS[name]()
    xs = random_inputs(path, np.random.default_rng(5))
    single = run_c(path, xs)
    threaded = run_c(path, xs, cflags=DEFAULT_CFLAGS + " -fopenmp", threads=2)
    for a, b in zip(single, threaded):
        np.testing.assert_array_equal(a, b)
