"""Custom operators resolved into builtins (the runtime cannot run the originals: numpy and
TensorFlow references)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from flatbuffers import flexbuffers
from passcheck import Graph, assert_close, check_pass, check_unchanged, random_inputs, run, run_litert

import one_core
from one_core.ir import DType


def test_resolve_customop_add() -> None:
    g = Graph()
    x = g.input("x", (2, 3))
    c = g.randn(3)
    y = g.op("CUSTOM", [x, c], (2, 3), custom_code="AddV2")
    model = g.done([g.op("RELU", [y], (2, 3))])
    opt = check_pass(model, "resolve_customop_add", {"AddV2": -1, "ADD": 1},
                     reference=lambda xs: [np.maximum(xs[0] + c.data, 0)])
    assert opt.main.operators[0].type == "ADD"


def test_resolve_customop_add_must_not_fire_on_mixed_types() -> None:
    g = Graph()
    x = g.input("x", (2, 3))
    i = g.input("i", (2, 3), DType.INT32)
    check_unchanged(g.done([g.op("CUSTOM", [x, i], (2, 3), custom_code="AddV2")]), "resolve_customop_add")


@pytest.mark.parametrize(("adj_x", "adj_y"), [(False, False), (True, False), (False, True)])
def test_resolve_customop_batchmatmul(adj_x: bool, adj_y: bool) -> None:
    g = Graph()
    a = g.input("a", (2, 4, 3) if adj_x else (2, 3, 4))
    b = g.input("b", (2, 5, 4) if adj_y else (2, 4, 5))
    options = bytes(flexbuffers.Dumps({"T": 1, "adj_x": adj_x, "adj_y": adj_y}))
    y = g.op("CUSTOM", [a, b], (2, 3, 5), custom_code="BatchMatMulV2", custom_options=options)
    model = g.done([y])

    def reference(xs):
        p = np.swapaxes(xs[0], 1, 2) if adj_x else xs[0]
        q = np.swapaxes(xs[1], 1, 2) if adj_y else xs[1]
        return [p @ q]

    opt = check_pass(model, "resolve_customop_batchmatmul", {"BatchMatMulV2": -1, "BATCH_MATMUL": 1},
                     reference=reference)
    assert opt.main.operators[0].options.adjoint_rhs is adj_y


def test_resolve_customop_batchmatmul_must_not_fire_on_unknown_options() -> None:
    g = Graph()
    a, b = g.input("a", (2, 3, 4)), g.input("b", (2, 4, 5))
    y = g.op("CUSTOM", [a, b], (2, 3, 5), custom_code="BatchMatMulV2", custom_options=b"\x01\x02",
             custom_options_format=1)
    check_unchanged(g.done([y]), "resolve_customop_batchmatmul")


def test_resolve_customop_splitv() -> None:
    g = Graph()
    x = g.input("x", (2, 6))
    options = bytes(flexbuffers.Dumps({"num_split": 2, "T": 1}))
    a, b = g.op("CUSTOM", [x, g.const(np.array([2, 4], np.int32)), g.const(np.int32(1))], [(2, 2), (2, 4)],
                custom_code="SplitV", custom_options=options, outputs=2)
    model = g.done([a, b])
    check_pass(model, "resolve_customop_splitv", {"SplitV": -1, "SPLIT_V": 1},
               reference=lambda xs: [xs[0][:, :2], xs[0][:, 2:]])


def _matmul(g: Graph, a, b, shape, transpose_a: bool = False, transpose_b: bool = False):
    options = bytes(flexbuffers.Dumps({"T": 1, "transpose_a": transpose_a, "transpose_b": transpose_b}))
    return g.op("CUSTOM", [a, b], shape, custom_code="MatMul", custom_options=options)


@pytest.mark.parametrize("transpose_b", [False, True])
def test_resolve_customop_matmul_constant_weights(transpose_b: bool) -> None:
    g = Graph()
    a = g.input("a", (3, 4))
    w = g.randn(*((5, 4) if transpose_b else (4, 5)))
    model = g.done([_matmul(g, a, w, (3, 5), transpose_b=transpose_b)])
    weights = w.data.T if transpose_b else w.data
    check_pass(model, "resolve_customop_matmul", {"MatMul": -1, "FULLY_CONNECTED": 1},
               reference=lambda xs: [xs[0] @ weights])


@pytest.mark.parametrize(("transpose_a", "transpose_b"), [(False, False), (True, True)])
def test_resolve_customop_matmul_variable(transpose_a: bool, transpose_b: bool) -> None:
    g = Graph()
    a = g.input("a", (4, 3) if transpose_a else (3, 4))
    b = g.input("b", (5, 4) if transpose_b else (4, 5))
    model = g.done([_matmul(g, a, b, (3, 5), transpose_a, transpose_b)])

    def reference(xs):
        return [(xs[0].T if transpose_a else xs[0]) @ (xs[1].T if transpose_b else xs[1])]

    opt = check_pass(model, "resolve_customop_matmul", {"MatMul": -1, "BATCH_MATMUL": 1}, reference=reference)
    assert opt.main.operators[0].options.adjoint_lhs is transpose_a


def test_resolve_customop_matmul_must_not_fire_on_integers() -> None:
    g = Graph()
    a, b = g.input("a", (3, 4), DType.INT32), g.input("b", (4, 5), DType.INT32)
    check_unchanged(g.done([_matmul(g, a, b, (3, 5))]), "resolve_customop_matmul")


def _tf_max_pool_with_argmax(x: np.ndarray, padding: str, ksize=(3, 3), strides=(2, 2), by_batch: bool = False,
                             argmax_dtype: DType = DType.INT64) -> list[np.ndarray]:
    """TensorFlow's pooled values and argmax: the reference."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    pooled, argmax = tf.nn.max_pool_with_argmax(x, [1, *ksize, 1], [1, *strides, 1], padding,
                                                output_dtype=tf.as_dtype(argmax_dtype.numpy),
                                                include_batch_in_index=by_batch)
    return [pooled.numpy(), argmax.numpy()]


