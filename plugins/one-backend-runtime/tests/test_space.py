"""PAD, PADV2, MIRROR_PAD, DEPTH_TO_SPACE, SPACE_TO_DEPTH, BATCH_TO_SPACE_ND and
SPACE_TO_BATCH_ND against LiteRT's reference kernels (float, int8, 16x8)."""

from __future__ import annotations

import numpy as np
import pytest
from opharness import check, tflite_model
from test_shape_ops import QUANT, assert_ops, inputs_for, one_op_model, same, tensor

from one_core.ir import options as opt


def pads(x):
    import tensorflow as tf

    return (
        tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]),
        tf.pad(x, [[1, 0], [0, 0], [0, 3], [0, 1]], constant_values=0.75),
        tf.pad(x, [[0, 0], [2, 1], [1, 3], [0, 0]], mode="REFLECT"),
        tf.pad(x, [[0, 1], [3, 0], [0, 4], [1, 1]], mode="SYMMETRIC"),
    )


def pads_without_padv2(x):
    import tensorflow as tf

    return (tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), tf.pad(x, [[0, 1], [3, 0], [0, 4], [1, 1]], mode="SYMMETRIC"))


@pytest.mark.parametrize("quantize", QUANT)
def test_pad_padv2_mirror_pad(quantize) -> None:
    # In 16x8 models the converter leaves PADV2's constant in float, which LiteRT refuses.
    fn, ops = (pads, {"PADV2"}) if quantize != "int16x8" else (pads_without_padv2, set())
    path = tflite_model(fn, [((2, 3, 4, 2), np.float32)], quantize=quantize)
    assert_ops(path, ops | {"PAD", "MIRROR_PAD"})
    check(path)


def test_pad_quantized_uses_zero_point_and_dynamic_paddings(tmp_path) -> None:
    x = tensor("x", np.int8, (2, 3), q=(0.1, -7))
    paddings = tensor("p", np.int32, (2, 2))
    p = one_op_model(tmp_path / "pad.tflite", "PAD", [x, paddings], [tensor("y", np.int8, (1,), q=(0.1, -7))])
    same(p, [np.arange(6, dtype=np.int8).reshape(2, 3), np.array([[1, 0], [2, 3]], np.int32)])
    # PADV2 writes its constant's raw integer, MIRROR_PAD with dynamic paddings.
    value = tensor("v", np.uint8, (), np.array(201, np.uint8), q=(0.5, 128))
    x = tensor("x", np.uint8, (2, 3), q=(0.5, 128))
    p = one_op_model(tmp_path / "padv2.tflite", "PADV2", [x, tensor("p", np.int64, (2, 2), np.array([[0, 2], [1, 1]])), value],
                     [tensor("y", np.uint8, (4, 5), q=(0.5, 128))])
    same(p, [np.arange(6, dtype=np.uint8).reshape(2, 3)])
    x = tensor("x", np.float32, (3, 4))
    p = one_op_model(tmp_path / "mirror.tflite", "MIRROR_PAD", [x, tensor("p", np.int32, (2, 2))],
                     [tensor("y", np.float32, (1,))], opt.MirrorPadOptions(mode=opt.MirrorPadMode.SYMMETRIC))
    same(p, [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([[3, 2], [0, 4]], np.int32)])


def depth_space(x):
    import tensorflow as tf

    return (tf.nn.depth_to_space(x, 2), tf.nn.space_to_depth(x, 2), tf.nn.space_to_depth(tf.nn.depth_to_space(x, 2), 4))


@pytest.mark.parametrize("quantize", [None, "int8"])  # no 16x8 quantization for these in TFLite
def test_depth_to_space_and_back(quantize) -> None:
    path = tflite_model(depth_space, [((1, 4, 6, 8), np.float32)], quantize=quantize)
    assert_ops(path, {"DEPTH_TO_SPACE", "SPACE_TO_DEPTH"})
    if quantize is None:
        check(path)
    else:  # LiteRT's reference resolver has no quantized DEPTH_TO_SPACE (version 2)
        same(path, inputs_for(path, [(1, 4, 6, 8)]), reference=False)


def batch_space(x, y):
    import tensorflow as tf

    return (
        tf.space_to_batch_nd(x, [2, 3], [[1, 1], [0, 3]]),
        tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]),
        tf.compat.v1.batch_to_space_nd(y, [2, 3], [[0, 1], [2, 0]]),
        tf.compat.v1.batch_to_space_nd(y, [3, 2], [[0, 0], [0, 0]]),
    )


@pytest.mark.parametrize("quantize", QUANT)
def test_space_to_batch_and_batch_to_space(quantize) -> None:
    path = tflite_model(batch_space, [((2, 4, 6, 3), np.float32), ((12, 2, 3, 2), np.float32)], quantize=quantize)
    assert_ops(path, {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"})
    check(path)


def test_space_batch_3d_and_quantized_padding(tmp_path) -> None:
    """A 3-D input (one spatial dimension) and SPACE_TO_BATCH_ND padding with the zero point."""
    block = tensor("block", np.int32, (1,), np.array([3], np.int32))
    x = tensor("x", np.int8, (2, 5, 4), q=(0.25, 11))
    p = one_op_model(tmp_path / "s2b.tflite", "SPACE_TO_BATCH_ND",
                     [x, block, tensor("pads", np.int32, (1, 2), np.array([[2, 2]], np.int32))],
                     [tensor("y", np.int8, (6, 3, 4), q=(0.25, 11))])
    same(p, [np.arange(40, dtype=np.int8).reshape(2, 5, 4)])
    x = tensor("x", np.float32, (6, 3, 2))
    p = one_op_model(tmp_path / "b2s.tflite", "BATCH_TO_SPACE_ND",
                     [x, block, tensor("crops", np.int32, (1, 2), np.array([[1, 2]], np.int32))],
                     [tensor("y", np.float32, (2, 6, 2))])
    same(p, [np.arange(36, dtype=np.float32).reshape(6, 3, 2)])
