"""Weight-only quantization: int8 weights feed TFLite's hybrid kernels directly, int16 weights
and GATHER tables go through a DEQUANTIZE; LiteRT and our runtime agree on the results, which
stay close to the float model's, and the file shrinks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from qharness import random_inputs, run_litert, run_ours, sqnr_db, tflite_model

import one_core
import one_quantizer
from one_core.cli import cli as main
from one_core.errors import InputError
from one_core.ir import DType

_RNG = np.random.default_rng(4)
W3 = (_RNG.standard_normal((3, 3, 4, 16)) * 0.3).astype(np.float32)
DW = (_RNG.standard_normal((3, 3, 16, 1)) * 0.3).astype(np.float32)
FC = (_RNG.standard_normal((16, 10)) * 0.3).astype(np.float32)
TABLE = (_RNG.standard_normal((50, 12)) * 0.5).astype(np.float32)


def conv_net(x):
    y = tf.nn.relu(tf.nn.conv2d(x, W3, 1, "SAME") + 0.1)
    y = tf.nn.relu6(tf.nn.depthwise_conv2d(y, DW, [1, 1, 1, 1], "SAME"))
    return tf.matmul(tf.reduce_mean(y, axis=[1, 2]), FC)


def embedding(ids):
    return tf.reduce_sum(tf.gather(TABLE, ids), axis=1)


def _compare(path, out_path, inputs_of, litert: bool = True):
    xs = inputs_of(path)
    want = run_ours(path, xs)[0]
    ours = run_ours(out_path, xs)[0]
    if litert:
        reference = run_litert(out_path, xs)[0]
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * float(np.abs(reference).max()))
    assert sqnr_db(want, ours) > 25, "weight-only quantization should stay close to the float model"


@pytest.mark.parametrize("dtype, granularity", [("int8", "channel"), ("int8", "layer"), ("int16", "layer"),
                                               ("int16", "channel")])
def test_conv_net(dtype, granularity, tmp_path) -> None:
    path = tflite_model(conv_net, [((1, 8, 8, 4), np.float32)])
    model = one_quantizer.quantize_weights(one_core.load(path), dtype, granularity)
    weighted = [op for op in model.main.operators if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    for op in weighted:
        hybrid = dtype == "int8" and (granularity == "channel" or op.name != "DEPTHWISE_CONV_2D")
        w = op.inputs[1] if hybrid else op.inputs[1].producer.inputs[0]  # else: read through a DEQUANTIZE
        assert w.dtype == (DType.INT8 if dtype == "int8" else DType.INT16) and w.is_constant
    before = sum(t.nbytes for t in one_core.load(path).main.tensors if t.is_constant)
    after = sum(t.nbytes for t in model.main.tensors if t.is_constant)
    assert after < (0.3 if dtype == "int8" else 0.55) * before
    out = one_core.save(model, tmp_path / "w.tflite")
    # LiteRT's DEQUANTIZE has no per-channel int16: that case is compared with the float model only.
    _compare(path, out, lambda p: random_inputs(p, np.random.default_rng(1)),
             litert=(dtype, granularity) != ("int16", "channel"))


def test_gather_table_through_dequantize(tmp_path) -> None:
    path = tflite_model(embedding, [((2, 5), np.int32)])
    out = tmp_path / "w.tflite"
    result = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--quantize_weights",
                                       "--quantized_dtype", "int8"])
    assert result.exit_code == 0, result.output
    model = one_core.load(out)
    gather = next(op for op in model.main.operators if op.name == "GATHER")
    assert gather.inputs[0].producer.name == "DEQUANTIZE" and gather.inputs[0].producer.inputs[0].dtype == DType.INT8
    ids = [np.random.default_rng(2).integers(0, 50, (2, 5)).astype(np.int32)]
    _compare(path, out, lambda p: ids)


def test_nothing_to_quantize(tmp_path) -> None:
    path = tflite_model(lambda x: x * 2.0, [((1, 4), np.float32)])
    with pytest.raises(InputError, match="no float weights to quantize"):
        one_quantizer.quantize_weights(one_core.load(path))
    with pytest.raises(InputError, match="int8 or int16"):
        one_quantizer.quantize_weights(one_core.load(path), "uint8")
