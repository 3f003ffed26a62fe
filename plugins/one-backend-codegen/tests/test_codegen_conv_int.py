"""Integer CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in generated C: int8 (per-channel),
int16x8 and uint8 (per-tensor, built with the IR), exactly equal to LiteRT and the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c
from opharness import tflite_model
from test_conv import one_op_tflite, qtensor

from one_core.ir import DType
from one_core.ir.options import (
    ActivationFunctionType,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Padding,
)


def _w(*shape):
    w = np.random.default_rng(len(shape) * 7 + shape[-1]).standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
    return tf.constant(w.astype(np.float32))


def conv_3x3_same_relu(x):
    return tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 40, 19), strides=1, padding="SAME") + _w(19))


def conv_1x1(x):
    return tf.nn.conv2d(x, _w(1, 1, 40, 40), strides=1, padding="VALID") + _w(40)


def conv_5x3_s2_valid_relu6(x):
    return tf.nn.relu6(tf.nn.conv2d(x, _w(5, 3, 40, 33), strides=(2, 3), padding="VALID"))


def conv_dilated(x):
    return tf.nn.conv2d(x, _w(3, 3, 40, 8), strides=1, padding="SAME", dilations=2)


def dw_3x3_same(x):
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, _w(3, 3, 40, 1), strides=(1, 1, 1, 1), padding="SAME") + _w(40))


def dw_3x3_s2_mult2(x):
    return tf.nn.depthwise_conv2d(x, _w(3, 3, 40, 2), strides=(1, 2, 2, 1), padding="VALID")


def dense(x):
    return tf.nn.relu(tf.matmul(tf.reshape(x, (2, -1)), _w(11 * 13 * 40, 21)) + _w(21))


FNS = [conv_3x3_same_relu, conv_1x1, conv_5x3_s2_valid_relu6, conv_dilated, dw_3x3_same, dw_3x3_s2_mult2, dense]


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_quantized_conv(fn, quantize) -> None:
    check_c(tflite_model(fn, [((2, 11, 13, 40), np.float32)], quantize=quantize))


def _u8_model(tmp_path, kind: str, act: int):
    rng = np.random.default_rng(7)
    x = qtensor("x", DType.UINT8, (1, 9, 8, 20), 0.05, 120)
    if kind == "conv":
        w = qtensor("w", DType.UINT8, (22, 3, 3, 20), 0.01, 131, rng.integers(80, 180, (22, 3, 3, 20)).astype(np.uint8))
        b = qtensor("b", DType.INT32, (22,), 0.05 * 0.01, 0, rng.integers(-3000, 3000, 22).astype(np.int32))
        y = qtensor("y", DType.UINT8, (1, 5, 4, 22), 0.04, 128)
        opts = Conv2DOptions(padding=Padding.SAME, stride_w=2, stride_h=2, fused_activation_function=act)
        return one_op_tflite(tmp_path / "conv.tflite", "CONV_2D", opts, [x, w, b], [y])
    if kind == "depthwise":
        w = qtensor("w", DType.UINT8, (1, 3, 3, 40), 0.02, 127, rng.integers(60, 200, (1, 3, 3, 40)).astype(np.uint8))
        b = qtensor("b", DType.INT32, (40,), 0.05 * 0.02, 0, rng.integers(-2000, 2000, 40).astype(np.int32))
        y = qtensor("y", DType.UINT8, (1, 9, 8, 40), 0.03, 125)
        opts = DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1, depth_multiplier=2,
                                      fused_activation_function=act)
        return one_op_tflite(tmp_path / "dw.tflite", "DEPTHWISE_CONV_2D", opts, [x, w, b], [y])
    x = qtensor("x", DType.UINT8, (3, 20), 0.05, 121)
    w = qtensor("w", DType.UINT8, (19, 20), 0.02, 133, rng.integers(60, 200, (19, 20)).astype(np.uint8))
    b = qtensor("b", DType.INT32, (19,), 0.05 * 0.02, 0, rng.integers(-4000, 4000, 19).astype(np.int32))
    y = qtensor("y", DType.UINT8, (3, 19), 0.06, 119)
    return one_op_tflite(tmp_path / "fc.tflite", "FULLY_CONNECTED", FullyConnectedOptions(fused_activation_function=act),
                         [x, w, b], [y])


@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc"])
@pytest.mark.parametrize("act", [ActivationFunctionType.NONE, ActivationFunctionType.RELU6])
def test_uint8_conv(tmp_path, kind, act) -> None:
    check_c(_u8_model(tmp_path, kind, int(act)))
