"""CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and CONV_3D against LiteRT's reference kernels:
float32, int8 (per-channel weights), int16x8 and uint8 (per-tensor, built with the IR, since the
converter no longer makes uint8 models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from one_backend_runtime.kernels.conv import Requantizer
from one_backend_runtime.kernels.quant import (
    multiply_by_quantized_multiplier,
    quantize_multipliers,
)
from opharness import check, run_ours, tflite_model

import one_core
from one_core.ir import DType, Model, Operator, Quantization, Subgraph, Tensor
from one_core.ir.options import (
    ActivationFunctionType,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    Padding,
    TransposeConvOptions,
)

QUANT = [None, "int8", "int16x8"]


# ---------------------------------------------------------------------------------------------
# CONV_2D


def conv_same_relu(x):
    w = tf.constant(np.random.default_rng(0).standard_normal((3, 3, 4, 6)).astype(np.float32) * 0.5)
    b = tf.constant(np.random.default_rng(1).standard_normal(6).astype(np.float32))
    return tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="SAME") + b)


def conv_valid_stride2(x):
    w = tf.constant(np.random.default_rng(2).standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.3)
    return tf.nn.conv2d(x, w, strides=2, padding="VALID")


def conv_dilated_relu6(x):
    w = tf.constant(np.random.default_rng(3).standard_normal((3, 3, 5, 4)).astype(np.float32) * 0.4)
    b = tf.constant(np.random.default_rng(4).standard_normal(4).astype(np.float32))
    return tf.nn.relu6(tf.nn.conv2d(x, w, strides=1, padding="SAME", dilations=2) + b)


def conv_odd_kernel(x):
    w = tf.constant(np.random.default_rng(5).standard_normal((5, 2, 3, 7)).astype(np.float32) * 0.3)
    b = tf.constant(np.random.default_rng(6).standard_normal(7).astype(np.float32))
    return tf.nn.conv2d(x, w, strides=(2, 3), padding="SAME") + b


def conv_pointwise(x):
    w = tf.constant(np.random.default_rng(7).standard_normal((1, 1, 16, 24)).astype(np.float32) * 0.25)
    b = tf.constant(np.random.default_rng(8).standard_normal(24).astype(np.float32))
    return tf.nn.relu6(tf.nn.conv2d(x, w, strides=1, padding="VALID") + b)


def conv_pointwise_stride2(x):
    w = tf.constant(np.random.default_rng(9).standard_normal((1, 1, 8, 12)).astype(np.float32) * 0.3)
    return tf.nn.conv2d(x, w, strides=2, padding="SAME")


def conv_deep(x):
    # 3x3x96 taps: a long accumulation, and enough work to use several threads for im2col
    w = tf.constant(np.random.default_rng(10).standard_normal((3, 3, 96, 32)).astype(np.float32) * 0.1)
    b = tf.constant(np.random.default_rng(11).standard_normal(32).astype(np.float32))
    return tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="SAME") + b)


CONV_CASES = [
    (conv_same_relu, (1, 9, 9, 4)),
    (conv_valid_stride2, (2, 11, 10, 3)),
    (conv_dilated_relu6, (1, 10, 9, 5)),
    (conv_odd_kernel, (1, 11, 13, 3)),
    (conv_pointwise, (1, 7, 7, 16)),
    (conv_pointwise_stride2, (2, 9, 8, 8)),
    (conv_deep, (1, 24, 24, 96)),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", CONV_CASES, ids=[f.__name__ for f, _ in CONV_CASES])
def test_conv_2d(fn, shape, quantize):
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn,shape", CONV_CASES[-2:], ids=[f.__name__ for f, _ in CONV_CASES[-2:]])
def test_conv_2d_numpy_requantization(fn, shape, quantize, monkeypatch):
    """The numpy twin of the compiled requantization, used when numba is not installed."""
    from one_backend_runtime.kernels import accel

    monkeypatch.setattr(accel, "ENABLED", False)
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


def conv_runtime_weights(x, w):
    return tf.nn.conv2d(x, w, strides=1, padding="SAME")


def test_conv_2d_weights_computed_at_run_time():
    check(tflite_model(conv_runtime_weights, [((1, 6, 6, 3), np.float32), ((3, 3, 3, 4), np.float32)]))


def conv_grouped(x):
    w = tf.constant(np.random.default_rng(12).standard_normal((3, 3, 2, 6)).astype(np.float32))
    return tf.nn.conv2d(x, w, strides=1, padding="SAME")


def test_conv_2d_grouped():
    check(tflite_model(conv_grouped, [((1, 6, 6, 4), np.float32)]))


# ---------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D


def dw_same_relu6(x):
    w = tf.constant(np.random.default_rng(20).standard_normal((3, 3, 8, 1)).astype(np.float32))
    b = tf.constant(np.random.default_rng(21).standard_normal(8).astype(np.float32))
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME") + b)


def dw_stride2_multiplier(x):
    w = tf.constant(np.random.default_rng(22).standard_normal((3, 3, 4, 3)).astype(np.float32))
    return tf.nn.depthwise_conv2d(x, w, strides=[1, 2, 2, 1], padding="SAME")


def dw_valid_dilated(x):
    w = tf.constant(np.random.default_rng(23).standard_normal((5, 3, 6, 2)).astype(np.float32))
    b = tf.constant(np.random.default_rng(24).standard_normal(12).astype(np.float32))
    return tf.nn.relu(tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="VALID", dilations=(2, 2)) + b)


def dw_large(x):
    # big enough to be split across threads
    w = tf.constant(np.random.default_rng(25).standard_normal((3, 3, 32, 1)).astype(np.float32))
    b = tf.constant(np.random.default_rng(26).standard_normal(32).astype(np.float32))
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME") + b)


DW_CASES = [
    (dw_same_relu6, (1, 9, 9, 8)),
    (dw_stride2_multiplier, (2, 9, 10, 4)),
    (dw_valid_dilated, (1, 13, 12, 6)),
    (dw_large, (1, 40, 40, 32)),
]


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", DW_CASES, ids=[f.__name__ for f, _ in DW_CASES])
def test_depthwise_conv_2d(fn, shape, quantize, compiled, monkeypatch):
    """Both the compiled inner loop (when numba is installed) and the numpy one."""
    from one_backend_runtime.kernels import accel

    if compiled and not accel.ENABLED:
        pytest.skip("numba is not installed: only the numpy path exists here")
    monkeypatch.setattr(accel, "ENABLED", compiled)
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


# ---------------------------------------------------------------------------------------------
# TRANSPOSE_CONV


def tconv_same_stride2(x):
    w = tf.constant(np.random.default_rng(30).standard_normal((3, 3, 5, 4)).astype(np.float32) * 0.5)
    b = tf.constant(np.random.default_rng(31).standard_normal(5).astype(np.float32))
    return tf.nn.relu(tf.nn.conv2d_transpose(x, w, [1, 16, 16, 5], strides=2, padding="SAME") + b)


def tconv_valid(x):
    w = tf.constant(np.random.default_rng(32).standard_normal((3, 3, 6, 3)).astype(np.float32) * 0.5)
    return tf.nn.conv2d_transpose(x, w, [2, 9, 8, 6], strides=1, padding="VALID")


def tconv_kernel2_stride3(x):
    w = tf.constant(np.random.default_rng(33).standard_normal((2, 2, 4, 4)).astype(np.float32) * 0.5)
    b = tf.constant(np.random.default_rng(34).standard_normal(4).astype(np.float32))
    return tf.nn.conv2d_transpose(x, w, [1, 15, 12, 4], strides=3, padding="SAME") + b


def tconv_odd_output(x):
    w = tf.constant(np.random.default_rng(35).standard_normal((4, 3, 2, 5)).astype(np.float32) * 0.5)
    return tf.nn.conv2d_transpose(x, w, [1, 11, 9, 2], strides=2, padding="SAME")


TCONV_CASES = [
    (tconv_same_stride2, (1, 8, 8, 4)),
    (tconv_valid, (2, 7, 6, 3)),
    (tconv_kernel2_stride3, (1, 5, 4, 4)),
    (tconv_odd_output, (1, 6, 5, 5)),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", TCONV_CASES, ids=[f.__name__ for f, _ in TCONV_CASES])
def test_transpose_conv(fn, shape, quantize):
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


# ---------------------------------------------------------------------------------------------
# CONV_3D (TFLite runs it in float32 only)


def conv3d_same_relu(x):
    w = tf.constant(np.random.default_rng(40).standard_normal((3, 3, 3, 4, 6)).astype(np.float32) * 0.3)
    b = tf.constant(np.random.default_rng(41).standard_normal(6).astype(np.float32))
    return tf.nn.relu(tf.nn.conv3d(x, w, strides=[1, 1, 1, 1, 1], padding="SAME") + b)


def conv3d_valid_strided(x):
    w = tf.constant(np.random.default_rng(42).standard_normal((2, 3, 1, 3, 5)).astype(np.float32) * 0.3)
    return tf.nn.conv3d(x, w, strides=[1, 1, 2, 2, 1], padding="VALID")


def conv3d_dilated(x):
    w = tf.constant(np.random.default_rng(43).standard_normal((2, 2, 2, 2, 3)).astype(np.float32) * 0.3)
    return tf.nn.conv3d(x, w, strides=[1, 1, 1, 1, 1], padding="SAME", dilations=[1, 2, 1, 2, 1])


@pytest.mark.parametrize(
    "fn,shape",
    [(conv3d_same_relu, (1, 5, 6, 7, 4)), (conv3d_valid_strided, (2, 4, 7, 6, 3)), (conv3d_dilated, (1, 6, 5, 6, 2))],
    ids=["same_relu", "valid_strided", "dilated"],
)
def test_conv_3d(fn, shape):
    check(tflite_model(fn, [(shape, np.float32)]))


# ---------------------------------------------------------------------------------------------
# uint8 (per-tensor weights with a zero point), built with the IR


def qtensor(name: str, dtype: DType, shape, scale, zero, data=None, axis: int = 0) -> Tensor:
    """A quantized tensor (per-channel when `scale` has several values)."""
    scale = np.atleast_1d(np.asarray(scale, np.float32))
    zero = np.broadcast_to(np.atleast_1d(np.asarray(zero, np.int64)), scale.shape).copy()
    return Tensor(name, dtype, tuple(shape), data=data,
                  quantization=Quantization(scale=scale, zero_point=zero, quantized_dimension=axis))


def one_op_tflite(path: Path, name: str, options, inputs: list, outputs: list) -> Path:
    """A .tflite file holding one operator; inputs without data are the model's inputs."""
    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    for t in [*inputs, *outputs]:
        if t is not None:
            sg.add_tensor(t)
    sg.add_operator(Operator(name, inputs, outputs, options))
    sg.inputs = [t for t in inputs if t is not None and t.data is None]
    sg.outputs = list(outputs)
    one_core.save(model, path)
    return path


