"""Constant folding: ONE's fold_* passes, fold_shape, fold_constants and fold_reshape_shape."""

from __future__ import annotations

import modelzoo
import numpy as np
import pytest
from passcheck import (
    Graph,
    assert_close,
    check_pass,
    check_unchanged,
    counts,
    run,
)

import one_core
from one_core.ir import DType
from one_core.ir.options import (
    AddOptions,
    CastOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    GatherOptions,
    MulOptions,
    PackOptions,
    Padding,
    ReshapeOptions,
    ShapeOptions,
    SparseToDenseOptions,
    SqueezeOptions,
    StridedSliceOptions,
    TileOptions,
)


def _plus_input(g: Graph, c, shape=None, dtype=DType.FLOAT32):
    """x + c for a fresh input x of c's shape: the folded constant must reach an output."""
    shape = tuple(shape or c.shape)
    x = g.input("x", shape, dtype)
    return g.done([g.op("ADD", [x, c], shape, AddOptions(), dtype)])


# ------------------------------------------------------------------------------- real models


def test_fold_dequantize_fp16_model() -> None:
    """TFLite's float16 weight quantization: every weight is DEQUANTIZE(float16 constant)."""
    model = one_core.load(modelzoo.fp16_model())
    assert counts(model)["DEQUANTIZE"] == 10
    opt = check_pass(model, "fold_dequantize", {"DEQUANTIZE": -10})
    weights = [t for t in opt.main.tensors if t.is_constant and t.dtype == DType.FLOAT16]
    assert weights == []  # the float16 originals are gone with their readers


def test_fold_densify_sparse_model() -> None:
    model = one_core.load(modelzoo.sparse_model())
    assert counts(model)["DENSIFY"] == 3
    opt = check_pass(model, "fold_densify", {"DENSIFY": -3})
    conv = next(op for op in opt.main.operators if op.type == "CONV_2D")
    assert conv.input(1).sparsity is None and conv.input(1).is_constant


def test_fold_reshape_shape_efficientnet_any_batch() -> None:
    """EfficientNet's squeeze-excite blocks reshape with a target computed from SHAPE (the
    batch is dynamic): the target becomes [-1, 1, 1, C] and 48 operators go; the model still
    runs any batch size."""
    model = one_core.load(modelzoo.efficientnet_b0())
    opt = check_pass(model, "fold_reshape_shape", {"SHAPE": -16, "STRIDED_SLICE": -16, "PACK": -16}, seeds=(0,))
    x = np.random.default_rng(3).standard_normal((2, 224, 224, 3)).astype(np.float32)
    assert_close(run(opt, [x]), run(model, [x]))


# --------------------------------------------------------------------------- IR-made patterns


