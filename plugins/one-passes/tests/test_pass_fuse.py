"""Fusions into convolutions and dense layers, and of activation operators."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, counts, tf_model

import one_core
from one_core.ir import DType
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import (
    AddOptions,
    ConcatenationOptions,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    DivOptions,
    FullyConnectedOptions,
    MulOptions,
    Padding,
    Pool2DOptions,
    SubOptions,
    TransposeConvOptions,
)

N, H, W, CIN, COUT = 1, 6, 6, 3, 8


def _conv(g: Graph, kind: str, x, act: Act = Act.NONE, bias: bool = True):
    """A convolution-like operator of `kind` on x [1, 6, 6, 3] (FULLY_CONNECTED: x [2, 6]);
    returns (output, output channels)."""
    if kind == "CONV_2D":
        b = g.randn(COUT) if bias else None
        return g.op("CONV_2D", [x, g.randn(COUT, 3, 3, CIN), b], (N, H, W, COUT),
                    Conv2DOptions(Padding.SAME, 1, 1, act)), COUT
    if kind == "DEPTHWISE_CONV_2D":
        b = g.randn(2 * CIN) if bias else None
        return g.op("DEPTHWISE_CONV_2D", [x, g.randn(1, 3, 3, 2 * CIN), b], (N, H, W, 2 * CIN),
                    DepthwiseConv2DOptions(Padding.SAME, 1, 1, 2, act)), 2 * CIN
    if kind == "TRANSPOSE_CONV":
        shape = g.const(np.array([N, 2 * H, 2 * W, COUT], np.int32))
        inputs = [shape, g.randn(COUT, 3, 3, CIN), x] + ([g.randn(COUT)] if bias else [])
        return g.op("TRANSPOSE_CONV", inputs, (N, 2 * H, 2 * W, COUT),
                    TransposeConvOptions(Padding.SAME, 2, 2, act)), COUT
    if kind == "FULLY_CONNECTED":
        b = g.randn(5) if bias else None
        return g.op("FULLY_CONNECTED", [x, g.randn(5, 6), b], (2, 5), FullyConnectedOptions(act)), 5
    raise ValueError(kind)


def _input(g: Graph, kind: str):
    return g.input("x", (2, 6) if kind == "FULLY_CONNECTED" else (N, H, W, CIN))


def _bn_model(kind: str, *, scale_shape=None, scale_first=False, add_act=Act.NONE, bias=True,
              conv_act=Act.NONE, extra_reader=None):
    g = Graph()
    x = _input(g, kind)
    y, c = _conv(g, kind, x, conv_act, bias)
    shape = scale_shape or (1, 1, 1, c)
    scale = g.const(g.rng.uniform(0.5, 2.0, size=shape).astype(np.float32))
    m = g.op("MUL", [scale, y] if scale_first else [y, scale], y.shape, MulOptions())
    out = g.op("ADD", [g.randn(c), m], y.shape, AddOptions(add_act))
    outs = [out]
    if extra_reader == "conv":
        outs.append(g.op("RELU", [y], y.shape))
    elif extra_reader == "mul":
        outs.append(g.op("RELU", [m], y.shape))
    return g.done(outs)


BN_PASSES = {"CONV_2D": "fuse_batchnorm_with_conv", "DEPTHWISE_CONV_2D": "fuse_batchnorm_with_dwconv",
             "TRANSPOSE_CONV": "fuse_batchnorm_with_tconv"}


@pytest.mark.parametrize("kind", list(BN_PASSES))
@pytest.mark.parametrize("variant", ["plain", "scale_first_vector", "no_bias_relu6"])
def test_fuse_batchnorm(kind: str, variant: str) -> None:
    options = {"plain": {}, "scale_first_vector": {"scale_first": True, "scale_shape": (None,)},
               "no_bias_relu6": {"bias": False, "add_act": Act.RELU6}}[variant]
    if options.get("scale_shape") == (None,):
        channels = 2 * CIN if kind == "DEPTHWISE_CONV_2D" else COUT
        options["scale_shape"] = (channels,)
    model = _bn_model(kind, **options)
    opt = check_pass(model, BN_PASSES[kind], {"MUL": -1, "ADD": -1})
    conv = opt.main.operators[0]
    assert conv.type == kind and conv.outputs[0] is opt.main.outputs[0]
    assert conv.outputs[0].name == model.main.outputs[0].name  # the ADD's output keeps its name
    assert conv.options.fused_activation_function == options.get("add_act", Act.NONE)


@pytest.mark.parametrize("case", ["conv_read_twice", "mul_read_twice", "conv_has_activation", "not_per_channel"])
def test_fuse_batchnorm_must_not_fire(case: str) -> None:
    if case == "conv_read_twice":
        model = _bn_model("CONV_2D", extra_reader="conv")
    elif case == "mul_read_twice":
        model = _bn_model("CONV_2D", extra_reader="mul")
    elif case == "conv_has_activation":
        model = _bn_model("CONV_2D", conv_act=Act.RELU)
    else:
        model = _bn_model("CONV_2D", scale_shape=(1, H, W, COUT))
    check_unchanged(model, list(BN_PASSES.values()))


def test_batchnorm_then_relu_becomes_one_conv_with_o1() -> None:
    g = Graph()
    x = _input(g, "CONV_2D")
    y, c = _conv(g, "CONV_2D", x)
    m = g.op("MUL", [y, g.const(np.linspace(0.5, 1.5, c).astype(np.float32))], y.shape, MulOptions())
    a = g.op("ADD", [m, g.randn(c)], y.shape, AddOptions())
    model = g.done([g.op("RELU", [a], y.shape)])
    opt = check_pass(model, None, {"MUL": -1, "ADD": -1, "RELU": -1}, level="O1")
    assert opt.main.operators[0].options.fused_activation_function == Act.RELU


ADD_PASSES = {"CONV_2D": "fuse_add_with_conv", "FULLY_CONNECTED": "fuse_add_with_fully_connected",
              "TRANSPOSE_CONV": "fuse_add_with_tconv"}


@pytest.mark.parametrize("kind", list(ADD_PASSES))
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_add(kind: str, bias: bool) -> None:
    g = Graph()
    x = _input(g, kind)
    y, c = _conv(g, kind, x, bias=bias)
    shift = g.randn(c) if kind == "FULLY_CONNECTED" else g.randn(1, 1, 1, c)
    model = g.done([g.op("ADD", [shift, y], y.shape, AddOptions(Act.RELU))])
    opt = check_pass(model, ADD_PASSES[kind], {"ADD": -1})
    assert opt.main.operators[-1].options.fused_activation_function == Act.RELU


@pytest.mark.parametrize("kind", list(ADD_PASSES))
def test_fuse_add_must_not_fire(kind: str) -> None:
    """A non-constant addend, a broadcast to a larger shape, and a conv read twice."""
    g = Graph()
    x = _input(g, kind)
    y, c = _conv(g, kind, x)
    z = g.input("z", y.shape)
    a = g.op("ADD", [y, z], y.shape, AddOptions())
    y2, _ = _conv(g, kind, x)
    b = g.op("ADD", [y2, g.randn(3, *y.shape[1:])], (3, *y.shape[1:]), AddOptions())
    y3, _ = _conv(g, kind, x)
    d = g.op("ADD", [y3, g.randn(c)], y.shape, AddOptions())
    check_unchanged(g.done([a, b, d, y3]), list(ADD_PASSES.values()))


MUL_PASSES = {"CONV_2D": "fuse_mul_with_conv", "FULLY_CONNECTED": "fuse_mul_with_fullyconnected"}


@pytest.mark.parametrize("kind", list(MUL_PASSES))
@pytest.mark.parametrize("scalar", [True, False])
def test_fuse_mul(kind: str, scalar: bool) -> None:
    g = Graph()
    x = _input(g, kind)
    y, c = _conv(g, kind, x)
    scale = g.const(np.float32(-0.75)) if scalar else g.randn(c)
    model = g.done([g.op("MUL", [y, scale], y.shape, MulOptions(Act.RELU6))])
    opt = check_pass(model, MUL_PASSES[kind], {"MUL": -1})
    assert opt.main.operators[-1].options.fused_activation_function == Act.RELU6


@pytest.mark.parametrize("kind", list(MUL_PASSES))
def test_fuse_mul_must_not_fire_after_an_activation(kind: str) -> None:
    g = Graph()
    x = _input(g, kind)
    y, c = _conv(g, kind, x, act=Act.RELU)
    check_unchanged(g.done([g.op("MUL", [y, g.randn(c)], y.shape, MulOptions())]), list(MUL_PASSES.values()))


# ------------------------------------------------------------------------ fuse_activation_function


def _producer(g: Graph, kind: str, act: Act):
    x4 = g.input("x", (N, H, W, CIN))
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
        return _conv(g, kind, x4, act)[0]
    if kind == "FULLY_CONNECTED":
        x2 = g.input("x2", (2, 6))
        return _conv(g, kind, x2, act)[0]
    if kind in ("ADD", "SUB", "MUL", "DIV"):
        cls = {"ADD": AddOptions, "SUB": SubOptions, "MUL": MulOptions, "DIV": DivOptions}[kind]
        other = g.const(g.rng.uniform(0.5, 2.0, size=(CIN,)).astype(np.float32))
        return g.op(kind, [x4, other], x4.shape, cls(fused_activation_function=act))
    return g.op(kind, [x4], (N, 3, 3, CIN), Pool2DOptions(Padding.VALID, 2, 2, 2, 2, act))


TARGETS = ["CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "DIV",
           "AVERAGE_POOL_2D", "MAX_POOL_2D"]


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("act_op", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_fuse_activation_function(kind: str, act_op: str) -> None:
    g = Graph()
    y = _producer(g, kind, Act.NONE)
    model = g.done([g.op(act_op, [y], y.shape)])
    opt = check_pass(model, "fuse_activation_function", {act_op: -1})
    assert opt.main.operators[-1].options.fused_activation_function == Act[act_op]


@pytest.mark.parametrize(("existing", "act_op", "result"), [
    (Act.RELU, "RELU", Act.RELU), (Act.RELU6, "RELU", Act.RELU6), (Act.RELU, "RELU6", Act.RELU6),
    (Act.RELU6, "RELU6", Act.RELU6), (Act.RELU_N1_TO_1, "RELU_N1_TO_1", Act.RELU_N1_TO_1),
])
def test_fuse_activation_onto_an_activation(existing: Act, act_op: str, result: Act) -> None:
    g = Graph()
    y = _producer(g, "ADD", existing)
    opt = check_pass(g.done([g.op(act_op, [y], y.shape)]), "fuse_activation_function", {act_op: -1})
    assert opt.main.operators[-1].options.fused_activation_function == result


@pytest.mark.parametrize("case", ["relu_after_relu_n1_to_1", "tanh", "concatenation", "logistic_producer"])
def test_fuse_activation_must_not_fire(case: str) -> None:
    g = Graph()
    if case == "relu_after_relu_n1_to_1":
        y = _producer(g, "ADD", Act.RELU_N1_TO_1)
        out = g.op("RELU", [y], y.shape)
    elif case == "tanh":  # LiteRT ignores a fused TANH on these operators
        y = _producer(g, "CONV_2D", Act.NONE)
        out = g.op("TANH", [y], y.shape)
    elif case == "concatenation":  # LiteRT refuses any fused activation on CONCATENATION
        x = g.input("x", (2, 3))
        y = g.op("CONCATENATION", [x, x], (2, 6), ConcatenationOptions(axis=1))
        out = g.op("RELU", [y], y.shape)
    else:
        x = g.input("x", (2, 3))
        y = g.op("LOGISTIC", [x], (2, 3))
        out = g.op("RELU", [y], y.shape)
    check_unchanged(g.done([out]), "fuse_activation_function")


def test_fuse_activation_must_not_fire_on_a_tensorflow_model_with_two_readers() -> None:
    """relu(conv(x)) + conv(x): the convolution's result is also read raw."""
    w = np.random.default_rng(0).standard_normal((3, 3, 4, 8)).astype(np.float32)

    def conv_relu_and_raw(x):
        import tensorflow as tf

        y = tf.nn.conv2d(x, w, 1, "SAME")
        return tf.nn.relu(y) + y

    model = one_core.load(tf_model(conv_relu_and_raw, [((1, 6, 6, 4), np.float32)]))
    assert counts(model) == {"CONV_2D": 1, "RELU": 1, "ADD": 1}
    check_unchanged(model, "fuse_activation_function")


