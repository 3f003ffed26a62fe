"""Activation, (de)quantization and normalization kernels against LiteRT's reference kernels:
float, int8 and int16x8 models made with TensorFlow (every int8 input value, a sweep of the
int16 range), plus hand-built models for what the converter does not emit (PRELU, ELU int8,
RELU_0_TO_1, SOFTMAX beta, requantization, per-channel and float16 DEQUANTIZE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opharness import check, random_inputs, run_litert, run_ours, tflite_model


class _LazyTF:
    """`tf` imported on first use: a warm model cache never loads TensorFlow."""

    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()

S4 = (2, 4, 4, 6)
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16).reshape(256, 256)


def rows_int8(seed: int = 0) -> np.ndarray:
    """Rows with wide, narrow and constant spreads (softmax-like kernels work per row)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(16, 16))
    x[1] = rng.integers(100, 128, size=16)
    x[2] = 7
    x[3, :] = -128
    x[3, 5] = 127
    x[4] = np.arange(-128, 128, 16)
    return x.astype(np.int8)


def rows_int16(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, size=(16, 16))
    x[1] = rng.integers(30000, 32768, size=16)
    x[2] = 7
    x[3, :] = -32768
    x[3, 5] = 32767
    x[4] = rng.integers(-300, 300, size=16)
    return x.astype(np.int16)


# --------------------------------------------------------------------------------------------
# TensorFlow-made models
# --------------------------------------------------------------------------------------------


def softmax_fn(a):
    return tf.nn.softmax(a)


def log_softmax_fn(a):
    return tf.nn.log_softmax(a)


def sigmoid_fn(a):
    return tf.sigmoid(a)


def tanh_fn(a):
    return tf.tanh(a)


def relu_fn(a):
    return tf.nn.relu(a)


def relu6_fn(a):
    return tf.nn.relu6(a * 4.0)


def relu1_fn(a):
    return tf.clip_by_value(a, -1.0, 1.0)


def leaky_fn(a):
    return tf.nn.leaky_relu(a, alpha=0.2)


def elu_fn(a):
    return tf.nn.elu(a)


def hard_swish_fn(a):
    return a * tf.nn.relu6(a * 3.0 + 3.0) / 6.0


def gelu_fn(a):
    return tf.nn.gelu(a * 2.0, approximate=False)


def gelu_approx_fn(a):
    return tf.nn.gelu(a * 2.0, approximate=True)


def l2norm_fn(a):
    return tf.math.l2_normalize(a, axis=-1)


def lrn_fn(a):
    return tf.nn.local_response_normalization(a, depth_radius=2, bias=1.0, alpha=0.5, beta=0.75)


FLOAT_FNS = [softmax_fn, log_softmax_fn, sigmoid_fn, tanh_fn, relu_fn, relu6_fn, relu1_fn, leaky_fn, hard_swish_fn, gelu_fn, gelu_approx_fn, l2norm_fn]


def check_against_default_kernels(path: Path, inputs: list[np.ndarray] | None = None) -> None:
    """For ELU, which LiteRT's reference op resolver lacks, and LRN, whose reference kernel
    drops a channel from each window: compare with LiteRT's default kernels."""
    xs = inputs if inputs is not None else random_inputs(path, np.random.default_rng(0))
    for g, w in zip(run_ours(path, xs), run_litert(path, xs, reference=False)):
        assert g.dtype == w.dtype and g.shape == w.shape
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * float(np.abs(w).max()))
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("fn", FLOAT_FNS)
def test_float(fn):
    path = tflite_model(fn, [(S4, np.float32)])
    check(path)
    check(path, inputs=[np.random.default_rng(1).standard_normal(S4).astype(np.float32) * 8])


def test_softmax_float_shapes():
    check(tflite_model(softmax_fn, [((3, 1000), np.float32)]), rtol=1e-4)
    check(tflite_model(softmax_fn, [((7,), np.float32)]))