def uint8_conv_model(tmp_path, kind: str, act: int, rng: np.random.Generator, channels: int = 4,
                     outputs: int = 6) -> Path:
    """A one-operator uint8 model (per-tensor weights with a zero point): "conv" (3x3, stride 2,
    `outputs` channels), "depthwise" (multiplier 2) or "transpose", on a [1, 9, 8, channels] input."""
    x = qtensor("x", DType.UINT8, (1, 9, 8, channels), 0.05, 120)
    if kind == "conv":
        w = qtensor("w", DType.UINT8, (outputs, 3, 3, channels), 0.01, 131,
                    rng.integers(80, 180, (outputs, 3, 3, channels)).astype(np.uint8))
        b = qtensor("b", DType.INT32, (outputs,), 0.05 * 0.01, 0, rng.integers(-3000, 3000, outputs).astype(np.int32))
        y = qtensor("y", DType.UINT8, (1, 5, 4, outputs), 0.04, 128)
        opts = Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, fused_activation_function=act)
        return one_op_tflite(tmp_path / "conv.tflite", "CONV_2D", opts, [x, w, b], [y])
    if kind == "depthwise":
        c = 2 * channels
        w = qtensor("w", DType.UINT8, (1, 3, 3, c), 0.02, 127, rng.integers(60, 200, (1, 3, 3, c)).astype(np.uint8))
        b = qtensor("b", DType.INT32, (c,), 0.05 * 0.02, 0, rng.integers(-2000, 2000, c).astype(np.int32))
        y = qtensor("y", DType.UINT8, (1, 9, 8, c), 0.03, 125)
        opts = DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1, depth_multiplier=2,
                                      fused_activation_function=act)
        return one_op_tflite(tmp_path / "dw.tflite", "DEPTHWISE_CONV_2D", opts, [x, w, b], [y])
    shape = qtensor("shape", DType.INT32, (4,), 1.0, 0, np.array([1, 18, 16, 3], np.int32))
    shape.quantization = None
    w = qtensor("w", DType.UINT8, (3, 3, 3, 4), 0.01, 129, rng.integers(70, 190, (3, 3, 3, 4)).astype(np.uint8))
    y = qtensor("y", DType.UINT8, (1, 18, 16, 3), 0.02, 130)
    opts = TransposeConvOptions(padding=Padding.SAME, stride_w=2, stride_h=2, fused_activation_function=act)
    return one_op_tflite(tmp_path / "tconv.tflite", "TRANSPOSE_CONV", opts, [shape, w, x], [y])


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("kind", ["conv", "depthwise", "transpose"])
@pytest.mark.parametrize("act", [ActivationFunctionType.NONE, ActivationFunctionType.RELU6])
def test_uint8_per_tensor(tmp_path, kind, act, compiled, monkeypatch):
    from one_backend_runtime.kernels import accel

    if compiled and not accel.ENABLED:
        pytest.skip("numba is not installed: only the numpy path exists here")
    monkeypatch.setattr(accel, "ENABLED", compiled)
    rng = np.random.default_rng(7)
    check(uint8_conv_model(tmp_path, kind, int(act), rng))


