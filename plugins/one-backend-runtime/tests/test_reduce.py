"""Reductions and scans against LiteRT's reference kernels: MEAN, SUM, REDUCE_MAX/MIN/PROD/
ANY/ALL (negative axes, keep_dims, 4-D mean over height and width), ARG_MAX, ARG_MIN, TOPK_V2
and CUMSUM, in float32, int32, int8 and int16x8 where TFLite has them."""

from __future__ import annotations

import numpy as np
import pytest
from opharness import check, random_inputs, run_litert, run_ours, tflite_model


class _LazyTF:
    """`tf` imported on first use: a warm model cache never loads TensorFlow."""

    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()

S4 = (2, 5, 6, 8)


def mean_hw(a):
    return tf.reduce_mean(a, axis=[1, 2], keepdims=True)


def mean_hw_flat(a):
    return tf.reduce_mean(a, axis=[2, 1])


def mean_last(a):
    return tf.reduce_mean(a, axis=-1)


def mean_mixed(a):
    return tf.reduce_mean(a, axis=[0, -2], keepdims=True)


def sum_fn(a):
    return tf.reduce_sum(a, axis=[0, 2])


def sum_all(a):
    return tf.reduce_sum(a, axis=[0, 1, 2, 3], keepdims=True)


def max_fn(a):
    return tf.reduce_max(a, axis=[1])


def min_fn(a):
    return tf.reduce_min(a, axis=[-1, 1], keepdims=True)


def prod_fn(a):
    return tf.reduce_prod(a * 0.25 + 1.0, axis=[3])


def prod_short(a):
    return tf.reduce_prod(a, axis=[1])


REDUCERS = [mean_hw, mean_hw_flat, mean_last, mean_mixed, sum_fn, sum_all, max_fn, min_fn]


@pytest.mark.parametrize("fn", REDUCERS + [prod_fn])
def test_reduce_float(fn):
    path = tflite_model(fn, [(S4, np.float32)])
    check(path)
    check(path, seed=1)


def wide_inputs(quantize: str, seed: int = 2) -> list[np.ndarray]:
    info = np.iinfo(np.int8 if quantize == "int8" else np.int16)
    return [np.random.default_rng(seed).integers(info.min, info.max + 1, size=S4).astype(info.dtype)]


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn", [mean_hw, mean_hw_flat, mean_last, mean_mixed, max_fn, min_fn, prod_short])
def test_reduce_quantized(fn, quantize):
    path = tflite_model(fn, [(S4, np.float32)], quantize=quantize)
    check(path)
    check(path, inputs=wide_inputs(quantize))


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn", [sum_fn, sum_all])
def test_sum_quantized(fn, quantize):
    # LiteRT 2.3.0's reference SUM runs its uint8 code on int8/int16 data (see reduce.py):
    # compare with LiteRT's default kernels, which compute SUM correctly.
    path = tflite_model(fn, [(S4, np.float32)], quantize=quantize)
    normal = random_inputs(path, np.random.default_rng(5))
    for xs in (normal, wide_inputs(quantize, 3), wide_inputs(quantize, 4)):
        np.testing.assert_array_equal(run_ours(path, xs)[0], run_litert(path, xs, reference=False)[0])


def test_mean_long_reduction():
    check(tflite_model(mean_hw, [((1, 56, 56, 24), np.float32)]), rtol=1e-4)
    check(tflite_model(mean_hw, [((1, 56, 56, 24), np.float32)], quantize="int8"))


def int_reductions(a):
    return (
        tf.reduce_sum(a, axis=[1]),
        tf.reduce_max(a, axis=[-1], keepdims=True),
        tf.reduce_min(a, axis=[0, 2]),
        tf.reduce_prod(a, axis=[3]),
        tf.reduce_mean(a, axis=[2]),
    )


def test_reduce_int32():
    x = np.random.default_rng(0).integers(-9, 10, size=(2, 3, 4, 3)).astype(np.int32)
    check(tflite_model(int_reductions, [((2, 3, 4, 3), np.int32)]), inputs=[x])


def any_all(a):
    return tf.reduce_any(a, axis=[1]), tf.reduce_all(a, axis=[0, -1], keepdims=True)


def test_reduce_any_all():
    path = tflite_model(any_all, [(S4, np.bool_)])
    check(path)
    x = np.random.default_rng(3).random(S4) < 0.9
    check(path, inputs=[x])


def arg_fns(a):
    return tf.argmax(a, axis=-1, output_type=tf.int32), tf.argmin(a, axis=1), tf.argmax(a, axis=0, output_type=tf.int64)


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_arg_min_max(quantize):
    path = tflite_model(arg_fns, [(S4, np.float32)], quantize=quantize)
    check(path)
    if quantize:
        # ties: the first index wins
        x = np.random.default_rng(4).integers(-2, 2, size=S4).astype(np.int8)
        check(path, inputs=[x])


def arg_int32(a):
    return tf.argmax(a, axis=2, output_type=tf.int32), tf.argmin(a, axis=-1, output_type=tf.int32)


def test_arg_min_max_int32_ties():
    x = np.random.default_rng(5).integers(0, 3, size=S4).astype(np.int32)
    check(tflite_model(arg_int32, [(S4, np.int32)]), inputs=[x])


def topk_fn(a):
    return tf.math.top_k(a, k=3)


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_topk(quantize):
    path = tflite_model(topk_fn, [(S4, np.float32)], quantize=quantize)
    check(path)
    if quantize:
        x = np.random.default_rng(6).integers(-3, 3, size=S4).astype(np.int8)
        check(path, inputs=[x])


def topk_int32(a):
    return tf.math.top_k(a, k=5)


def test_topk_int32_ties():
    x = np.random.default_rng(7).integers(0, 4, size=(3, 9)).astype(np.int32)
    check(tflite_model(topk_int32, [((3, 9), np.int32)]), inputs=[x])


def cumsum_fn(a):
    return (
        tf.cumsum(a, axis=2),
        tf.cumsum(a, axis=-1, exclusive=True),
        tf.cumsum(a, axis=1, reverse=True),
        tf.cumsum(a, axis=0, exclusive=True, reverse=True),
    )


def test_cumsum_float():
    check(tflite_model(cumsum_fn, [(S4, np.float32)]))


def test_cumsum_int32():
    x = np.random.default_rng(8).integers(-50, 50, size=S4).astype(np.int32)
    check(tflite_model(cumsum_fn, [(S4, np.int32)]), inputs=[x])