# The int8 tables cover every input value; the row-wise kernels get rows of different spreads.
INT8_ELEMENTWISE = [sigmoid_fn, tanh_fn, relu_fn, relu6_fn, relu1_fn, leaky_fn, hard_swish_fn, gelu_fn, gelu_approx_fn]


def test_elu():
    check_against_default_kernels(tflite_model(elu_fn, [(S4, np.float32)]))
    # int8 models get DEQUANTIZE -> ELU -> QUANTIZE from the converter; see test_elu_int8
    check_against_default_kernels(tflite_model(elu_fn, [((16, 16), np.float32)], quantize="int8"), [ALL_INT8])


@pytest.mark.parametrize("fn", INT8_ELEMENTWISE)
def test_int8_elementwise(fn):
    path = tflite_model(fn, [((16, 16), np.float32)], quantize="int8")
    check(path, inputs=[ALL_INT8])


@pytest.mark.parametrize("fn", [softmax_fn, log_softmax_fn, l2norm_fn])
def test_int8_rows(fn):
    path = tflite_model(fn, [((16, 16), np.float32)], quantize="int8")
    check(path)
    check(path, inputs=[rows_int8()])
    check(tflite_model(fn, [(S4, np.float32)], quantize="int8"))


INT16_ELEMENTWISE = [relu_fn, relu6_fn, leaky_fn, gelu_fn, gelu_approx_fn, hard_swish_fn]


@pytest.mark.parametrize("fn", INT16_ELEMENTWISE)
def test_int16_elementwise(fn):
    path = tflite_model(fn, [((256, 256), np.float32)], quantize="int16x8")
    check(path, inputs=[ALL_INT16])


@pytest.mark.parametrize("fn", [sigmoid_fn, tanh_fn])
def test_int16_logistic_tanh(fn):
    # TFLite interpolates a 256-entry table of sigmoid(i/24) that no formula reproduces; the
    # runtime's was read off LiteRT (scripts/derive_sigmoid_table.py). Every int16 input, exact.
    check(tflite_model(fn, [((256, 256), np.float32)], quantize="int16x8"), inputs=[ALL_INT16])


def test_int16_softmax():
    path = tflite_model(softmax_fn, [((16, 16), np.float32)], quantize="int16x8")
    check(path)
    check(path, inputs=[rows_int16()])
    check(tflite_model(softmax_fn, [(S4, np.float32)], quantize="int16x8"))


# --------------------------------------------------------------------------------------------
# Hand-built models
# --------------------------------------------------------------------------------------------


def _quant(scale, zero, axis: int = 0):
    from one_core.ir import Quantization

    return Quantization(
        scale=np.atleast_1d(np.asarray(scale, np.float32)),
        zero_point=np.atleast_1d(np.asarray(zero, np.int64)),
        quantized_dimension=axis,
    )


def _model(tmp_path: Path, name: str, build) -> Path:
    """A one-subgraph model: build(sg) adds tensors and operators and returns (inputs, outputs)."""
    import one_core
    from one_core.ir import Model, Subgraph

    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    ins, outs = build(sg)
    sg.inputs = ins
    sg.outputs = outs
    path = tmp_path / f"{name}.tflite"
    one_core.save(model, path)
    return path


def _unary(tmp_path: Path, op: str, options, in_dtype, in_q, out_dtype, out_q, shape=(16, 16)) -> Path:
    from one_core.ir import Operator, Tensor

    def build(sg):
        x = sg.add_tensor(Tensor("x", in_dtype, shape, quantization=in_q))
        y = sg.add_tensor(Tensor("y", out_dtype, shape, quantization=out_q))
        sg.add_operator(Operator(op, [x], [y], options))
        return [x], [y]

    return _model(tmp_path, op.lower(), build)