def test_uint8_depthwise_per_channel_compiled_equals_numpy(tmp_path, monkeypatch):
    """circle's asymmetric per-channel uint8 weights (no LiteRT kernel takes them): the compiled
    integer depthwise equals the numpy float-sum path (which equals onert: one-quantizer's
    test_quantizer_uint8_channel.py), with stride 2 and a depth multiplier."""
    from one_backend_runtime.kernels import accel

    if not accel.ENABLED:
        pytest.skip("numba is not installed: only the numpy path exists here")
    rng = np.random.default_rng(8)
    c = 6
    x = qtensor("x", DType.UINT8, (2, 11, 10, 3), 0.05, 117)
    w = qtensor("w", DType.UINT8, (1, 3, 3, c), rng.uniform(0.005, 0.03, c), rng.integers(90, 170, c),
                rng.integers(0, 256, (1, 3, 3, c)).astype(np.uint8), axis=3)
    b = qtensor("b", DType.INT32, (c,), 0.05 * w.quantization.scale, 0, rng.integers(-5000, 5000, c).astype(np.int32))
    y = qtensor("y", DType.UINT8, (2, 6, 5, c), 0.1, 131)
    opts = DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, depth_multiplier=2,
                                  fused_activation_function=int(ActivationFunctionType.RELU6))
    path = one_op_tflite(tmp_path / "dw.circle", "DEPTHWISE_CONV_2D", opts, [x, w, b], [y])
    xs = [rng.integers(0, 256, (2, 11, 10, 3)).astype(np.uint8)]
    (got,) = run_ours(path, xs)
    monkeypatch.setattr(accel, "ENABLED", False)
    (want,) = run_ours(path, xs)
    assert len(np.unique(want)) > 20  # not clamped flat
    np.testing.assert_array_equal(got, want)


