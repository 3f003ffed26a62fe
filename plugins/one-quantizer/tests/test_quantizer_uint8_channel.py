"""uint8 with per-channel weights (ONE's `quantized_dtype=uint8, granularity=channel`): circle's
asymmetric per-channel uint8 weights, which TFLite's kernels do not take. ONE's runtime onert,
our runtime and the generated C agree exactly on convolutions; on FULLY_CONNECTED onert (0.1.0)
ignores the per-channel parameters, so there the reference is the arithmetic itself."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import one_core
import one_quantizer
from one_core.ir import DType
from qharness import calibration_records, run_ours, tflite_model
from test_quantizer_ops import B8, DW, FC, W3, conv_family

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from onert_runner import run_onert  # noqa: E402

INPUT = [((1, 8, 8, 4), np.float32)]


def convolutions(x):
    y = tf.nn.relu6(tf.nn.conv2d(x, W3, 1, "SAME") + B8)
    return tf.nn.depthwise_conv2d(y, DW, [1, 2, 2, 1], "SAME") + B8


def dense(x):
    return tf.matmul(tf.reshape(x, (32, 8)), FC) + 0.1


def _quantized(fn, tmp_path: Path) -> tuple[one_core.Model, Path]:
    model = one_core.load(tflite_model(fn, INPUT))
    # float I/O: onert's Python API cannot feed uint8 inputs
    one_quantizer.quantize(model, calibration_records(model), "uint8", "channel", input_type="float32",
                           output_type="float32")
    return model, one_core.save(model, tmp_path / f"{fn.__name__}.circle")


def _inputs(seed: int) -> list[np.ndarray]:
    return [np.random.default_rng(seed).standard_normal((1, 8, 8, 4)).astype(np.float32)]


def test_weights_are_asymmetric_per_channel(tmp_path):
    model, _ = _quantized(convolutions, tmp_path)
    for op in (op for _, op in model.operators() if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")):
        w, b = op.inputs[1], op.inputs[2]
        channels = w.shape[0 if op.type == "CONV_2D" else 3]
        assert w.dtype == DType.UINT8 and w.quantization.scale.size == channels
        assert w.quantization.quantized_dimension == (0 if op.type == "CONV_2D" else 3)
        assert len(set(w.quantization.zero_point.tolist())) > 1  # asymmetric: zero points differ
        np.testing.assert_allclose(b.quantization.scale, op.inputs[0].quantization.scale[0] * w.quantization.scale,
                                   rtol=1e-6)


def test_onert_and_our_runtime_agree_on_convolutions(tmp_path):
    _, path = _quantized(convolutions, tmp_path)
    for seed in range(3):
        want, got = run_onert(path, _inputs(seed), tmp_path)[0], run_ours(path, _inputs(seed))[0]
        np.testing.assert_array_equal(got, want)


def test_fully_connected_is_the_arithmetic(tmp_path):
    model, path = _quantized(dense, tmp_path)
    fc = next(op for _, op in model.operators() if op.type == "FULLY_CONNECTED")
    x_t, w_t, b_t, y_t = fc.inputs[0], fc.inputs[1], fc.inputs[2], fc.outputs[0]

    def real(t, axis=None):
        q = t.quantization
        shape = (-1, 1) if axis == 0 else (-1,)
        zero = q.zero_point.reshape(shape) if q.zero_point.size > 1 else q.zero_point[0]
        return (t.data.astype(np.float64) - zero) * q.scale.astype(np.float64).reshape(shape)

    (sx, zx), (sy, zy) = ((float(t.quantization.scale[0]), int(t.quantization.zero_point[0])) for t in (x_t, y_t))
    for seed in range(3):
        x = _inputs(seed)[0]
        xq = np.clip(np.round(x / sx) + zx, 0, 255)
        y = ((xq - zx) * sx).reshape(32, 8) @ real(w_t, 0).T + real(b_t)
        want = (np.clip(np.round(y / sy) + zy, 0, 255) - zy) * sy
        got = run_ours(path, [x])[0]
        assert np.abs(got - want).max() <= sy * (1 + 1e-4), np.abs(got - want).max() / sy
        assert np.mean(np.abs(got - want) > sy / 2) <= 0.01


@pytest.mark.parametrize("fn", [convolutions, dense, conv_family], ids=lambda f: f.__name__)
def test_generated_c_equals_the_runtime(fn, tmp_path):
    _, path = _quantized(fn, tmp_path)
    for seed in range(2):
        np.testing.assert_array_equal(run_ours(path, _inputs(seed), backend="c")[0], run_ours(path, _inputs(seed))[0])
