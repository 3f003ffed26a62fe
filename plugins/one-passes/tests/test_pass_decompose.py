"""Rewrites for back ends that lack an operator or a feature: decompose_hardswish,
decompose_softmax, expand_broadcast_const, make_batchnorm_gamma_positive."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, clone, counts, run, tf_model

import one_core
from one_core.ir import DType, Quantization
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, DivOptions, MulOptions, SoftmaxOptions, SubOptions
from one_core.passes import available_passes

PASSES = ["decompose_hardswish", "decompose_softmax", "expand_broadcast_const", "make_batchnorm_gamma_positive"]


def test_not_in_o1() -> None:
    registry = available_passes()
    assert all(not registry[name].levels for name in PASSES)


def _quantized_input(g: Graph, shape: tuple[int, ...]):
    x = g.input("x", shape, DType.INT8)
    x.quantization = Quantization(np.array([0.05], np.float32), np.array([0], np.int64))
    return x


def _quantized_op(g: Graph, kind: str, x, options=None):
    y = g.op(kind, [x], x.shape, options, dtype=DType.INT8)
    y.quantization = Quantization(np.array([1 / 256], np.float32), np.array([-128], np.int64))
    return y


# ---------------------------------------------------------------------- decompose_hardswish


def hard_swish(x):
    import tensorflow as tf

    return x * tf.nn.relu6(x + 3.0) / 6.0


def test_decompose_hardswish_tensorflow() -> None:
    """TensorFlow writes x * relu6(x + 3) / 6 as HARD_SWISH; with a dynamic batch."""
    model = one_core.load(tf_model(hard_swish, [((None, 4, 4, 3), np.float32)]))
    assert counts(model) == {"HARD_SWISH": 1}
    opt = check_pass(model, "decompose_hardswish", {"HARD_SWISH": -1, "ADD": 1, "RELU6": 1, "MUL": 2})
    assert [op.type for op in opt.main.operators] == ["ADD", "RELU6", "MUL", "MUL"]
    assert all(op.outputs[0].shape_signature == (-1, 4, 4, 3) for op in opt.main.operators)
    assert opt.main.operators[-1].outputs[0].name == model.main.outputs[0].name


@pytest.mark.parametrize("case", ["quantized", "rank0"])
def test_decompose_hardswish_must_not_fire(case: str) -> None:
    """Quantized tensors; a rank-0 tensor (the new constants have shape [1])."""
    g = Graph()
    if case == "quantized":
        model = g.done([_quantized_op(g, "HARD_SWISH", _quantized_input(g, (1, 4, 4, 3)))])
    else:
        model = g.done([g.op("HARD_SWISH", [g.input("x", ())], ())])
    check_unchanged(model, "decompose_hardswish")


# ------------------------------------------------------------------------ decompose_softmax

SOFTMAX_OPS = {"SOFTMAX": -1, "REDUCE_MAX": 1, "SUB": 1, "EXP": 1, "SUM": 1, "DIV": 1}


def softmax(x):
    import tensorflow as tf

    return tf.nn.softmax(x * 3.0)


def test_decompose_softmax_tensorflow() -> None:
    """The converter writes beta 1 (the scaling stays a MUL before): no MUL by beta."""
    model = one_core.load(tf_model(softmax, [((2, 3, 10), np.float32)]))
    assert counts(model) == {"MUL": 1, "SOFTMAX": 1}
    opt = check_pass(model, "decompose_softmax", SOFTMAX_OPS)
    assert [op.type for op in opt.main.operators] == ["MUL", "REDUCE_MAX", "SUB", "EXP", "SUM", "DIV"]
    assert opt.main.operators[1].outputs[0].shape == (2, 3, 1)


def test_decompose_softmax_with_beta() -> None:
    g = Graph()
    x = g.input("x", (4, 10), signature=(-1, 10))
    model = g.done([g.op("SOFTMAX", [x], x.shape, SoftmaxOptions(beta=0.25), signature=(-1, 10))])
    opt = check_pass(model, "decompose_softmax", {**SOFTMAX_OPS, "MUL": 1})
    mul = next(op for op in opt.main.operators if op.type == "MUL")
    assert mul.input(1).data.reshape(-1).tolist() == [0.25]
    assert opt.main.operators[0].outputs[0].shape_signature == (-1, 1)


def test_decompose_softmax_must_not_fire_on_quantized_tensors() -> None:
    g = Graph()
    model = g.done([_quantized_op(g, "SOFTMAX", _quantized_input(g, (2, 10)), SoftmaxOptions(beta=1.0))])
    check_unchanged(model, "decompose_softmax")


# ------------------------------------------------------------------- expand_broadcast_const

DEPTH_CONST = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) / 8 + 0.5


def add_depth_const(x):
    return x + DEPTH_CONST


def test_expand_broadcast_const_tensorflow() -> None:
    model = one_core.load(tf_model(add_depth_const, [((1, 4, 4, 3), np.float32)]))
    assert counts(model) == {"ADD": 1}
    opt = check_pass(model, "expand_broadcast_const", {})
    c = opt.main.operators[0].input(1)
    assert c.shape == (1, 4, 4, 3)
    # every channel holds the constant (ONE's copy would lay out 3 copies of the 16 values)
    np.testing.assert_array_equal(c.data, np.repeat(DEPTH_CONST, 3, axis=3))


@pytest.mark.parametrize("kind", ["MUL", "DIV"])
def test_expand_broadcast_const_mul_div(kind: str) -> None:
    """The constant on either side: c * x, c / x."""
    g = Graph()
    x = g.input("x", (2, 3, 5))
    c = g.const(np.linspace(0.5, 2.0, 6, dtype=np.float32).reshape(2, 3, 1))
    options = MulOptions(Act.RELU) if kind == "MUL" else DivOptions(Act.RELU)
    model = g.done([g.op(kind, [c, x], x.shape, options)])
    opt = check_pass(model, "expand_broadcast_const", {})
    op = opt.main.operators[0]
    assert op.input(0).shape == (2, 3, 5) and op.options.fused_activation_function == Act.RELU


@pytest.mark.parametrize("case", ["other_axis", "scalar", "lower_rank", "dynamic", "sub", "quantized"])
def test_expand_broadcast_const_must_not_fire(case: str) -> None:
    """ONE expands only along the last axis of ADD, MUL and DIV, constants of the other
    operand's rank, float32, static shapes."""
    g = Graph()
    if case == "quantized":
        x = _quantized_input(g, (2, 3, 5))
        c = g.const(np.ones((2, 3, 1), np.int8))
        c.quantization = Quantization(np.array([0.1], np.float32), np.array([0], np.int64))
        y = g.op("ADD", [x, c], x.shape, AddOptions(), dtype=DType.INT8)
        y.quantization = x.quantization
        check_unchanged(g.done([y]), "expand_broadcast_const")
        return
    x = g.input("x", (2, 3, 5), signature=(-1, 3, 5) if case == "dynamic" else None)
    shape = {"other_axis": (2, 1, 5), "scalar": (), "lower_rank": (3, 1)}.get(case, (2, 3, 1))
    c = g.const(np.full(shape, 2.0, np.float32))
    if case == "sub":
        y = g.op("SUB", [x, c], x.shape, SubOptions())
    else:
        y = g.op("ADD", [x, c], x.shape, AddOptions(), signature=x.shape_signature)
    check_unchanged(g.done([y]), "expand_broadcast_const")


