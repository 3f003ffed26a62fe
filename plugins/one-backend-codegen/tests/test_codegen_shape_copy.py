"""Byte-moving operators (any element type) in generated C against LiteRT and the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c
from opharness import tflite_model

F = np.float32
X4 = (2, 5, 7, 6)


def pad_hw(x):
    return tf.pad(x, [[0, 0], [1, 2], [3, 0], [0, 0]])


def pad_all(x):
    return tf.pad(x, [[1, 0], [0, 1], [2, 2], [1, 3]])


def padv2(x):
    return tf.pad(x, [[0, 0], [1, 1], [2, 0], [0, 0]], constant_values=-1.5)


def concat_c(x):
    return tf.concat([x, x * 2, x[..., :2]], axis=-1)


def concat_h(x):
    return tf.concat([x, x[:, :2] + 1], axis=1)


def concat_0(x):
    return tf.concat([x * 3, x], axis=0)


def transpose(x):
    return tf.transpose(x, [0, 3, 1, 2])


def transpose_rev(x):
    return tf.transpose(x, [3, 2, 1, 0])


def transpose_keep_c(x):
    return tf.transpose(x, [0, 2, 1, 3])


def slice_(x):
    return tf.slice(x, [0, 1, 2, 1], [2, 3, -1, 4])


def strided(x):
    return x[:, 1::2, ::-3, 1:5]


def strided_shrink(x):
    return x[1, :, 3, ::2]


def strided_newaxis(x):
    return x[:, None, 2:, ..., -1]


def split(x):
    a, b, c = tf.split(x, 3, axis=-1)
    return a * 2 + b * c


def split_v(x):
    a, b = tf.split(x, [2, 5], axis=2)
    return tf.reduce_sum(a, axis=2) + tf.reduce_max(b, axis=2)


def pack(x):
    return tf.stack([x, x * 2, x + 1], axis=2)


def unpack(x):
    a, b = tf.unstack(x, axis=0)
    return a - b


OPS = [pad_hw, pad_all, padv2, concat_c, concat_h, concat_0, transpose, transpose_rev, transpose_keep_c, slice_,
       strided, strided_shrink, strided_newaxis, split, split_v, pack, unpack]


@pytest.mark.parametrize("fn", OPS, ids=lambda f: f.__name__)
def test_float(fn) -> None:
    check_c(tflite_model(fn, [(X4, F)]))


def int_ops(x):
    y = tf.transpose(tf.pad(x, [[0, 0], [1, 1], [0, 2], [0, 0]]), [0, 2, 1, 3])
    return tf.concat([y[:, ::2], y[:, 1::3]], axis=1)


def test_int32() -> None:
    check_c(tflite_model(int_ops, [(X4, np.int32)]))


def int8_moves(x):
    y = tf.pad(tf.transpose(x, [0, 2, 1, 3]), [[0, 0], [1, 0], [0, 2], [0, 0]])
    return tf.concat([y, y[:, ::-2]], axis=1)


def test_int8_quantized() -> None:
    check_c(tflite_model(int8_moves, [(X4, F)], quantize="int8"))
