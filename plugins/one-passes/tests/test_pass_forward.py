"""Moving RESHAPE and TRANSPOSE after elementwise operators."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, optimized

from one_core.ir import DType
from one_core.ir.options import AddOptions, DivOptions, MulOptions, ReducerOptions, ReshapeOptions, TransposeOptions


def _reshaped(g: Graph, shape=(2, 12)):
    x = g.input("x", (2, 3, 4))
    target = g.const(np.array(shape, np.int32))
    return g.op("RESHAPE", [x, target], shape, ReshapeOptions(new_shape=list(shape)))


@pytest.mark.parametrize("kind", ["ABS", "NEG", "LOGISTIC", "MUL", "DIV_BY", "DIV_OF"])
def test_forward_reshape_to_unaryop(kind: str) -> None:
    g = Graph()
    r = _reshaped(g)
    c = g.const(np.float32(0.75 if kind != "DIV_OF" else 2.0))
    if kind == "MUL":
        y = g.op("MUL", [c, r], r.shape, MulOptions())
    elif kind == "DIV_BY":
        y = g.op("DIV", [r, c], r.shape, DivOptions())
    elif kind == "DIV_OF":
        y = g.op("DIV", [c, r], r.shape, DivOptions())
    else:
        y = g.op(kind, [r], r.shape)
    model = g.done([y])
    opt = check_pass(model, "forward_reshape_to_unaryop", {})
    assert [op.type for op in opt.main.operators] == [kind[:3] if kind.startswith("DIV") else kind, "RESHAPE"]
    assert opt.main.operators[-1].outputs[0] is opt.main.outputs[0]


def _mean_of_reshape(keep_dims: bool = True, axis: int = 1):
    g = Graph()
    x = g.input("x", (2, 3, 4, 2))
    r = g.op("RESHAPE", [x, g.const(np.array([2, 3, 2, 4], np.int32))], (2, 3, 2, 4),
             ReshapeOptions(new_shape=[2, 3, 2, 4]))
    shape = [1 if i == axis else d for i, d in enumerate(r.shape)] if keep_dims else [2, 2, 4]
    return g.done([g.op("MEAN", [r, g.const(np.int32(axis))], shape, ReducerOptions(keep_dims=keep_dims))])


def test_forward_reshape_to_mean() -> None:
    opt = check_pass(_mean_of_reshape(), "forward_reshape_to_unaryop", {})
    assert [op.type for op in opt.main.operators] == ["MEAN", "RESHAPE"]
    assert opt.main.operators[0].outputs[0].shape == (2, 1, 4, 2)


@pytest.mark.parametrize(("keep_dims", "axis"), [(False, 1), (True, 2)])
def test_forward_reshape_to_mean_must_not_fire(keep_dims: bool, axis: int) -> None:
    check_unchanged(_mean_of_reshape(keep_dims, axis), "forward_reshape_to_unaryop")


def test_forward_reshape_to_unaryop_keeps_a_shared_reshape() -> None:
    g = Graph()
    r = _reshaped(g)
    model = g.done([g.op("ABS", [r], r.shape), g.op("RELU", [r], r.shape)])
    check_pass(model, "forward_reshape_to_unaryop", {"RESHAPE": 1})


@pytest.mark.parametrize("case", ["vector_constant", "relu", "computed_target"])
def test_forward_reshape_to_unaryop_must_not_fire(case: str) -> None:
    g = Graph()
    if case == "computed_target":
        x = g.input("x", (2, 3, 4))
        shape = g.input("shape", (2,), DType.INT32)
        r = g.op("RESHAPE", [x, shape], (2, 12), ReshapeOptions())
        y = g.op("ABS", [r], r.shape)
    else:
        r = _reshaped(g)
        y = (g.op("MUL", [r, g.randn(12)], r.shape, MulOptions()) if case == "vector_constant"
             else g.op("RELU", [r], r.shape))
    check_unchanged(g.done([y]), "forward_reshape_to_unaryop")


def _transposed(g: Graph):
    x = g.input("x", (1, 3, 4, 5))
    return g.op("TRANSPOSE", [x, g.const(np.array([0, 2, 3, 1], np.int32))], (1, 4, 5, 3), TransposeOptions())


@pytest.mark.parametrize("constant", ["scalar", "channels", "full", "broadcast_rank4"])
@pytest.mark.parametrize("kind", ["ADD", "MUL"])
def test_forward_transpose_op_binary(kind: str, constant: str) -> None:
    g = Graph()
    t = _transposed(g)
    shape = {"scalar": (), "channels": (3,), "full": (1, 4, 5, 3), "broadcast_rank4": (1, 4, 1, 3)}[constant]
    c = g.const(g.rng.standard_normal(shape).astype(np.float32))
    options = AddOptions() if kind == "ADD" else MulOptions()
    y = g.op(kind, [c, t] if constant == "channels" else [t, c], t.shape, options)
    model = g.done([g.op("RELU", [y], y.shape)])
    opt = check_pass(model, "forward_transpose_op", {})
    assert [op.type for op in opt.main.operators] == [kind, "TRANSPOSE", "RELU"]


@pytest.mark.parametrize("kind", ["ABS", "LOGISTIC"])
def test_forward_transpose_op_unary(kind: str) -> None:
    g = Graph()
    t = _transposed(g)
    model = g.done([g.op(kind, [t], t.shape)])
    opt = check_pass(model, "forward_transpose_op", {})
    assert [op.type for op in opt.main.operators] == [kind, "TRANSPOSE"]


def test_forward_transpose_then_cancel_under_o1() -> None:
    """TRANSPOSE, ADD(constant), inverse TRANSPOSE, RELU: under -O1 the two transposes meet
    and go, and the RELU fuses into the ADD."""
    g = Graph()
    t = _transposed(g)
    y = g.op("ADD", [t, g.randn(1, 4, 5, 3)], t.shape, AddOptions())
    back = g.op("TRANSPOSE", [y, g.const(np.array([0, 3, 1, 2], np.int32))], (1, 3, 4, 5), TransposeOptions())
    check_pass(g.done([g.op("RELU", [back], back.shape)]), None, {"TRANSPOSE": -2, "RELU": -1}, level="O1")


@pytest.mark.parametrize("case", ["variable_operand", "neg", "rank5_constant"])
def test_forward_transpose_op_must_not_fire(case: str) -> None:
    g = Graph()
    t = _transposed(g)
    if case == "variable_operand":
        y = g.op("ADD", [t, g.input("z", t.shape)], t.shape, AddOptions())
    elif case == "neg":
        y = g.op("NEG", [t], t.shape)
    else:
        y = g.op("ADD", [t, g.randn(1, 1, 4, 5, 3)], (1, 1, 4, 5, 3), AddOptions())
    check_unchanged(g.done([y]), "forward_transpose_op")


def _conv_nchw(g: Graph, x, cin: int, cout: int, seed: int):
    """A channels-first convolution as an operator-by-operator import makes it: Transposes to
    channels-last and back around CONV_2D."""
    from one_core.ir.options import Conv2DOptions, Padding

    w = g.const((np.random.default_rng(seed).standard_normal((cout, 3, 3, cin)) * 0.3).astype(np.float32))
    n, _, h, wd = x.shape
    nhwc = g.op("TRANSPOSE", [x, g.const(np.array([0, 2, 3, 1], np.int32))], (n, h, wd, cin), TransposeOptions())
    y = g.op("CONV_2D", [nhwc, w, None], (n, h, wd, cout), Conv2DOptions(padding=Padding.SAME, stride_h=1, stride_w=1))
    return g.op("TRANSPOSE", [y, g.const(np.array([0, 3, 1, 2], np.int32))], (n, cout, h, wd), TransposeOptions())


def _nchw_net(readers_of_middle: str = "RELU"):
    g = Graph()
    x = g.input("x", (1, 3, 6, 6))
    a = _conv_nchw(g, x, 3, 4, 0)
    mid = g.op(readers_of_middle, [a], a.shape)
    b = _conv_nchw(g, mid, 4, 4, 1)
    s = g.op("ADD", [b, g.const(np.full((4, 1, 1), 0.5, np.float32))], b.shape, AddOptions())
    return g.done([g.op("RELU", [s], s.shape)])


def test_convert_nchw_to_nhwc() -> None:
    """Four Transposes become two: into channels-last after the input, back before the output."""
    opt = check_pass(_nchw_net(), "convert_nchw_to_nhwc", {"TRANSPOSE": -2})
    ops = [op.type for op in opt.main.operators]
    assert ops == ["TRANSPOSE", "CONV_2D", "RELU", "CONV_2D", "ADD", "RELU", "TRANSPOSE"]
    assert opt.main.operators[-1].outputs[0] is opt.main.outputs[0]


def test_convert_nchw_to_nhwc_reports_a_merge_it_cannot_bypass() -> None:
    """Two Transposes that cancel between a model input and a model output merge into one
    identity Transpose that must stay (the output is a copy of the input; with a dynamic batch
    it does not become a Reshape either): that is a change, and is reported."""
    g = Graph()
    x = g.input("x", (1, 3, 4, 5), signature=(-1, 3, 4, 5))
    cl = g.op("TRANSPOSE", [x, g.const(np.array([0, 2, 3, 1], np.int32))], (1, 4, 5, 3), TransposeOptions(),
              signature=(-1, 4, 5, 3))
    back = g.op("TRANSPOSE", [cl, g.const(np.array([0, 3, 1, 2], np.int32))], (1, 3, 4, 5), TransposeOptions(),
                signature=(-1, 3, 4, 5))
    model = g.done([back])
    opt = check_pass(model, "convert_nchw_to_nhwc", {"TRANSPOSE": -1})
    _, report = optimized(model, "convert_nchw_to_nhwc")
    assert [p.changes for p in report.passes if p.name == "convert_nchw_to_nhwc"] == [1]
    assert [int(v) for v in opt.main.operators[0].inputs[1].data] == [0, 1, 2, 3]


def test_convert_nchw_to_nhwc_keeps_a_layout_reader() -> None:
    """SOFTMAX works along the last axis, which is not the same axis in the two layouts: the
    Transposes around it stay (the last one only moves below the elementwise tail)."""
    opt = check_pass(_nchw_net("SOFTMAX"), "convert_nchw_to_nhwc", {})
    ops = [op.type for op in opt.main.operators]
    assert ops == ["TRANSPOSE", "CONV_2D", "TRANSPOSE", "SOFTMAX", "TRANSPOSE", "CONV_2D", "ADD", "RELU", "TRANSPOSE"]