# ------------------------------------------------------------ make_batchnorm_gamma_positive

GAMMA = np.array([1.5, -0.5, 0.25, -2.0, 0.0, 3.0], np.float32)
BETA = np.array([0.1, 0.2, -0.3, 0.4, 0.5, -0.6], np.float32)


def _batchnorm(gamma=GAMMA, add_act: Act = Act.RELU, gamma_shape=None, mul_read_twice: bool = False):
    """x * gamma + beta with the ADD's activation (x [1, 4, 4, 6])."""
    g = Graph()
    x = g.input("x", (1, 4, 4, 6))
    m = g.op("MUL", [x, g.const(gamma.reshape(gamma_shape or gamma.shape))], x.shape, MulOptions())
    y = g.op("ADD", [g.const(BETA), m], x.shape, AddOptions(add_act))
    return g.done([y, g.op("RELU", [m], x.shape)] if mul_read_twice else [y])


def test_make_batchnorm_gamma_positive() -> None:
    """Negative gammas become 1e-10, the others stay: exactly ONE's rewrite, which changes
    the results on those channels (compared with the rewritten computation, not the model)."""
    positive = np.where(GAMMA < 0, np.float32(1e-10), GAMMA)
    model = _batchnorm()
    opt = check_pass(model, "make_batchnorm_gamma_positive", {},
                     reference=lambda xs: [np.maximum(xs[0] * positive + BETA, 0)], litert=False)
    gamma = opt.main.operators[0].input(1).data
    assert gamma.dtype == np.float32 and gamma.tobytes() == positive.tobytes()
    np.testing.assert_array_equal(model.main.operators[0].input(1).data, GAMMA)  # original untouched
    xs = [np.random.default_rng(3).standard_normal((1, 4, 4, 6)).astype(np.float32)]
    changed = np.any(run(opt, xs)[0] != run(clone(model), xs)[0], axis=(0, 1, 2))
    assert list(changed) == list(GAMMA < 0)  # not equivalence-preserving, on those channels only


@pytest.mark.parametrize("case", ["no_relu", "relu6", "all_positive", "rank4_gamma", "mul_read_twice"])
def test_make_batchnorm_gamma_positive_must_not_fire(case: str) -> None:
    """ONE's pattern only: ADD with a fused RELU, rank-1 gamma, the MUL read by the ADD alone."""
    options = {"no_relu": {"add_act": Act.NONE}, "relu6": {"add_act": Act.RELU6},
               "all_positive": {"gamma": np.abs(GAMMA)}, "rank4_gamma": {"gamma_shape": (1, 1, 1, 6)},
               "mul_read_twice": {"mul_read_twice": True}}[case]
    check_unchanged(_batchnorm(**options), "make_batchnorm_gamma_positive")
