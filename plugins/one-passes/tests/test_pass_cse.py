"""Common subexpression elimination and duplicate constants."""

from __future__ import annotations

import numpy as np
from passcheck import Graph, check_pass, check_unchanged

from one_core.ir import DType, Quantization
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, FullyConnectedOptions, ReshapeOptions


def test_cse_merges_chains() -> None:
    """EXP(x) twice, then the same ADD of each: the second chain goes entirely."""
    g = Graph()
    x = g.input("x", (2, 3))
    c = g.randn(3)
    a = g.op("ADD", [g.op("EXP", [x], (2, 3)), c], (2, 3), AddOptions())
    b = g.op("ADD", [g.op("EXP", [x], (2, 3)), c], (2, 3), AddOptions())
    model = g.done([g.op("MUL", [a, b], (2, 3))])
    check_pass(model, "common_subexpression_elimination", {"EXP": -1, "ADD": -1})


def test_cse_must_not_merge_different_operations() -> None:
    """Different options, different inputs, different output quantization, random ops, and
    an operator that writes a model output."""
    g = Graph()
    x = g.input("x", (2, 3))
    c = g.randn(3)
    outs = [g.op("ADD", [x, c], (2, 3), AddOptions()), g.op("ADD", [x, c], (2, 3), AddOptions(Act.RELU)),
            g.op("ADD", [x, g.randn(3)], (2, 3), AddOptions())]
    q = g.input("q", (2, 3), DType.INT8)
    q.quantization = Quantization(np.array([0.1], np.float32), np.array([0], np.int64))
    for scale in (0.1, 0.2):
        r = g.op("RELU", [q], (2, 3), dtype=DType.INT8)
        r.quantization = Quantization(np.array([scale], np.float32), np.array([0], np.int64))
        outs.append(r)
    shape = g.const(np.array([2, 3], np.int32))
    outs += [g.op("RANDOM_UNIFORM", [shape], (2, 3)), g.op("RANDOM_UNIFORM", [shape], (2, 3))]
    check_unchanged(g.done(outs), "common_subexpression_elimination")


def test_remove_duplicate_const() -> None:
    g = Graph()
    x = g.input("x", (2, 4))
    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    h1 = g.op("FULLY_CONNECTED", [x, g.const(w), None], (2, 3), FullyConnectedOptions())
    h2 = g.op("FULLY_CONNECTED", [x, g.const(w.copy()), None], (2, 3), FullyConnectedOptions(Act.RELU))
    model = g.done([h1, h2])
    assert sum(t.is_constant for t in model.main.tensors) == 2
    opt = check_pass(model, "remove_duplicate_const", {})
    assert sum(t.is_constant for t in opt.main.tensors) == 1
    assert opt.main.operators[0].input(1) is opt.main.operators[1].input(1)


def test_remove_duplicate_const_then_cse() -> None:
    """Two identical reshapes of equal (but separate) constants become one."""
    g = Graph()
    x = g.input("x", (2, 6))
    r1 = g.op("RESHAPE", [x, g.const(np.array([3, 4], np.int32))], (3, 4), ReshapeOptions([3, 4]))
    r2 = g.op("RESHAPE", [x, g.const(np.array([3, 4], np.int32))], (3, 4), ReshapeOptions([3, 4]))
    model = g.done([g.op("ADD", [r1, r2], (3, 4), AddOptions())])
    check_pass(model, ["remove_duplicate_const", "common_subexpression_elimination"], {"RESHAPE": -1})


def test_remove_duplicate_const_must_not_merge_different_constants() -> None:
    """Same bytes but another type, same values but another quantization, other values."""
    g = Graph()
    x = g.input("x", (4,), DType.INT32)
    a = g.const(np.array([1, 2, 3, 4], np.int32))
    b = g.const(np.array([1, 2, 3, 4], np.int32).view(np.float32), DType.FLOAT32)
    c = g.const(np.array([1, 2, 3, 5], np.int32))
    d = g.const(np.array([1, 2, 3, 4], np.int32))
    d.quantization = Quantization(np.array([0.5], np.float32), np.array([0], np.int64))
    outs = [g.op("ADD", [x, t], (4,), AddOptions(), DType.INT32) for t in (a, c, d)]
    outs.append(g.op("CAST", [b], (4,), dtype=DType.INT32))
    check_unchanged(g.done(outs), "remove_duplicate_const")