def _max_pool_with_argmax(g: Graph, x, padding: str, ksize=(3, 3), strides=(2, 2), by_batch: bool = False,
                          argmax_dtype: DType = DType.INT64):
    """The custom operator as TensorFlow's converter writes it (Targmax 9: int64, 3: int32)."""
    options = bytes(flexbuffers.Dumps({"ksize": [1, *ksize, 1], "strides": [1, *strides, 1], "padding": padding,
                                       "T": 1, "Targmax": 9 if argmax_dtype == DType.INT64 else 3,
                                       "include_batch_in_index": by_batch}))
    shape = _tf_max_pool_with_argmax(np.zeros(x.shape, np.float32), padding, ksize, strides)[0].shape
    pooled, argmax = g.op("CUSTOM", [x], [shape, shape], custom_code="MaxPoolWithArgmax", custom_options=options,
                          outputs=2)
    argmax.dtype = argmax_dtype
    return pooled, argmax


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_resolve_customop_max_pool_with_argmax_unused(padding: str) -> None:
    g = Graph()
    x = g.input("x", (1, 7, 7, 2))
    pooled, _ = _max_pool_with_argmax(g, x, padding)
    model = g.done([g.op("RELU", [pooled], pooled.shape)])
    check_pass(model, "resolve_customop_max_pool_with_argmax", {"MaxPoolWithArgmax": -1, "MAX_POOL_2D": 1},
               reference=lambda xs: [np.maximum(_tf_max_pool_with_argmax(xs[0], padding)[0], 0)])


#: What replaces the custom operator when its argmax is read (PADV2 only for SAME padding that pads).
ARGMAX_OPERATORS = {"MaxPoolWithArgmax": -1, "MAX_POOL_2D": 1, "DEPTHWISE_CONV_2D": 1, "RESHAPE": 1, "ARG_MAX": 1,
                    "GATHER": 1, "ADD": 1}


