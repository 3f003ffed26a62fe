"""Models quantized by this toolchain's own quantizer (int8, uint8, int16) as generated C: the
same integers as the runtime back end, which LiteRT's reference kernels match on them (the
quantizer's tests)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import run_c
from opharness import run_ours, tflite_model

import one_core
import one_quantizer

_RNG = np.random.default_rng(3)
W = (_RNG.standard_normal((3, 3, 4, 6)) * 0.3).astype(np.float32)


def conv_arith(x):
    y = tf.nn.relu6(tf.nn.conv2d(x, W, 1, "SAME") + 0.1)
    y = y * 0.5 + tf.nn.relu(tf.reduce_mean(y, axis=[1, 2], keepdims=True) - 0.2)
    return tf.concat([tf.nn.relu(y - 0.3), tf.nn.max_pool2d(y, 1, 1, "VALID"), tf.nn.relu(x) * 0.5], axis=-1)


@pytest.mark.parametrize("dtype, granularity", [("int8", "channel"), ("uint8", "layer"), ("int16", "channel")])
def test_quantized_here_runs_as_c(dtype: str, granularity: str, tmp_path) -> None:
    model = one_core.load(tflite_model(conv_arith, [((1, 8, 8, 4), np.float32)]))
    rng = np.random.default_rng(0)
    records = [[rng.standard_normal((1, 8, 8, 4)).astype(np.float32)] for _ in range(8)]
    one_quantizer.quantize(model, records, dtype=dtype, granularity=granularity)
    path = one_core.save(model, tmp_path / "q.circle")
    assert any(op.name == "RELU" for op in model.main.operators)
    for seed in range(2):
        x = model.main.inputs[0]
        info = np.iinfo(x.dtype.numpy)
        xs = [np.random.default_rng(seed).integers(info.min, info.max + 1, x.shape).astype(x.dtype.numpy)]
        for got, want in zip(run_c(path, xs), run_ours(path, xs)):
            np.testing.assert_array_equal(got, want)
