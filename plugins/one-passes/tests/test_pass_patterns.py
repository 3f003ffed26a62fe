"""fuse_instnorm, fuse_prelu, fuse_gelu, fuse_mean_with_mean, fuse_transpose_with_mean,
replace_with_fc_gelu_fc."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, counts, tf_model

import one_core
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import (
    AddOptions,
    DivOptions,
    FullyConnectedOptions,
    MulOptions,
    ReducerOptions,
    TransposeOptions,
)

RNG = np.random.default_rng(5)
GAMMA = RNG.uniform(0.5, 1.5, 8).astype(np.float32)
BETA = RNG.standard_normal(8).astype(np.float32)


def instnorm_by_hand(x):
    import tensorflow as tf

    mean, var = tf.nn.moments(x, [1, 2], keepdims=True)
    return GAMMA * (x - mean) * tf.math.rsqrt(var + 1e-3) + BETA


def instnorm_batch_normalization(x):
    import tensorflow as tf

    mean, var = tf.nn.moments(x, [1, 2], keepdims=True)
    return tf.nn.relu(tf.nn.batch_normalization(x, mean, var, BETA, GAMMA, 1e-3))


@pytest.mark.parametrize("fn", [instnorm_by_hand, instnorm_batch_normalization])
def test_fuse_instnorm_tensorflow(fn) -> None:
    model = one_core.load(tf_model(fn, [((2, 6, 6, 8), np.float32)]))
    before = counts(model)
    assert before["MEAN"] == 2 and before["RSQRT"] == 1
    opt = check_pass(model, "fuse_instnorm", None)
    after = counts(opt)
    assert after["INSTANCE_NORM"] == 1 and "MEAN" not in after and "RSQRT" not in after
    norm = next(op for op in opt.main.operators if op.type == "INSTANCE_NORM")
    assert norm.options.epsilon == pytest.approx(1e-3)


def test_fuse_instnorm_must_not_fire() -> None:
    """The mean is also a model output; and a layer norm (mean over the channels)."""
    def layer_norm(x):
        import tensorflow as tf

        mean, var = tf.nn.moments(x, [3], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-3)

    check_unchanged(one_core.load(tf_model(layer_norm, [((2, 6, 6, 8), np.float32)])), "fuse_instnorm")

    def mean_also_out(x):
        import tensorflow as tf

        mean, var = tf.nn.moments(x, [1, 2], keepdims=True)
        return GAMMA * (x - mean) * tf.math.rsqrt(var + 1e-3) + BETA, mean

    check_unchanged(one_core.load(tf_model(mean_also_out, [((2, 6, 6, 8), np.float32)])), "fuse_instnorm")


def prelu_by_hand(x):
    import tensorflow as tf

    return tf.maximum(x, 0.0) + np.linspace(0.1, 0.3, 5, dtype=np.float32) * tf.minimum(x, 0.0)


def test_fuse_prelu_tensorflow() -> None:
    model = one_core.load(tf_model(prelu_by_hand, [((3, 4, 5), np.float32)]))
    assert counts(model) == {"RELU": 1, "MINIMUM": 1, "MUL": 1, "ADD": 1}
    check_pass(model, "fuse_prelu", {"RELU": -1, "MINIMUM": -1, "MUL": -1, "ADD": -1, "PRELU": 1})


def test_fuse_prelu_must_not_fire() -> None:
    """MINIMUM against 0.5, and a RELU read elsewhere."""
    g = Graph()
    x = g.input("x", (3, 5))
    alpha = g.const(np.full(5, 0.2, np.float32))
    r = g.op("RELU", [x], (3, 5))
    m = g.op("MUL", [g.op("MINIMUM", [x, g.const(np.float32(0.5))], (3, 5)), alpha], (3, 5), MulOptions())
    a = g.op("ADD", [r, m], (3, 5), AddOptions())
    r2 = g.op("RELU", [x], (3, 5))
    m2 = g.op("MUL", [g.op("MINIMUM", [x, g.const(np.float32(0.0))], (3, 5)), alpha], (3, 5), MulOptions())
    b = g.op("ADD", [r2, m2], (3, 5), AddOptions())
    check_unchanged(g.done([a, b, r2]), "fuse_prelu")


def _mean(g: Graph, x, axes, keep, shape):
    return g.op("MEAN", [x, g.const(np.array(axes, np.int32))], shape, ReducerOptions(keep_dims=keep))


@pytest.mark.parametrize("keep", [True, False])
def test_fuse_mean_with_mean(keep: bool) -> None:
    g = Graph()
    x = g.input("x", (2, 4, 5, 3))
    if keep:
        y = _mean(g, _mean(g, x, [1], True, (2, 1, 5, 3)), [2], True, (2, 1, 1, 3))
    else:
        y = _mean(g, _mean(g, x, [1], False, (2, 5, 3)), [1], False, (2, 3))
    opt = check_pass(g.done([y]), "fuse_mean_with_mean", {"MEAN": -1})
    assert sorted(opt.main.operators[0].input(1).data) == [1, 2]


def test_fuse_mean_with_mean_must_not_fire_with_mixed_keep_dims() -> None:
    g = Graph()
    x = g.input("x", (2, 4, 5, 3))
    y = _mean(g, _mean(g, x, [1], False, (2, 5, 3)), [1], True, (2, 1, 3))
    check_unchanged(g.done([y]), "fuse_mean_with_mean")


def test_fuse_transpose_with_mean() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4, 5))
    t = g.op("TRANSPOSE", [x, g.const(np.array([0, 2, 1, 3], np.int32))], (2, 4, 3, 5), TransposeOptions())
    model = g.done([_mean(g, t, [1, 2], False, (2, 5))])
    opt = check_pass(model, "fuse_transpose_with_mean", {"TRANSPOSE": -1})
    assert sorted(opt.main.operators[0].input(1).data) == [1, 2]


def test_fuse_transpose_with_mean_must_not_fire_when_order_changes() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4, 5))
    t = g.op("TRANSPOSE", [x, g.const(np.array([0, 3, 1, 2], np.int32))], (2, 5, 3, 4), TransposeOptions())
    check_unchanged(g.done([_mean(g, t, [2], False, (2, 5, 4))]), "fuse_transpose_with_mean")


# -------------------------------------------------------------------------------- fuse_gelu


def _gelu_erf_reference(xs):
    from math import erf, sqrt

    x = xs[0].astype(np.float64)
    return [(0.5 * x * (1 + np.vectorize(erf)(x / sqrt(2)))).astype(np.float32)]


def _erf_model(variant: str, half: float = 0.5, reread: bool = False):
    """0.5 * x * (1 + Erf(x / sqrt 2)) with Erf a custom operator, as ONE finds it."""
    g = Graph()
    x = g.input("x", (2, 16))
    if variant == "div":
        s = g.op("DIV", [x, g.const(np.float32(np.sqrt(2)))], x.shape, DivOptions())
    else:
        s = g.op("MUL", [x, g.const(np.float32(np.sqrt(0.5)))], x.shape, MulOptions())
    e = g.op("CUSTOM", [s], x.shape, custom_code="Erf")
    p = g.op("ADD", [e, g.const(np.float32(1))], x.shape, AddOptions())
    if variant == "div":  # (x * 0.5) * (1 + erf)
        y = g.op("MUL", [g.op("MUL", [x, g.const(np.float32(half))], x.shape, MulOptions()), p], x.shape, MulOptions())
    else:  # (x * (1 + erf)) * 0.5
        y = g.op("MUL", [g.op("MUL", [x, p], x.shape, MulOptions()), g.const(np.float32(half))], x.shape, MulOptions())
    return g.done([y, p] if reread else [y])


@pytest.mark.parametrize("variant", ["one", "div"])
def test_fuse_gelu_erf(variant: str) -> None:
    removed = {"MUL": -3} if variant == "one" else {"MUL": -2, "DIV": -1}
    opt = check_pass(_erf_model(variant), "fuse_gelu", {**removed, "Erf": -1, "ADD": -1, "GELU": 1},
                     reference=_gelu_erf_reference)
    assert opt.main.operators[0].options.approximate is False


def _tanh_model(cube: str):
    g = Graph()
    x = g.input("x", (2, 16))
    if cube == "pow":
        c = g.op("POW", [x, g.const(np.float32(3))], x.shape)
    else:
        c = g.op("MUL", [x, g.op("MUL", [x, x], x.shape, MulOptions())], x.shape, MulOptions())
    u = g.op("ADD", [x, g.op("MUL", [c, g.const(np.float32(0.044715))], x.shape, MulOptions())], x.shape, AddOptions())
    t = g.op("TANH", [g.op("MUL", [g.const(np.float32(0.7978845608)), u], x.shape, MulOptions())], x.shape)
    p = g.op("ADD", [g.const(np.float32(1)), t], x.shape, AddOptions())
    half_x = g.op("MUL", [g.const(np.float32(0.5)), x], x.shape, MulOptions())
    return g.done([g.op("MUL", [half_x, p], x.shape, MulOptions())])


@pytest.mark.parametrize("cube", ["pow", "mul"])
def test_fuse_gelu_tanh(cube: str) -> None:
    opt = check_pass(_tanh_model(cube), "fuse_gelu", None)
    assert [op.type for op in opt.main.operators] == ["GELU"]
    assert opt.main.operators[0].options.approximate is True


@pytest.mark.parametrize("case", ["not_half", "reread"])
def test_fuse_gelu_must_not_fire(case: str) -> None:
    model = _erf_model("one", half=0.4) if case == "not_half" else _erf_model("one", reread=True)
    check_unchanged(model, "fuse_gelu")


# ------------------------------------------------------------------ replace_with_fc_gelu_fc

SQRT_HALF = np.float32(np.sqrt(0.5))


def _fc_gelu_fc_model(bias: bool = True, w2_offset: float = 0.0, fc1_act: Act = Act.NONE,
                      fc1_read_twice: bool = False, mul_read_twice: bool = False):
    """FC3(FC1(x) * (1 + Erf(FC2(x)))) with FC2 = FC1 * sqrt(1/2) in float32 (x [2, 16],
    16 -> 32 -> 8, FC3 with bias and RELU). Returns (model, numpy reference)."""
    g = Graph()
    x = g.input("x", (2, 16))
    w1 = (g.rng.standard_normal((32, 16)) * 0.1).astype(np.float32)
    b1 = g.rng.standard_normal(32).astype(np.float32) if bias else None
    w3, b3 = g.rng.standard_normal((8, 32)).astype(np.float32), g.rng.standard_normal(8).astype(np.float32)
    w2 = w1 * SQRT_HALF + np.float32(w2_offset)
    b2 = None if b1 is None else b1 * SQRT_HALF

    def fc(w, b, inp, shape, act=Act.NONE):
        return g.op("FULLY_CONNECTED", [inp, g.const(w), None if b is None else g.const(b)], shape,
                    FullyConnectedOptions(act))

    y = fc(w1, b1, x, (2, 32), fc1_act)
    e = g.op("CUSTOM", [fc(w2, b2, x, (2, 32))], (2, 32), custom_code="Erf")
    m = g.op("MUL", [y, g.op("ADD", [g.const(np.float32(1)), e], (2, 32), AddOptions())], (2, 32), MulOptions())
    outs = [fc(w3, b3, m, (2, 8), Act.RELU)]
    outs += [y] if fc1_read_twice else []
    outs += [m] if mul_read_twice else []

    def reference(xs):
        from math import erf

        v = xs[0].astype(np.float64)
        y64 = v @ w1.T.astype(np.float64) + (0 if b1 is None else b1)
        z64 = v @ w2.T.astype(np.float64) + (0 if b2 is None else b2)
        out = np.maximum((y64 * (1 + np.vectorize(erf)(z64))) @ w3.T.astype(np.float64) + b3, 0)
        return [out.astype(np.float32)] + ([y64.astype(np.float32)] if fc1_read_twice else [])

    return g.done(outs), reference


@pytest.mark.parametrize("variant", ["bias", "no_bias", "fc1_read_twice"])
def test_replace_with_fc_gelu_fc(variant: str) -> None:
    """y * (1 + erf(y / sqrt 2)) is 2 * gelu(y): FC3's weights double; FC1 stays (also for
    another reader)."""
    model, reference = _fc_gelu_fc_model(bias=variant != "no_bias", fc1_read_twice=variant == "fc1_read_twice")
    opt = check_pass(model, "replace_with_fc_gelu_fc",
                     {"FULLY_CONNECTED": -1, "Erf": -1, "ADD": -1, "MUL": -1, "GELU": 1}, reference=reference)
    fc1, gelu, fc3 = opt.main.operators
    assert (fc1.type, gelu.type, fc3.type) == ("FULLY_CONNECTED", "GELU", "FULLY_CONNECTED")
    assert gelu.options.approximate is False and fc3.options.fused_activation_function == Act.RELU
    assert fc3.outputs[0].name == model.main.outputs[0].name
    np.testing.assert_array_equal(fc3.input(1).data, model.main.operators[-1].input(1).data * 2)


@pytest.mark.parametrize("case", ["weights_off", "fc1_activation", "mul_read_twice"])
def test_replace_with_fc_gelu_fc_must_not_fire(case: str) -> None:
    """FC2's weights 5e-6 off FC1's * sqrt(1/2) (within ONE's absolute 1e-5, not float32
    rounding of weights about 0.1), an activation on FC1, the product read elsewhere."""
    options = {"weights_off": {"w2_offset": 5e-6}, "fc1_activation": {"fc1_act": Act.RELU},
               "mul_read_twice": {"mul_read_twice": True}}[case]
    check_unchanged(_fc_gelu_fc_model(**options)[0], "replace_with_fc_gelu_fc")