def _check_argmax(model, reference, padded: bool):
    """check_pass with the TensorFlow reference, then LiteRT on the result (it cannot run the
    custom original, so check_pass does not). Returns the optimized model."""
    delta = {**ARGMAX_OPERATORS, **({"PADV2": 1} if padded else {})}
    opt = check_pass(model, "resolve_customop_max_pool_with_argmax", delta, reference=reference)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "opt.tflite"
        one_core.save(opt, path)
        for seed in (0, 1):
            xs = random_inputs(model, seed)
            assert_close(run_litert(path, xs), reference(xs))
    return opt


@pytest.mark.parametrize(("n", "c"), [(1, 1), (2, 3)])
@pytest.mark.parametrize(("ksize", "strides"), [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (2, 1))])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_resolve_customop_max_pool_with_argmax_read(padding: str, ksize, strides, n: int, c: int) -> None:
    """The argmax is rebuilt from builtins and equals TensorFlow's exactly (a 7 x 6 input: SAME
    pads rows and, for the wider windows, columns)."""
    g = Graph()
    x = g.input("x", (n, 7, 6, c))
    model = g.done(list(_max_pool_with_argmax(g, x, padding, ksize, strides)))
    _check_argmax(model, lambda xs: _tf_max_pool_with_argmax(xs[0], padding, ksize, strides), padding == "SAME")


def test_resolve_customop_max_pool_with_argmax_dynamic_batch() -> None:
    """A dynamic batch (without the batch in the index) is fine: the RESHAPE's target has -1."""
    g = Graph()
    x = g.input("x", (1, 7, 6, 3), signature=(-1, 7, 6, 3))
    pooled, argmax = _max_pool_with_argmax(g, x, "SAME")
    for t in (pooled, argmax):
        t.shape_signature = (-1, *t.shape[1:])
    model = g.done([pooled, argmax])
    opt = _check_argmax(model, lambda xs: _tf_max_pool_with_argmax(xs[0], "SAME"), True)
    x3 = np.random.default_rng(3).standard_normal((3, 7, 6, 3)).astype(np.float32)
    assert_close(run(opt, [x3]), _tf_max_pool_with_argmax(x3, "SAME"))


@pytest.mark.parametrize(("ksize", "by_batch", "argmax_dtype"),
                         [((2, 2), False, DType.INT64), ((3, 3), True, DType.INT32), ((3, 3), False, DType.INT32)])
def test_resolve_customop_max_pool_with_argmax_ties(ksize, by_batch: bool, argmax_dtype: DType) -> None:
    """Integer values (FLOOR of the inputs) tie within windows: ARG_MAX takes the first maximum in
    scan order, as TensorFlow does. Also the batch in the index, and an int32 argmax. (8 x 6 with
    2 x 2 windows: SAME pads nothing.)"""
    g = Graph()
    x = g.op("FLOOR", [g.input("x", (2, 8, 6, 3))], (2, 8, 6, 3))
    model = g.done(list(_max_pool_with_argmax(g, x, "SAME", ksize, (2, 2), by_batch, argmax_dtype)))
    assert len(np.unique(np.floor(random_inputs(model)[0]))) < 10

    def reference(xs):
        return _tf_max_pool_with_argmax(np.floor(xs[0]), "SAME", ksize, (2, 2), by_batch, argmax_dtype)

    _check_argmax(model, reference, ksize != (2, 2))


@pytest.mark.parametrize("case", ["dynamic_width", "dynamic_batch_in_index", "float_argmax"])
def test_resolve_customop_max_pool_with_argmax_must_not_fire_on_a_read_argmax(case: str) -> None:
    """The argmax's constants need the width and channels (and with the batch in the index, the
    batch); an argmax that is not an integer is not TensorFlow's."""
    g = Graph()
    signature = {"dynamic_width": (1, 7, -1, 2), "dynamic_batch_in_index": (-1, 7, 7, 2)}.get(case)
    x = g.input("x", (1, 7, 7, 2), signature=signature)
    pooled, argmax = _max_pool_with_argmax(g, x, "VALID", by_batch=case == "dynamic_batch_in_index")
    if case == "float_argmax":
        argmax.dtype = DType.FLOAT32
    check_unchanged(g.done([pooled, argmax]), "resolve_customop_max_pool_with_argmax")
