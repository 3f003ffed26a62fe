"""float32 elementwise operators and SOFTMAX in generated C against LiteRT and the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cgharness import check_c, run_c
from opharness import assert_outputs_match, random_inputs, run_litert, run_ours, tflite_model

F = np.float32
X4 = (2, 5, 7, 16)


def _c(*shape):
    return tf.constant(np.random.default_rng(sum(shape)).standard_normal(shape).astype(F))


def add_same(a, b):
    return a + b


def sub_relu(a, b):
    return tf.nn.relu(a - b)


def mul_relu6(a, b):
    return tf.nn.relu6(a * b)


def div_(a, b):
    return a / (tf.abs(b) + 0.5)


def maximum(a, b):
    return tf.maximum(a, b)


def minimum(a, b):
    return tf.minimum(a, b)


def squared_difference(a, b):
    return tf.math.squared_difference(a, b)


@pytest.mark.parametrize("fn", [add_same, sub_relu, mul_relu6, div_, maximum, minimum, squared_difference],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("b_shape", [X4, (16,), (1, 1, 1, 16), (2, 1, 1, 16), (2, 5, 7, 1), (1,), (5, 1, 16)],
                         ids=str)
def test_binary(fn, b_shape) -> None:
    check_c(tflite_model(fn, [(X4, F), (b_shape, F)]))


def add_const_channel(x):
    return x + _c(16)


def mul_const_scalar(x):
    return x * 3.5


def sub_from_const(x):
    return _c(5, 1, 16) - x


def add_rank6(x):
    return x * x[:, :1, :, :1, :, 2:3]


@pytest.mark.parametrize("fn", [add_const_channel, mul_const_scalar, sub_from_const], ids=lambda f: f.__name__)
def test_binary_const(fn) -> None:
    check_c(tflite_model(fn, [(X4, F)]))


def test_binary_rank6() -> None:
    check_c(tflite_model(add_rank6, [((4, 2, 5, 3, 2, 6), F)]))


def relu(x):
    return tf.nn.relu(x)


def relu6(x):
    return tf.nn.relu6(x)


def relu_n1_to_1(x):
    return tf.clip_by_value(x, -1.0, 1.0)


def logistic(x):
    return tf.sigmoid(x * 3)


def tanh(x):
    return tf.tanh(x * 2)


def hard_swish(x):
    x = x * 4
    return x * tf.nn.relu6(x + 3) / 6


def leaky_relu(x):
    return tf.nn.leaky_relu(x, 0.2)


def elu(x):
    return tf.nn.elu(x)


def exp(x):
    return tf.exp(x)


def log(x):
    return tf.math.log(tf.abs(x) + 0.1)


def sqrt(x):
    return tf.sqrt(tf.abs(x))


def rsqrt(x):
    return tf.math.rsqrt(tf.abs(x) + 0.1)


def neg(x):
    return -x


def square(x):
    return tf.square(x)


def gelu(x):
    return tf.nn.gelu(x * 2, approximate=False)


def gelu_tanh(x):
    return tf.nn.gelu(x * 2, approximate=True)


_PRELU = tf.keras.layers.PReLU(alpha_initializer=tf.constant_initializer(0.3), shared_axes=[1, 2])


def prelu(x):
    return _PRELU(x)


def softmax(x):
    return tf.nn.softmax(x * 3)


def softmax_beta(x):
    return tf.nn.softmax(tf.reshape(x, (10, -1)) * 0.5)


UNARY = [relu, relu6, relu_n1_to_1, logistic, tanh, hard_swish, leaky_relu, exp, log, sqrt, rsqrt, neg, square,
         gelu, gelu_tanh, prelu, softmax, softmax_beta]


@pytest.mark.parametrize("fn", UNARY, ids=lambda f: f.__name__)
def test_unary(fn) -> None:
    check_c(tflite_model(fn, [(X4, F)]))


def test_elu() -> None:
    """LiteRT's reference resolver lacks ELU: against its default kernel."""
    path = tflite_model(elu, [(X4, F)])
    xs = random_inputs(path, np.random.default_rng(0))
    got = run_c(path, xs)
    assert_outputs_match(got, run_litert(path, xs, reference=False), 1e-5, "vs LiteRT")
    assert_outputs_match(got, run_ours(path, xs), 1e-5, "vs runtime")
