"""Custom operators resolved into builtins (the runtime cannot run the originals: numpy
references)."""

from __future__ import annotations

import numpy as np
import pytest
from flatbuffers import flexbuffers
from passcheck import Graph, check_pass, check_unchanged

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


def _max_pool_with_argmax(g: Graph, x, padding: str):
    options = bytes(flexbuffers.Dumps({"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": padding,
                                       "Targmax": 9, "include_batch_in_index": False}))
    size = 4 if padding == "SAME" else 3
    return g.op("CUSTOM", [x], [(1, size, size, 2), (1, size, size, 2)], custom_code="MaxPoolWithArgmax",
                custom_options=options, outputs=2)


def _max_pool_reference(x: np.ndarray, padding: str) -> np.ndarray:
    """3x3 windows, stride 2, on [1, 7, 7, C] (SAME pads one on each side)."""
    if padding == "SAME":
        x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    size = (x.shape[1] - 3) // 2 + 1
    return np.array([[[x[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1)) for j in range(size)]
                      for i in range(size)]], np.float32)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_resolve_customop_max_pool_with_argmax(padding: str) -> None:
    g = Graph()
    x = g.input("x", (1, 7, 7, 2))
    pooled, _ = _max_pool_with_argmax(g, x, padding)
    model = g.done([g.op("RELU", [pooled], pooled.shape)])
    check_pass(model, "resolve_customop_max_pool_with_argmax", {"MaxPoolWithArgmax": -1, "MAX_POOL_2D": 1},
               reference=lambda xs: [np.maximum(_max_pool_reference(xs[0], padding), 0)])


def test_resolve_customop_max_pool_with_argmax_must_not_fire_when_the_argmax_is_read() -> None:
    g = Graph()
    x = g.input("x", (1, 7, 7, 2))
    pooled, argmax = _max_pool_with_argmax(g, x, "VALID")
    check_unchanged(g.done([pooled, argmax]), "resolve_customop_max_pool_with_argmax")
