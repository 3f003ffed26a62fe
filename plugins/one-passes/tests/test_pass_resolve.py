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
