"""float32 pooling, resizing and reductions in generated C against LiteRT and the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c
from opharness import tflite_model

F = np.float32
X4 = (2, 11, 13, 6)


def avg_3x3_same(x):
    return tf.nn.avg_pool2d(x, 3, 1, "SAME")


def avg_3x2_s2_valid(x):
    return tf.nn.avg_pool2d(x, (3, 2), 2, "VALID")


def avg_2x2_s2_same_relu6(x):
    return tf.nn.relu6(tf.nn.avg_pool2d(x * 8, 2, 2, "SAME"))


def max_3x3_s2_same(x):
    return tf.nn.max_pool2d(x, 3, 2, "SAME")


def max_2x2_valid_relu(x):
    return tf.nn.relu(tf.nn.max_pool2d(x, 2, 2, "VALID"))


def global_avg(x):
    return tf.nn.avg_pool2d(x, (11, 13), 1, "VALID")


def resize_bilinear(x):
    return tf.compat.v1.image.resize_bilinear(x, (17, 9))


def resize_bilinear_align(x):
    return tf.compat.v1.image.resize_bilinear(x, (21, 25), align_corners=True)


def resize_bilinear_half(x):
    return tf.compat.v1.image.resize_bilinear(x, (22, 7), half_pixel_centers=True)


def resize_nearest(x):
    return tf.compat.v1.image.resize_nearest_neighbor(x, (17, 30))


def resize_nearest_align(x):
    return tf.compat.v1.image.resize_nearest_neighbor(x, (21, 25), align_corners=True)


def resize_nearest_half(x):
    return tf.compat.v1.image.resize_nearest_neighbor(x, (5, 26), half_pixel_centers=True)


SPATIAL = [avg_3x3_same, avg_3x2_s2_valid, avg_2x2_s2_same_relu6, max_3x3_s2_same, max_2x2_valid_relu, global_avg,
           resize_bilinear, resize_bilinear_align, resize_bilinear_half, resize_nearest, resize_nearest_align,
           resize_nearest_half]


@pytest.mark.parametrize("fn", SPATIAL, ids=lambda f: f.__name__)
def test_spatial(fn) -> None:
    check_c(tflite_model(fn, [(X4, F)]))


def mean_hw(x):
    return tf.reduce_mean(x, axis=[1, 2])


def mean_hw_keep(x):
    return tf.reduce_mean(x, axis=[1, 2], keepdims=True)


def mean_last_keep(x):
    return tf.reduce_mean(x, axis=-1, keepdims=True)


def mean_0_2(x):
    return tf.reduce_mean(x, axis=[0, 2])


def mean_all(x):
    return tf.reduce_mean(x, axis=[0, 1, 2, 3])


def sum_1_3(x):
    return tf.reduce_sum(x, axis=[1, 3])


def sum_hw_keep(x):
    return tf.reduce_sum(x, axis=[1, 2], keepdims=True)


def max_last(x):
    return tf.reduce_max(x, axis=-1)


def max_0_2_keep(x):
    return tf.reduce_max(x, axis=[0, 2], keepdims=True)


REDUCE = [mean_hw, mean_hw_keep, mean_last_keep, mean_0_2, mean_all, sum_1_3, sum_hw_keep, max_last, max_0_2_keep]


@pytest.mark.parametrize("fn", REDUCE, ids=lambda f: f.__name__)
def test_reduce(fn) -> None:
    check_c(tflite_model(fn, [(X4, F)]))


def test_mean_large_hw() -> None:
    """The hot case: a 56x56 NHWC mean."""
    check_c(tflite_model(mean_hw, [((1, 56, 56, 24), F)]))
