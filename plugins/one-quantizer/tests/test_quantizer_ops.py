"""Per operator family: TensorFlow float models quantized here run on LiteRT and on our runtime
with exactly equal integer outputs, for each dtype, granularity and I/O type."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qharness import check_exact, quantized_file, tflite_model

import one_core
from one_core.errors import UnsupportedOperatorError
from one_core.ir import DType

_RNG = np.random.default_rng(0)
W3 = (_RNG.standard_normal((3, 3, 4, 8)) * 0.3).astype(np.float32)
DW = (_RNG.standard_normal((3, 3, 8, 1)) * 0.3).astype(np.float32)
FC = (_RNG.standard_normal((8, 5)) * 0.3).astype(np.float32)
B8 = (_RNG.standard_normal(8) * 0.1).astype(np.float32)


def conv_family(x):
    y = tf.nn.relu6(tf.nn.conv2d(x, W3, 1, "SAME") + B8)
    y = tf.nn.relu(tf.nn.depthwise_conv2d(y, DW, [1, 2, 2, 1], "SAME") + B8)
    return tf.matmul(tf.reduce_mean(y, axis=[1, 2]), FC) + 0.1


def elementwise(x):
    y = x * 0.5 + tf.nn.sigmoid(x)
    return tf.concat([y - tf.constant(B8[:4]), tf.nn.tanh(x) * x, tf.nn.relu(x)], axis=-1)


def pools_shapes(x):
    y = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    y = tf.nn.max_pool2d(y, 2, 2, "VALID") + tf.nn.avg_pool2d(y, 2, 2, "VALID")
    y = tf.transpose(tf.reshape(y, (1, 25, 4)), (0, 2, 1))
    return tf.nn.softmax(tf.squeeze(y, 0))


def activations(x):
    return tf.concat([x * tf.nn.relu6(x + 3.0) / 6.0, tf.nn.relu6(x)], axis=-1)


FAMILIES = [conv_family, elementwise, pools_shapes, activations]
OPTIONS = [
    {"dtype": "int8", "granularity": "channel"},
    {"dtype": "int8", "granularity": "layer"},
    {"dtype": "uint8", "granularity": "layer"},
    {"dtype": "int8", "granularity": "channel", "input_type": "float32", "output_type": "float32"},
    {"dtype": "int8", "granularity": "channel", "input_type": "uint8", "output_type": "uint8"},
]


@pytest.mark.parametrize("fn", FAMILIES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o.values()))
def test_litert_equals_runtime(fn, options, tmp_path):
    path = quantized_file(tflite_model(fn, [((1, 8, 8, 4), np.float32)]), tmp_path, **options)
    for seed in range(2):
        check_exact(path, seed=seed)


def test_operator_set_is_used():
    """The families cover the operators the quantizer claims (TF turns EXPAND_DIMS and SQUEEZE into RESHAPE)."""
    import one_core
    import one_quantizer

    found = set()
    for fn in FAMILIES:
        model = one_core.load(tflite_model(fn, [((1, 8, 8, 4), np.float32)]))
        found |= {op.type for _, op in model.operators()}
    assert one_quantizer.SUPPORTED_OPERATORS - found <= {"EXPAND_DIMS", "SQUEEZE"}, sorted(one_quantizer.SUPPORTED_OPERATORS - found)


def arithmetic(x):
    y = x * 0.5 + x
    return tf.concat([y - tf.constant(B8[:4]), tf.nn.relu(x) * x], axis=-1)


@pytest.mark.parametrize("fn", [conv_family, arithmetic, elementwise, pools_shapes], ids=lambda f: f.__name__)
@pytest.mark.parametrize("io", [None, "float32"])
def test_int16_litert_equals_runtime(fn, io, tmp_path):
    """16x8: int16 activations (symmetric), int8 weights, int64 biases; LiteRT's 16-bit kernels
    and ours give the same integers."""
    options = {"dtype": "int16", "granularity": "channel"}
    if io:
        options.update(input_type=io, output_type=io)
    path = quantized_file(tflite_model(fn, [((1, 8, 8, 4), np.float32)]), tmp_path, **options)
    model = one_core.load(path)
    acts = [t for t in model.main.tensors if t.data is None and t.dtype == DType.INT16]
    assert acts and all(int(t.quantization.zero_point[0]) == 0 for t in acts)
    biases = [op.inputs[2] for op in model.main.operators if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert all(b.dtype == DType.INT64 for b in biases) and (fn is not conv_family or biases)
    for seed in range(2):
        check_exact(path, seed=seed)


def test_int16_refuses_what_16x8_kernels_lack(tmp_path):
    with pytest.raises(UnsupportedOperatorError, match="HARD_SWISH in int16"):
        quantized_file(tflite_model(activations, [((1, 8, 8, 4), np.float32)]), tmp_path, dtype="int16")