def test_relu_0_to_1(tmp_path):
    from one_core.ir import DType

    check(_unary(tmp_path, "RELU_0_TO_1", None, DType.FLOAT32, None, DType.FLOAT32, None))
    path = _unary(tmp_path, "RELU_0_TO_1", None, DType.INT8, _quant(0.02, -3), DType.INT8, _quant(0.01, -128))
    check(path, inputs=[ALL_INT8])


def test_elu_int8(tmp_path):
    from one_core.ir import DType

    path = _unary(tmp_path, "ELU", None, DType.INT8, _quant(0.04, 5), DType.INT8, _quant(0.03, -90))
    check_against_default_kernels(path, [ALL_INT8])


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_softmax_beta(tmp_path, beta):
    from one_core.ir import DType, options

    opts = options.SoftmaxOptions(beta=beta)
    check(_unary(tmp_path, "SOFTMAX", opts, DType.FLOAT32, None, DType.FLOAT32, None))
    path = _unary(tmp_path, "SOFTMAX", opts, DType.INT8, _quant(0.1, 3), DType.INT8, _quant(1 / 256, -128))
    check(path, inputs=[rows_int8(2)])
    path = _unary(tmp_path, "SOFTMAX", opts, DType.INT16, _quant(0.001, 0), DType.INT16, _quant(1 / 32768, 0))
    check(path, inputs=[rows_int16(2)])


def test_uint8_activations(tmp_path):
    from one_core.ir import DType

    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for op, out_q in [("LOGISTIC", _quant(1 / 256, 0)), ("TANH", _quant(1 / 128, 128)), ("RELU", _quant(0.03, 10)), ("HARD_SWISH", _quant(0.03, 20))]:
        check(_unary(tmp_path, op, None, DType.UINT8, _quant(0.05, 120), DType.UINT8, out_q), inputs=[x])


def _prelu_model(tmp_path: Path, quantized: bool) -> Path:
    from one_core.ir import DType, Operator, Tensor

    alpha = np.linspace(-0.3, 0.6, 6, dtype=np.float32).reshape(1, 1, 6)

    def build(sg):
        if quantized:
            qa = _quant(0.005, -8)
            alpha_q = np.clip(np.round(alpha / 0.005) - 8, -128, 127).astype(np.int8)
            x = sg.add_tensor(Tensor("x", DType.INT8, S4, quantization=_quant(0.03, 4)))
            a = sg.add_tensor(Tensor("alpha", DType.INT8, alpha.shape, data=alpha_q, quantization=qa))
            y = sg.add_tensor(Tensor("y", DType.INT8, S4, quantization=_quant(0.025, -10)))
        else:
            x = sg.add_tensor(Tensor("x", DType.FLOAT32, S4))
            a = sg.add_tensor(Tensor("alpha", DType.FLOAT32, alpha.shape, data=alpha))
            y = sg.add_tensor(Tensor("y", DType.FLOAT32, S4))
        sg.add_operator(Operator("PRELU", [x, a], [y]))
        return [x], [y]

    return _model(tmp_path, "prelu_q" if quantized else "prelu", build)


def test_prelu(tmp_path):
    check(_prelu_model(tmp_path, False))
    path = _prelu_model(tmp_path, True)
    check(path)
    check(path, inputs=[np.resize(np.arange(-128, 128, dtype=np.int8), S4)])


@pytest.mark.parametrize(
    "in_dtype,in_q,out_dtype,out_q",
    [
        ("INT8", (0.05, 3), "INT8", (0.02, -20)),
        ("INT8", (0.05, 3), "UINT8", (0.05, 131)),
        ("UINT8", (0.04, 128), "INT8", (0.03, 0)),
        ("INT16", (0.001, 0), "INT16", (0.0003, 0)),
        ("INT16", (0.001, 0), "INT8", (0.1, -5)),
    ],
)
def test_requantize(tmp_path, in_dtype, in_q, out_dtype, out_q):
    from one_core.ir import DType

    src, dst = DType[in_dtype], DType[out_dtype]
    path = _unary(tmp_path, "QUANTIZE", None, src, _quant(*in_q), dst, _quant(*out_q))
    if src == DType.INT16:
        path = _unary(tmp_path, "QUANTIZE", None, src, _quant(*in_q), dst, _quant(*out_q), shape=ALL_INT16.shape)
        x = ALL_INT16
    else:
        x = np.arange(256).astype(src.numpy).reshape(16, 16)
    check(path, inputs=[x])