def test_int16_depthwise_sums_beyond_int32(tmp_path):
    """16x8 sums that overflow int32 (TFLite accumulates in int64 with an int64 bias): the
    compiled kernel switches to int64 accumulators for such weights."""
    k, c = 25, 2
    w_scale = np.array([0.002, 0.003], np.float32)
    x = qtensor("x", DType.INT16, (1, 27, 27, c), 1 / 32768, 0)
    w = qtensor("w", DType.INT8, (1, k, k, c), w_scale, 0,
                np.random.default_rng(9).integers(120, 128, (1, k, k, c)).astype(np.int8), axis=3)
    b = qtensor("b", DType.INT64, (c,), w_scale / 32768, 0, np.array([-(2**33), 12345], np.int64))
    y = qtensor("y", DType.INT16, (1, 3, 3, c), 0.05, 0)
    opts = DepthwiseConv2DOptions(padding=Padding.VALID, stride_w=1, stride_h=1, depth_multiplier=1)
    path = one_op_tflite(tmp_path / "dw16.tflite", "DEPTHWISE_CONV_2D", opts, [x, w, b], [y])
    xs = [np.random.default_rng(10).integers(31000, 32768, (1, 27, 27, c)).astype(np.int16)]
    assert int(xs[0].min()) * 120 * k * k > 2**31  # every sum overflows int32
    check(path, inputs=xs)