def test_fusions_leave_quantized_operators_alone() -> None:
    """Fusions are float-only: an int8 model's operators stay as they are."""
    import modelzoo

    model = one_core.load(modelzoo.int8_per_channel_model())
    check_unchanged(model, [*BN_PASSES.values(), *ADD_PASSES.values(), *MUL_PASSES.values(),
                            "fuse_activation_function"])


def test_dtype_guard() -> None:
    assert DType.FLOAT32.numpy == np.float32


def _horizontal_fc(bias: bool = True, act: Act = Act.NONE, other_weights=None, reread: bool = False):
    g = Graph()
    x = g.input("x", (3, 6))
    fcs = [g.op("FULLY_CONNECTED", [x, w, g.randn(5) if bias else None], (3, 5), FullyConnectedOptions())
           for w in (g.randn(5, 6), other_weights(g) if other_weights else g.randn(5, 6))]
    y = g.op("ADD", fcs, (3, 5), AddOptions(act))
    return g.done([y, fcs[0]] if reread else [y])


@pytest.mark.parametrize(("bias", "act"), [(True, Act.NONE), (False, Act.RELU)])
def test_fuse_horizontal_fc_layers(bias: bool, act: Act) -> None:
    opt = check_pass(_horizontal_fc(bias, act), "fuse_horizontal_fc_layers", {"FULLY_CONNECTED": -1, "ADD": -1})
    assert opt.main.operators[0].options.fused_activation_function == act


@pytest.mark.parametrize("case", ["variable_weights", "reread"])
def test_fuse_horizontal_fc_layers_must_not_fire(case: str) -> None:
    if case == "variable_weights":
        model = _horizontal_fc(other_weights=lambda g: g.input("w", (5, 6)))
    else:
        model = _horizontal_fc(reread=True)
    check_unchanged(model, "fuse_horizontal_fc_layers")
