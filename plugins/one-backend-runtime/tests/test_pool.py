"""AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D against LiteRT's reference kernels: float32,
int8, int16x8, and uint8 and L2 pooling built with the IR (the converter makes neither)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from opharness import check, tflite_model
from test_conv import one_op_tflite, qtensor

from one_core.ir import DType, Tensor
from one_core.ir.options import ActivationFunctionType, Padding, Pool2DOptions

QUANT = [None, "int8", "int16x8"]


def avg_3x3_same(x):
    return tf.nn.avg_pool2d(x, ksize=3, strides=1, padding="SAME")


def avg_2x2_valid(x):
    return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="VALID")


def avg_odd_same_relu(x):
    return tf.nn.relu(tf.nn.avg_pool2d(x, ksize=(3, 2), strides=(2, 3), padding="SAME"))


def avg_global(x):
    return tf.nn.avg_pool2d(x, ksize=(7, 6), strides=1, padding="VALID")


def max_3x3_s2_same(x):
    return tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")


def max_2x2_valid_relu6(x):
    return tf.nn.relu6(tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID"))


def max_large(x):
    return tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")


CASES = [
    (avg_3x3_same, (2, 7, 8, 3)),
    (avg_2x2_valid, (1, 9, 8, 4)),
    (avg_odd_same_relu, (1, 11, 10, 5)),
    (avg_global, (2, 7, 6, 16)),
    (max_3x3_s2_same, (2, 9, 10, 3)),
    (max_2x2_valid_relu6, (1, 8, 9, 4)),
    (max_large, (1, 56, 56, 64)),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", CASES, ids=[f.__name__ for f, _ in CASES])
def test_pool(fn, shape, quantize):
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


def _pool(tmp_path, name, dtype, options):
    if dtype == DType.FLOAT32:
        x, y = Tensor("x", dtype, (2, 9, 8, 3)), Tensor("y", dtype, (2, 5, 4, 3))
    else:
        x, y = qtensor("x", dtype, (2, 9, 8, 3), 0.05, 117), qtensor("y", dtype, (2, 5, 4, 3), 0.05, 117)
    return one_op_tflite(tmp_path / "pool.tflite", name, options, [x], [y])


@pytest.mark.parametrize("act", [ActivationFunctionType.NONE, ActivationFunctionType.RELU])
@pytest.mark.parametrize("padding", [Padding.SAME, Padding.VALID])
def test_l2_pool(tmp_path, padding, act):
    opts = Pool2DOptions(padding=padding, stride_w=2, stride_h=2, filter_width=3 if padding == Padding.SAME else 1,
                         filter_height=3 if padding == Padding.SAME else 1, fused_activation_function=act)
    check(_pool(tmp_path, "L2_POOL_2D", DType.FLOAT32, opts))


@pytest.mark.parametrize("name", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("act", [ActivationFunctionType.NONE, ActivationFunctionType.RELU6])
def test_uint8_pool(tmp_path, name, act):
    opts = Pool2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, filter_width=3, filter_height=3,
                         fused_activation_function=act)
    check(_pool(tmp_path, name, DType.UINT8, opts))