# ---------------------------------------------------------------------------------------------
# Hybrid kernels: dynamic-range quantization leaves float activations and int8 weights


def conv_hybrid(x):
    w = tf.constant(np.random.default_rng(50).standard_normal((3, 3, 16, 32)).astype(np.float32) * 0.2)
    b = tf.constant(np.random.default_rng(51).standard_normal(32).astype(np.float32))
    return tf.nn.relu(tf.nn.conv2d(x, w, strides=2, padding="SAME") + b)


def dw_hybrid(x):
    w = tf.constant(np.random.default_rng(52).standard_normal((3, 3, 64, 2)).astype(np.float32))
    b = tf.constant(np.random.default_rng(53).standard_normal(128).astype(np.float32))
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME") + b)


def tconv_hybrid(x):
    w = tf.constant(np.random.default_rng(54).standard_normal((3, 3, 32, 16)).astype(np.float32) * 0.2)
    return tf.nn.conv2d_transpose(x, w, [2, 16, 16, 32], strides=2, padding="SAME")


@pytest.mark.parametrize(
    "fn,shape,name",
    [(conv_hybrid, (2, 9, 9, 16), "CONV_2D"), (dw_hybrid, (2, 8, 8, 64), "DEPTHWISE_CONV_2D"),
     (tconv_hybrid, (2, 8, 8, 16), "TRANSPOSE_CONV")],
    ids=["conv", "depthwise", "transpose"],
)
def test_hybrid(fn, shape, name):
    path = tflite_model(fn, [(shape, np.float32)], quantize="dynamic")
    (op,) = [op for op in one_core.load(path).main.operators if op.name == name]
    assert op.inputs[1].dtype == DType.INT8 and op.outputs[0].dtype == DType.FLOAT32
    check(path)


def test_hybrid_conv_per_tensor_weights(tmp_path):
    """Per-tensor int8 weights take TFLite's other hybrid kernel (symmetric inputs)."""
    model = one_core.load(tflite_model(conv_hybrid, [((2, 9, 9, 16), np.float32)], quantize="dynamic"))
    (op,) = [op for op in model.main.operators if op.name == "CONV_2D"]
    w = op.inputs[1]
    real = w.data.astype(np.float32) * w.quantization.scale[:, None, None, None]
    scale = np.float32(np.abs(real).max() / 127)
    w.data = np.clip(np.round(real / scale), -127, 127).astype(np.int8)
    w.quantization = Quantization(scale=np.array([scale], np.float32), zero_point=np.zeros(1, np.int64))
    check(one_core.save(model, tmp_path / "per_tensor.tflite"))


# ---------------------------------------------------------------------------------------------
# The fused fixed-point rescale against the step-by-step TFLite arithmetic of quant.py


def _multipliers(kind: str, rng: np.random.Generator, c: int) -> np.ndarray:
    if kind == "small":
        return rng.uniform(1e-5, 0.9, c)
    if kind == "powers_of_two":  # exact ties in the rounding shift
        return 2.0 ** -rng.integers(1, 25, c) * rng.choice([1.0, 1.5, 0.75], c)
    if kind == "above_one":  # left shifts
        return rng.uniform(0.4, 3.0, c)
    if kind == "mixed":  # right shifts of zero next to others
        return np.where(rng.random(c) < 0.5, rng.uniform(1e-4, 1e-3, c), rng.uniform(0.5, 1.0, c))
    return np.full(1, rng.uniform(1e-5, 0.9))


@pytest.mark.parametrize("kind", ["small", "powers_of_two", "above_one", "mixed", "per_tensor"])
def test_requantizer_matches_tflite_arithmetic(kind):
    rng = np.random.default_rng(len(kind))
    for _ in range(20):
        reals = _multipliers(kind, rng, int(rng.integers(2, 40)))
        zp = int(rng.integers(-128, 128))
        acc = rng.integers(-(2**24), 2**24, (64, reals.size)).astype(np.int64)
        acc[:3] = np.array([0, -1, 1])[:, None]
        mant, shift = quantize_multipliers(reals)
        want = np.clip(multiply_by_quantized_multiplier(acc, mant, shift) + zp, -128, 127).astype(np.int8)
        np.testing.assert_array_equal(Requantizer(reals, zp, -128, 127, np.int8)(acc.copy()), want)