def test_fold_cast() -> None:
    g = Graph()
    c = g.const(np.arange(6, dtype=np.int32).reshape(2, 3))
    cast = g.op("CAST", [c], (2, 3), CastOptions(DType.INT32, DType.FLOAT32))
    opt = check_pass(_plus_input(g, cast), "fold_cast", {"CAST": -1})
    np.testing.assert_array_equal(opt.main.operators[0].input(1).data, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_fold_cast_not_of_an_input() -> None:
    g = Graph()
    x = g.input("x", (2, 3), DType.INT32)
    model = g.done([g.op("CAST", [x], (2, 3), CastOptions(DType.INT32, DType.FLOAT32))])
    check_unchanged(model, ["fold_cast", "fold_constants"])


def test_fold_gather() -> None:
    g = Graph()
    params = g.randn(5, 3)
    gathered = g.op("GATHER", [params, g.const(np.array([4, 0, 2], np.int32))], (3, 3), GatherOptions(axis=0))
    check_pass(_plus_input(g, gathered), "fold_gather", {"GATHER": -1})


def test_fold_dwconv() -> None:
    g = Graph()
    act = g.randn(1, 5, 5, 4)
    dw = g.op("DEPTHWISE_CONV_2D", [act, g.randn(1, 3, 3, 4), g.randn(4)], (1, 5, 5, 4),
              DepthwiseConv2DOptions(Padding.SAME, 1, 1, 1))
    check_pass(_plus_input(g, dw), "fold_dwconv", {"DEPTHWISE_CONV_2D": -1})


def test_fold_fully_connected() -> None:
    g = Graph()
    fc = g.op("FULLY_CONNECTED", [g.randn(2, 6), g.randn(3, 6), g.randn(3)], (2, 3), FullyConnectedOptions())
    check_pass(_plus_input(g, fc), "fold_fully_connected", {"FULLY_CONNECTED": -1})


@pytest.mark.parametrize("name", ["fold_mul", "fold_reshape", "fold_squeeze"])
def test_fold_mul_reshape_squeeze(name: str) -> None:
    g = Graph()
    c = g.randn(1, 4, 3)
    if name == "fold_mul":
        value, kind = g.op("MUL", [c, g.randn(3)], (1, 4, 3), MulOptions()), "MUL"
    elif name == "fold_reshape":
        value = g.op("RESHAPE", [c, g.const(np.array([4, 3], np.int32))], (4, 3), ReshapeOptions([4, 3]))
        kind = "RESHAPE"
    else:
        value, kind = g.op("SQUEEZE", [c], (4, 3), SqueezeOptions([0])), "SQUEEZE"
    check_pass(_plus_input(g, value), name, {kind: -1})


def test_fold_add_v2_custom_operator() -> None:
    """TF's AddV2 as a custom operator (int64, as ONE folds it); the runtime cannot run it,
    so the reference is numpy."""
    g = Graph()
    a = g.const(np.array([1, 2, 3], np.int64))
    b = g.const(np.array([10, 20, 30], np.int64))
    s = g.op("CUSTOM", [a, b], (3,), None, DType.INT64, custom_code="AddV2")
    model = _plus_input(g, s, dtype=DType.INT64)
    check_pass(model, "fold_add_v2", {"AddV2": -1}, reference=lambda xs: [xs[0] + np.array([11, 22, 33])])


def test_fold_sparse_to_dense() -> None:
    g = Graph()
    indices = g.const(np.array([[0, 1], [2, 3]], np.int32))
    dense = g.op("SPARSE_TO_DENSE", [indices, g.const(np.array([3, 4], np.int32)),
                                     g.const(np.array([5.0, -2.0], np.float32)), g.const(np.float32(0.5))],
                 (3, 4), SparseToDenseOptions())
    model = _plus_input(g, dense)
    want = np.full((3, 4), 0.5, np.float32)
    want[0, 1], want[2, 3] = 5.0, -2.0
    check_pass(model, "fold_sparse_to_dense", {"SPARSE_TO_DENSE": -1}, reference=lambda xs: [xs[0] + want])


def _shape_model(signature=None):
    g = Graph()
    x = g.input("x", (2, 6), signature=signature)
    shape = g.op("SHAPE", [x], (2,), ShapeOptions(DType.INT32), DType.INT32)
    y = g.op("RESHAPE", [g.randn(6, 2), shape], (2, 6), ReshapeOptions())
    return g.done([g.op("ADD", [x, y], (2, 6), AddOptions(), signature=signature)])


def test_fold_shape_static() -> None:
    opt = check_pass(_shape_model(), "fold_shape", {"SHAPE": -1})
    np.testing.assert_array_equal(opt.main.operators[0].input(1).data, [2, 6])


def test_fold_shape_not_of_a_dynamic_shape() -> None:
    check_unchanged(_shape_model(signature=(-1, 6)), "fold_shape")


def test_fold_constants_any_operator_and_chains() -> None:
    """EXP, then TRANSPOSE of it, then CONCATENATION with another constant: all constant."""
    from one_core.ir.options import ConcatenationOptions, TransposeOptions

    g = Graph()
    e = g.op("EXP", [g.randn(2, 3)], (2, 3))
    t = g.op("TRANSPOSE", [e, g.const(np.array([1, 0], np.int32))], (3, 2), TransposeOptions())
    c = g.op("CONCATENATION", [t, g.randn(3, 2)], (3, 4), ConcatenationOptions(axis=1))
    check_pass(_plus_input(g, c), "fold_constants", {"EXP": -1, "TRANSPOSE": -1, "CONCATENATION": -1})


def test_fold_constants_keeps_results_that_grow_the_model() -> None:
    """TILE of a constant to a result larger than its inputs (and over 1 KiB) stays."""
    g = Graph()
    tiled = g.op("TILE", [g.randn(1, 8), g.const(np.array([64, 1], np.int32))], (64, 8), TileOptions())
    check_unchanged(_plus_input(g, tiled), "fold_constants")


def test_fold_keeps_subgraph_outputs_produced() -> None:
    """A constant computation that is itself the model's output keeps its operator."""
    g = Graph()
    x = g.input("x", (2, 3))
    model = g.done([g.op("ADD", [x, x], (2, 3), AddOptions()), g.op("EXP", [g.randn(2, 3)], (2, 3))])
    check_unchanged(model, "fold_constants")


def test_fold_reshape_shape_needs_one_dynamic_dimension() -> None:
    g = Graph()
    x = g.input("x", (1, 2, 6), signature=(-1, -1, 6))
    shape = g.op("SHAPE", [x], (3,), ShapeOptions(DType.INT32), DType.INT32)
    y = g.op("RESHAPE", [x, shape], (1, 2, 6), ReshapeOptions(), signature=(-1, -1, 6))
    check_unchanged(g.done([y]), "fold_reshape_shape")


def test_fold_reshape_shape_ir() -> None:
    """reshape(x, [shape(x)[0], 1, 1, C]) of a dynamic batch: the constant target [-1, 1, 1, 4]
    works for batch 1 and 3."""
    g = Graph()
    x = g.input("x", (1, 4), signature=(-1, 4))
    shape = g.op("SHAPE", [x], (2,), ShapeOptions(DType.INT32), DType.INT32)
    batch = g.op("STRIDED_SLICE", [shape, g.const(np.array([0], np.int32)), g.const(np.array([1], np.int32)),
                                   g.const(np.array([1], np.int32))], (), StridedSliceOptions(shrink_axis_mask=1),
                 DType.INT32)
    target = g.op("PACK", [batch, g.const(np.int32(1)), g.const(np.int32(1)), g.const(np.int32(4))], (4,),
                  PackOptions(values_count=4), DType.INT32)
    y = g.op("RESHAPE", [x, target], (1, 1, 1, 4), ReshapeOptions(), signature=(-1, 1, 1, 4))
    model = g.done([g.op("RELU", [y], (1, 1, 1, 4), signature=(-1, 1, 1, 4))])
    opt = check_pass(model, "fold_reshape_shape", {"SHAPE": -1, "STRIDED_SLICE": -1, "PACK": -1})
    x3 = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert_close(run(opt, [x3]), run(model, [x3]))
    assert run(opt, [x3])[0].shape == (3, 1, 1, 4)
