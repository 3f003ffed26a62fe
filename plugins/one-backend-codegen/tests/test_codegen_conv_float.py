"""float32 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in generated C against LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c
from opharness import tflite_model


def _w(*shape):
    w = np.random.default_rng(len(shape) * 7 + shape[-1]).standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
    return tf.constant(w.astype(np.float32))


def conv_3x3_same_relu(x):
    return tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 5, 19), strides=1, padding="SAME") + _w(19))


def conv_1x1(x):
    return tf.nn.conv2d(x, _w(1, 1, 5, 40), strides=1, padding="VALID") + _w(40)


def conv_5x3_s2_valid_relu6(x):
    return tf.nn.relu6(tf.nn.conv2d(x, _w(5, 3, 5, 33), strides=(2, 3), padding="VALID"))


def conv_dilated(x):
    return tf.nn.conv2d(x, _w(3, 3, 5, 8), strides=1, padding="SAME", dilations=2)


def conv_1x1_s2(x):
    return tf.nn.conv2d(x, _w(1, 1, 5, 17), strides=2, padding="SAME")


def dw_3x3_same(x):
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, _w(3, 3, 5, 1), strides=(1, 1, 1, 1), padding="SAME") + _w(5))


def dw_3x3_s2_mult2(x):
    return tf.nn.depthwise_conv2d(x, _w(3, 3, 5, 2), strides=(1, 2, 2, 1), padding="VALID")


def dense(x):
    return tf.nn.relu(tf.matmul(tf.reshape(x, (2, -1)), _w(11 * 13 * 5, 21)) + _w(21))


@pytest.mark.parametrize("fn", [conv_3x3_same_relu, conv_1x1, conv_5x3_s2_valid_relu6, conv_dilated, conv_1x1_s2,
                                dw_3x3_same, dw_3x3_s2_mult2, dense], ids=lambda f: f.__name__)
def test_float_conv(fn) -> None:
    check_c(tflite_model(fn, [((2, 11, 13, 5), np.float32)]))