@pytest.mark.parametrize("dtype,q", [("INT8", (0.02, -4)), ("UINT8", (0.3, 128)), ("INT16", (1e-4, 0))])
def test_quantize_dequantize_float(tmp_path, dtype, q):
    from one_core.ir import DType

    dt = DType[dtype]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 16)) * 3).astype(np.float32)
    # exact halves of the scale test the rounding
    x.ravel()[:16] = (np.arange(16) - 8 + 0.5) * np.float32(q[0])
    check(_unary(tmp_path, "QUANTIZE", None, DType.FLOAT32, None, dt, _quant(*q)), inputs=[x])
    xs = ALL_INT16 if dt == DType.INT16 else np.arange(256).astype(dt.numpy).reshape(16, 16)
    shape = xs.shape
    check(_unary(tmp_path, "DEQUANTIZE", None, dt, _quant(*q), DType.FLOAT32, None, shape=shape), inputs=[xs])


def test_quantize_per_channel(tmp_path):
    from one_core.ir import DType

    q = _quant([0.01, 0.02, 0.05, 0.1, 0.2, 0.3], [0, 1, -2, 3, 0, -5], axis=3)
    path = _unary(tmp_path, "QUANTIZE", None, DType.FLOAT32, None, DType.INT8, q, shape=S4)
    check(path)


def _dequantize_constant_model(tmp_path: Path, kind: str) -> Path:
    """DEQUANTIZE of a constant weight (float16, or per-channel int8) added to the input."""
    from one_core.ir import DType, Operator, Tensor

    rng = np.random.default_rng(0)
    w = rng.standard_normal(S4).astype(np.float32)

    def build(sg):
        x = sg.add_tensor(Tensor("x", DType.FLOAT32, S4))
        if kind == "fp16":
            c = sg.add_tensor(Tensor("w16", DType.FLOAT16, S4, data=w.astype(np.float16)))
        else:
            scales = (np.abs(w).max(axis=(0, 1, 2)) / 127).astype(np.float32)
            wq = np.clip(np.round(w / scales), -127, 127).astype(np.int8)
            c = sg.add_tensor(Tensor("w8", DType.INT8, S4, data=wq, quantization=_quant(scales, np.zeros(6, np.int64), axis=3)))
        wf = sg.add_tensor(Tensor("w", DType.FLOAT32, S4))
        y = sg.add_tensor(Tensor("y", DType.FLOAT32, S4))
        sg.add_operator(Operator("DEQUANTIZE", [c], [wf]))
        from one_core.ir import options

        sg.add_operator(Operator("ADD", [x, wf], [y], options.AddOptions()))
        return [x], [y]

    return _model(tmp_path, f"deq_{kind}", build)


@pytest.mark.parametrize("kind", ["fp16", "int8_per_channel"])
def test_dequantize_constant(tmp_path, kind):
    check(_dequantize_constant_model(tmp_path, kind))


def test_local_response_normalization_follows_tensorflow():
    """LiteRT's default kernel and TensorFlow sum the window [c - r, c + r]; so do we."""
    import tensorflow as tf

    path = tflite_model(lrn_fn, [(S4, np.float32)])
    x = np.random.default_rng(1).standard_normal(S4).astype(np.float32) * 8
    check_against_default_kernels(path, [x])
    (ours,) = run_ours(path, [x])
    np.testing.assert_allclose(ours, lrn_fn(tf.constant(x)).numpy(), rtol=1e-5, atol=1e-6)
