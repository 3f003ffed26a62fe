"""Substitutions (simpler operators for the same values) and transforms (RELU6 from clamps,
ADD from SUB)."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, counts, tf_model

import one_core
from one_core.ir import DType
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import (
    Conv2DOptions,
    FullyConnectedOptions,
    PackOptions,
    Padding,
    PadV2Options,
    Pool2DOptions,
    SplitVOptions,
    SqueezeOptions,
    StridedSliceOptions,
    SubOptions,
    TransposeOptions,
)


def _i32(*values: int) -> np.ndarray:
    return np.array(values, np.int32)


def test_substitute_pack_to_reshape() -> None:
    g = Graph()
    x = g.input("x", (2, 5), signature=(-1, 5))
    p = g.op("PACK", [x], (2, 1, 5), PackOptions(values_count=1, axis=1), signature=(-1, 1, 5))
    two = g.op("PACK", [x, x], (2, 2, 5), PackOptions(values_count=2, axis=1), signature=(-1, 2, 5))
    model = g.done([g.op("RELU", [p], p.shape, signature=(-1, 1, 5)), two])
    opt = check_pass(model, "substitute_pack_to_reshape", {"PACK": -1, "RESHAPE": 1})
    reshape = next(op for op in opt.main.operators if op.type == "RESHAPE")
    assert list(reshape.input(1).data) == [-1, 1, 5]


def test_substitute_squeeze_to_reshape() -> None:
    g = Graph()
    x = g.input("x", (2, 1, 5, 1))
    model = g.done([g.op("SQUEEZE", [x], (2, 5), SqueezeOptions([1, 3]))])
    check_pass(model, "substitute_squeeze_to_reshape", {"SQUEEZE": -1, "RESHAPE": 1})


def test_substitute_squeeze_to_reshape_needs_one_dynamic_dimension() -> None:
    g = Graph()
    x = g.input("x", (2, 1, 5), signature=(-1, 1, -1))
    model = g.done([g.op("SQUEEZE", [x], (2, 5), SqueezeOptions([1]), signature=(-1, -1))])
    check_unchanged(model, "substitute_squeeze_to_reshape")


def test_substitute_strided_slice_to_reshape_tensorflow() -> None:
    """x[:, 0] on a dimension of size 1, as TensorFlow writes it."""

    def first_of_one(x):
        return x[:, 0]

    model = one_core.load(tf_model(first_of_one, [((2, 1, 5), np.float32)]))
    assert counts(model) == {"STRIDED_SLICE": 1}
    check_pass(model, "substitute_strided_slice_to_reshape", {"STRIDED_SLICE": -1, "RESHAPE": 1})


def test_substitute_strided_slice_to_reshape_must_not_fire() -> None:
    """Shrinking a dimension of size 3 picks one row: not a reshape."""
    g = Graph()
    x = g.input("x", (2, 3, 5))
    s = g.op("STRIDED_SLICE", [x, g.const(_i32(0, 0, 0)), g.const(_i32(2, 1, 5)), g.const(_i32(1, 1, 1))],
             (2, 5), StridedSliceOptions(shrink_axis_mask=2))
    check_unchanged(g.done([s]), "substitute_strided_slice_to_reshape")


def test_substitute_transpose_to_reshape() -> None:
    g = Graph()
    x = g.input("x", (4, 1, 5, 1))
    t = g.op("TRANSPOSE", [x, g.const(_i32(1, 0, 3, 2))], (1, 4, 1, 5), TransposeOptions())
    real = g.op("TRANSPOSE", [x, g.const(_i32(2, 1, 0, 3))], (5, 1, 4, 1), TransposeOptions())
    model = g.done([t, real])
    check_pass(model, "substitute_transpose_to_reshape", {"TRANSPOSE": -1, "RESHAPE": 1})


def test_substitute_splitv_to_split_tensorflow() -> None:
    def split_three(x):
        import tensorflow as tf

        parts = tf.split(x, [2, 2, 2], axis=3)
        return parts[1] * parts[0] + parts[2]

    model = one_core.load(tf_model(split_three, [((1, 2, 2, 6), np.float32)]))
    assert counts(model)["SPLIT_V"] == 1
    check_pass(model, "substitute_splitv_to_split", {"SPLIT_V": -1, "SPLIT": 1})


def test_substitute_splitv_to_split_needs_equal_sizes() -> None:
    g = Graph()
    x = g.input("x", (2, 6))
    parts = g.op("SPLIT_V", [x, g.const(_i32(2, 4)), g.const(np.int32(1))], [(2, 2), (2, 4)],
                 SplitVOptions(2), outputs=2)
    check_unchanged(g.done(parts), "substitute_splitv_to_split")


def test_substitute_padv2_to_pad_before_max_pool_tensorflow() -> None:
    """relu -> pad with -1 -> 3x3 VALID max pool (as PyTorch exports pad with -inf): every
    window sees data, which is never negative, so zero padding gives the same maxima."""

    def pool_padded(x):
        import tensorflow as tf

        padded = tf.pad(tf.nn.relu(x), [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-1.0)
        return tf.nn.max_pool2d(padded, 3, 2, "VALID")

    model = one_core.load(tf_model(pool_padded, [((1, 8, 8, 3), np.float32)]))
    assert counts(model) == {"RELU": 1, "PADV2": 1, "MAX_POOL_2D": 1}
    check_pass(model, "substitute_padv2_to_pad", {"PADV2": -1, "PAD": 1})


def _padv2(g: Graph, x, value: float, pads=((0, 0), (1, 1), (1, 1), (0, 0))):
    shape = tuple(d + a + b for d, (a, b) in zip(x.shape, pads))
    return g.op("PADV2", [x, g.const(np.array(pads, np.int32)), g.const(np.float32(value))], shape, PadV2Options())


def _pool(g: Graph, x, size=3, padding=Padding.VALID):
    out = (x.shape[0], (x.shape[1] - size) // 2 + 1, (x.shape[2] - size) // 2 + 1, x.shape[3])
    if padding == Padding.SAME:
        out = (x.shape[0], (x.shape[1] + 1) // 2, (x.shape[2] + 1) // 2, x.shape[3])
    return g.op("MAX_POOL_2D", [x], out, Pool2DOptions(padding, 2, 2, size, size))


def test_substitute_padv2_to_pad_zero_value() -> None:
    g = Graph()
    x = g.input("x", (1, 4, 4, 2))
    model = g.done([_padv2(g, x, 0.0)])
    check_pass(model, "substitute_padv2_to_pad", {"PADV2": -1, "PAD": 1})


@pytest.mark.parametrize("case", ["may_be_negative", "same_padding", "pads_channels", "pad_too_wide", "positive_value"])
def test_substitute_padv2_to_pad_must_not_fire(case: str) -> None:
    g = Graph()
    x = g.input("x", (1, 8, 8, 3))
    data = x if case == "may_be_negative" else g.op("RELU", [x], x.shape)
    if case == "pads_channels":
        padded = _padv2(g, data, -1.0, ((0, 0), (1, 1), (1, 1), (0, 1)))
    elif case == "pad_too_wide":
        padded = _padv2(g, data, -1.0, ((0, 0), (3, 3), (1, 1), (0, 0)))
    else:
        padded = _padv2(g, data, 2.0 if case == "positive_value" else -1.0)
    pooled = _pool(g, padded, padding=Padding.SAME if case == "same_padding" else Padding.VALID)
    check_unchanged(g.done([pooled]), "substitute_padv2_to_pad")


def test_substitute_padv2_to_pad_after_fused_relu_and_transpose() -> None:
    g = Graph()
    x = g.input("x", (1, 8, 8, 3))
    conv = g.op("CONV_2D", [x, g.randn(4, 3, 3, 3), g.randn(4)], (1, 8, 8, 4),
                Conv2DOptions(Padding.SAME, 1, 1, Act.RELU6))
    t = g.op("TRANSPOSE", [conv, g.const(_i32(0, 2, 1, 3))], (1, 8, 8, 4), TransposeOptions())
    model = g.done([_pool(g, _padv2(g, t, -3.0e38))])
    check_pass(model, "substitute_padv2_to_pad", {"PADV2": -1, "PAD": 1})


# ----------------------------------------------------------------------------------- transforms


def _clamp(g: Graph, x, order: str):
    six, zero = g.const(np.float32(6.0)), g.const(np.float32(0.0))
    if order == "min_max":
        return g.op("MAXIMUM", [g.op("MINIMUM", [x, six], x.shape), zero], x.shape)
    return g.op("MINIMUM", [six, g.op("MAXIMUM", [zero, x], x.shape)], x.shape)


@pytest.mark.parametrize("order", ["min_max", "max_min"])
def test_transform_min_max_to_relu6(order: str) -> None:
    g = Graph()
    x = g.input("x", (2, 16))
    big = g.op("MUL", [x, g.const(np.float32(5.0))], x.shape)  # values beyond 6 and below 0
    model = g.done([_clamp(g, big, order)])
    check_pass(model, "transform_min_max_to_relu6", {"MINIMUM": -1, "MAXIMUM": -1, "RELU6": 1})


def test_transform_min_max_to_relu6_must_not_fire() -> None:
    """Clamp to 5 instead of 6, and a MINIMUM whose result is read twice."""
    g = Graph()
    x = g.input("x", (2, 16))
    five = g.op("MAXIMUM", [g.op("MINIMUM", [x, g.const(np.float32(5.0))], x.shape), g.const(np.float32(0.0))],
                x.shape)
    m = g.op("MINIMUM", [x, g.const(np.float32(6.0))], x.shape)
    twice = g.op("MAXIMUM", [m, g.const(np.float32(0.0))], x.shape)
    check_unchanged(g.done([five, twice, m]), "transform_min_max_to_relu6")


def test_transform_min_relu_to_relu6() -> None:
    g = Graph()
    x = g.input("x", (2, 16))
    big = g.op("MUL", [x, g.const(np.float32(5.0))], x.shape)
    model = g.done([g.op("RELU", [g.op("MINIMUM", [big, g.const(np.float32(6.0))], x.shape)], x.shape)])
    check_pass(model, "transform_min_relu_to_relu6", {"MINIMUM": -1, "RELU": -1, "RELU6": 1})


def test_transform_min_relu_to_relu6_must_not_fire_on_integers() -> None:
    g = Graph()
    x = g.input("x", (2, 16), DType.INT32)
    m = g.op("MINIMUM", [x, g.const(np.int32(6))], x.shape, dtype=DType.INT32)
    check_unchanged(g.done([g.op("RELU", [m], x.shape, dtype=DType.INT32)]), "transform_min_relu_to_relu6")


def test_replace_sub_with_add_tensorflow() -> None:
    def minus_three(x):
        return x - np.float32(3.0)

    model = one_core.load(tf_model(minus_three, [((1, 4), np.float32)]))
    assert counts(model) == {"SUB": 1}
    check_pass(model, "replace_sub_with_add", {"SUB": -1, "ADD": 1})


def test_replace_sub_with_add_keeps_activation_and_skips_constant_minus_x() -> None:
    g = Graph()
    x = g.input("x", (2, 3))
    a = g.op("SUB", [x, g.randn(3)], (2, 3), SubOptions(Act.RELU))
    b = g.op("SUB", [g.randn(3), x], (2, 3), SubOptions())
    opt = check_pass(g.done([a, b]), "replace_sub_with_add", {"SUB": -1, "ADD": 1})
    assert opt.main.operators[0].options.fused_activation_function == Act.RELU


# -------------------------------------------------------------- replace_non_const_fc_with_batch_matmul


def _variable_fc(x_shape, out_shape, *, bias=None, act=Act.NONE, transpose_w=False, transpose_x=False,
                 keep_num_dims=False):
    g = Graph()
    x = g.input("x", x_shape)
    w = g.input("w", (6, 5) if transpose_w else (5, 6))
    if transpose_w:
        w = g.op("TRANSPOSE", [w, g.const(np.array([1, 0], np.int32))], (5, 6), TransposeOptions())
    if transpose_x:
        x = g.op("TRANSPOSE", [x, g.const(np.array([1, 0], np.int32))], x_shape[::-1], TransposeOptions())
    b = None if bias is None else g.const(np.full(5, bias, np.float32))
    y = g.op("FULLY_CONNECTED", [x, w, b], out_shape, FullyConnectedOptions(act, keep_num_dims=keep_num_dims))
    return g.done([y])


@pytest.mark.parametrize(("case", "delta"), [
    ("plain", {}),
    ("bias_relu", {"ADD": 1}),
    ("zero_bias_relu6", {"RELU6": 1}),
    ("transposes", {"TRANSPOSE": -2}),
    ("rank3", {"RESHAPE": 1}),
    ("rank3_keep_dims", {}),
])
def test_replace_non_const_fc_with_batch_matmul(case: str, delta: dict) -> None:
    model = {
        "plain": lambda: _variable_fc((3, 6), (3, 5)),
        "bias_relu": lambda: _variable_fc((3, 6), (3, 5), bias=0.5, act=Act.RELU),
        "zero_bias_relu6": lambda: _variable_fc((3, 6), (3, 5), bias=0.0, act=Act.RELU6),
        "transposes": lambda: _variable_fc((6, 3), (3, 5), transpose_w=True, transpose_x=True),
        "rank3": lambda: _variable_fc((2, 3, 6), (6, 5)),
        "rank3_keep_dims": lambda: _variable_fc((2, 3, 6), (2, 3, 5), keep_num_dims=True),
    }[case]()
    check_pass(model, "replace_non_const_fc_with_batch_matmul", {"FULLY_CONNECTED": -1, "BATCH_MATMUL": 1, **delta})


def test_replace_non_const_fc_with_batch_matmul_must_not_fire_on_constant_weights() -> None:
    g = Graph()
    x = g.input("x", (3, 6))
    y = g.op("FULLY_CONNECTED", [x, g.randn(5, 6), None], (3, 5), FullyConnectedOptions())
    check_unchanged(g.done([y]), "replace_non_const_fc_with_batch_matmul")
