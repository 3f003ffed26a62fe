"""float32 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in generated C against LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c
from opharness import tflite_model


#: Input channels: several 16-channel weight panels and partial register tiles.
C = 40
SHAPE = (2, 11, 13, C)


def _w(*shape):
    w = np.random.default_rng(len(shape) * 7 + shape[-1]).standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
    return tf.constant(w.astype(np.float32))


def conv_3x3_same_relu(x):
    return tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, C, 19), strides=1, padding="SAME") + _w(19))


def conv_1x1(x):
    return tf.nn.conv2d(x, _w(1, 1, C, 40), strides=1, padding="VALID") + _w(40)


def conv_5x3_s2_valid_relu6(x):
    return tf.nn.relu6(tf.nn.conv2d(x, _w(5, 3, C, 33), strides=(2, 3), padding="VALID"))


def conv_dilated(x):
    return tf.nn.conv2d(x, _w(3, 3, C, 8), strides=1, padding="SAME", dilations=2)


def conv_1x1_s2(x):
    return tf.nn.conv2d(x, _w(1, 1, C, 17), strides=2, padding="SAME")


def dw_3x3_same(x):
    return tf.nn.relu6(tf.nn.depthwise_conv2d(x, _w(3, 3, C, 1), strides=(1, 1, 1, 1), padding="SAME") + _w(C))


def dw_3x3_s2_mult2(x):
    return tf.nn.depthwise_conv2d(x, _w(3, 3, C, 2), strides=(1, 2, 2, 1), padding="VALID")


def dense(x):
    return tf.nn.relu(tf.matmul(tf.reshape(x, (2, -1)), _w(11 * 13 * C, 21)) + _w(21))


FNS = [conv_3x3_same_relu, conv_1x1, conv_5x3_s2_valid_relu6, conv_dilated, conv_1x1_s2, dw_3x3_same, dw_3x3_s2_mult2,
       dense]


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_float_conv(fn) -> None:
    check_c(tflite_model(fn, [(SHAPE, np.float32)]))
