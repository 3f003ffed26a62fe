"""FULLY_CONNECTED, BATCH_MATMUL and EMBEDDING_LOOKUP against LiteRT's reference kernels:
float32, int8, int16x8, uint8 (built with the IR) and the hybrid kernels of dynamic-range
quantization (float activations, int8 weights)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from opharness import check, run_litert, run_ours, tflite_model
from test_conv import one_op_tflite, qtensor

import one_core
from one_core.ir import DType, Tensor
from one_core.ir.options import ActivationFunctionType, FullyConnectedOptions

QUANT = [None, "int8", "int16x8"]


# ---------------------------------------------------------------------------------------------
# FULLY_CONNECTED


def fc_bias_relu(x):
    w = tf.constant(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32) * 0.3)
    b = tf.constant(np.random.default_rng(1).standard_normal(8).astype(np.float32))
    return tf.nn.relu(tf.matmul(x, w) + b)


def fc_no_bias(x):
    w = tf.constant(np.random.default_rng(2).standard_normal((24, 10)).astype(np.float32) * 0.3)
    return tf.matmul(x, w)


def fc_keep_dims(x):
    w = tf.constant(np.random.default_rng(3).standard_normal((12, 7)).astype(np.float32) * 0.3)
    b = tf.constant(np.random.default_rng(4).standard_normal(7).astype(np.float32))
    return tf.matmul(x, w) + b


def fc_long(x):
    w = tf.constant(np.random.default_rng(5).standard_normal((512, 64)).astype(np.float32) * 0.05)
    b = tf.constant(np.random.default_rng(6).standard_normal(64).astype(np.float32))
    return tf.nn.relu6(tf.matmul(x, w) + b)


FC_CASES = [
    (fc_bias_relu, (3, 16)),
    (fc_no_bias, (2, 24)),
    (fc_keep_dims, (2, 5, 12)),
    (fc_long, (4, 512)),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", FC_CASES, ids=[f.__name__ for f, _ in FC_CASES])
def test_fully_connected(fn, shape, quantize):
    path = tflite_model(fn, [(shape, np.float32)], quantize=quantize)
    assert "FULLY_CONNECTED" in {op.name for op in one_core.load(path).main.operators}
    check(path)


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
def test_fully_connected_numpy_requantization(quantize, monkeypatch):
    """The numpy twin of the compiled requantization, used when numba is not installed."""
    from one_backend_runtime.kernels import accel

    monkeypatch.setattr(accel, "ENABLED", False)
    check(tflite_model(fc_long, [((4, 512), np.float32)], quantize=quantize))


def fc_hybrid(x):
    w = tf.constant(np.random.default_rng(7).standard_normal((64, 48)).astype(np.float32) * 0.2)
    b = tf.constant(np.random.default_rng(8).standard_normal(48).astype(np.float32))
    return tf.nn.relu(tf.matmul(x, w) + b)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fully_connected_hybrid(tmp_path, asymmetric):
    """Dynamic-range quantization: int8 weights with scales, float activations."""
    model = one_core.load(tflite_model(fc_hybrid, [((3, 64), np.float32)], quantize="dynamic"))
    (fc,) = [op for op in model.main.operators if op.name == "FULLY_CONNECTED"]
    assert fc.inputs[0].dtype == DType.FLOAT32 and fc.inputs[1].dtype == DType.INT8
    fc.options.asymmetric_quantize_inputs = asymmetric
    path = one_core.save(model, tmp_path / "hybrid.tflite")
    check(path, rtol=1e-5)


def test_uint8_fully_connected(tmp_path):
    rng = np.random.default_rng(3)
    x = qtensor("x", DType.UINT8, (3, 20), 0.05, 121)
    w = qtensor("w", DType.UINT8, (9, 20), 0.02, 133, rng.integers(60, 200, (9, 20)).astype(np.uint8))
    b = qtensor("b", DType.INT32, (9,), 0.05 * 0.02, 0, rng.integers(-4000, 4000, 9).astype(np.int32))
    y = qtensor("y", DType.UINT8, (3, 9), 0.06, 119)
    opts = FullyConnectedOptions(fused_activation_function=ActivationFunctionType.RELU)
    check(one_op_tflite(tmp_path / "fc.tflite", "FULLY_CONNECTED", opts, [x, w, b], [y]))


# ---------------------------------------------------------------------------------------------
# BATCH_MATMUL


def bmm_plain(a, b):
    return tf.matmul(a, b)


def bmm_adjoint(a, b):
    return tf.matmul(a, b, transpose_a=True, transpose_b=True)


def bmm_broadcast(a, b):
    return tf.matmul(a, b)


def bmm_constant_rhs(a):
    b = tf.constant(np.random.default_rng(9).standard_normal((2, 6, 5)).astype(np.float32))
    return tf.matmul(a, b)


BMM_CASES = [
    (bmm_plain, [((2, 3, 4, 6), np.float32), ((2, 3, 6, 5), np.float32)]),
    (bmm_adjoint, [((2, 6, 4), np.float32), ((2, 5, 6), np.float32)]),
    (bmm_broadcast, [((2, 1, 3, 8), np.float32), ((3, 8, 5), np.float32)]),
    (bmm_constant_rhs, [((2, 4, 6), np.float32)]),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,specs", BMM_CASES, ids=[f.__name__ for f, _ in BMM_CASES])
def test_batch_matmul(fn, specs, quantize):
    path = tflite_model(fn, specs, quantize=quantize)
    assert "BATCH_MATMUL" in {op.name for op in one_core.load(path).main.operators}
    check(path)


# ---------------------------------------------------------------------------------------------
# EMBEDDING_LOOKUP (the converter makes GATHER; built with the IR)


@pytest.mark.parametrize("kind", ["float32", "int8", "int8->float32", "uint8->float32"])
def test_embedding_lookup(tmp_path, kind):
    rng = np.random.default_rng(11)
    ids = Tensor("ids", DType.INT32, (6,))
    if kind == "float32":
        value = Tensor("value", DType.FLOAT32, (10, 3, 2), data=rng.standard_normal((10, 3, 2)).astype(np.float32))
        out = Tensor("y", DType.FLOAT32, (6, 3, 2))
    elif kind == "int8":
        value = qtensor("value", DType.INT8, (10, 4), 0.1, 3, rng.integers(-128, 128, (10, 4)).astype(np.int8))
        out = qtensor("y", DType.INT8, (6, 4), 0.1, 3)
    else:
        dt, np_t = (DType.INT8, np.int8) if kind.startswith("int8") else (DType.UINT8, np.uint8)
        info = np.iinfo(np_t)
        data = rng.integers(info.min, int(info.max) + 1, (10, 4)).astype(np_t)
        value = qtensor("value", dt, (10, 4), 0.037, 0, data)
        out = Tensor("y", DType.FLOAT32, (6, 4))
    path = one_op_tflite(tmp_path / "emb.tflite", "EMBEDDING_LOOKUP", None, [ids, value], [out])
    lookup = np.array([3, 0, 9, 9, 5, 1], np.int32)
    check(path, inputs=[lookup])


def test_embedding_lookup_out_of_range(tmp_path):
    ids = Tensor("ids", DType.INT32, (2,))
    value = Tensor("value", DType.FLOAT32, (4, 2), data=np.ones((4, 2), np.float32))
    path = one_op_tflite(tmp_path / "emb.tflite", "EMBEDDING_LOOKUP", None, [ids, value], [Tensor("y", DType.FLOAT32, (2, 2))])
    with pytest.raises(one_core.OneError, match="out of bounds"):
        run_ours(path, [np.array([1, 4], np.int32)])
    assert run_litert(path, [np.array([1, 3], np.int32)])[0].shape == (2, 2)


def bmm_hybrid(a):
    b = tf.constant(np.random.default_rng(12).standard_normal((2, 64, 32)).astype(np.float32))
    return tf.matmul(a, b)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_batch_matmul_hybrid(tmp_path, asymmetric):
    model = one_core.load(tflite_model(bmm_hybrid, [((2, 3, 64), np.float32)], quantize="dynamic"))
    (op,) = [op for op in model.main.operators if op.name == "BATCH_MATMUL"]
    assert op.inputs[0].dtype == DType.FLOAT32 and op.inputs[1].dtype == DType.INT8
    op.options.asymmetric_quantize_inputs = asymmetric
    check(one_core.save(model, tmp_path / "hybrid.tflite"))


def test_fully_connected_runtime_weights(tmp_path):
    """Weights that are an input, not a constant (float), with keep_num_dims."""
    x = Tensor("x", DType.FLOAT32, (2, 3, 8))
    w = Tensor("w", DType.FLOAT32, (5, 8))
    b = Tensor("b", DType.FLOAT32, (5,), data=np.arange(5, dtype=np.float32))
    y = Tensor("y", DType.FLOAT32, (2, 3, 5))
    opts = FullyConnectedOptions(fused_activation_function=ActivationFunctionType.RELU, keep_num_dims=True)
    check(one_op_tflite(tmp_path / "fc.tflite", "FULLY_CONNECTED", opts, [x, w, b], [y]))
