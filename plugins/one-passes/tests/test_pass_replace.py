"""Rewrites for particular back ends: replace_cw_mul_add_with_depthwise_conv and
shuffle_weight_to_16x1float32 (with the runtime running, and the C back end refusing, the
shuffled weights format)."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, clone, counts, run, tf_model

import one_core
from one_core.errors import OneError
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, FullyConnectedOptions, MulOptions
from one_core.ir.options import FullyConnectedOptionsWeightsFormat as WeightsFormat
from one_core.passes import available_passes
from one_passes.replace import shuffled_16x1

PASSES = ["replace_cw_mul_add_with_depthwise_conv", "shuffle_weight_to_16x1float32"]
C = 5


def test_not_in_o1() -> None:
    registry = available_passes()
    assert all(not registry[name].levels for name in PASSES)


# ---------------------------------------------------------- replace_cw_mul_add_with_depthwise_conv


def _mul_add(*, gamma_shape=(C,), beta_shape=(C,), const_first=False, act=Act.NONE, x_shape=(1, 6, 6, C),
             mul_act=Act.NONE, mul_read_twice=False):
    g = Graph()
    x = g.input("x", x_shape)
    out_shape = (*x_shape[:-1], C)
    gamma, beta = g.randn(*gamma_shape), g.randn(*beta_shape)
    m = g.op("MUL", [gamma, x] if const_first else [x, gamma], out_shape, MulOptions(mul_act))
    y = g.op("ADD", [beta, m] if const_first else [m, beta], out_shape, AddOptions(act))
    return g.done([y, m] if mul_read_twice else [y])


@pytest.mark.parametrize("variant", ["plain", "rank4_constants_first_relu6", "scalar_gamma"])
def test_replace_cw_mul_add_with_depthwise_conv(variant: str) -> None:
    options = {"plain": {}, "rank4_constants_first_relu6": {"gamma_shape": (1, 1, 1, C), "beta_shape": (1, 1, 1, C),
                                                            "const_first": True, "act": Act.RELU6},
               "scalar_gamma": {"gamma_shape": ()}}[variant]
    model = _mul_add(**options)
    opt = check_pass(model, "replace_cw_mul_add_with_depthwise_conv", {"MUL": -1, "ADD": -1, "DEPTHWISE_CONV_2D": 1})
    (dw,) = opt.main.operators
    assert dw.outputs[0].name == model.main.outputs[0].name
    assert dw.input(1).shape == (1, 1, 1, C) and dw.input(2).shape == (C,)
    o = dw.options
    assert (o.stride_h, o.stride_w, o.depth_multiplier, o.dilation_h_factor, o.dilation_w_factor) == (1, 1, 1, 1, 1)
    assert o.fused_activation_function == options.get("act", Act.NONE)


GAMMA = np.linspace(0.5, 1.5, 3).astype(np.float32)
BETA = np.array([0.25, -1.0, 2.0], np.float32)


def cw_scale_shift(x):
    return x * GAMMA + BETA


def test_replace_cw_mul_add_tensorflow() -> None:
    """x * gamma + beta as TensorFlow's converter writes it (MUL, ADD), with a dynamic batch."""
    model = one_core.load(tf_model(cw_scale_shift, [((None, 4, 4, 3), np.float32)]))
    assert counts(model) == {"MUL": 1, "ADD": 1}
    opt = check_pass(model, "replace_cw_mul_add_with_depthwise_conv", {"MUL": -1, "ADD": -1, "DEPTHWISE_CONV_2D": 1})
    assert opt.main.outputs[0].shape_signature == (-1, 4, 4, 3)


@pytest.mark.parametrize("case", ["mul_read_twice", "mul_activation", "not_per_channel", "rank3", "broadcast_input",
                                  "two_variables"])
def test_replace_cw_mul_add_must_not_fire(case: str) -> None:
    if case == "mul_read_twice":
        model = _mul_add(mul_read_twice=True)
    elif case == "mul_activation":
        model = _mul_add(mul_act=Act.RELU)
    elif case == "not_per_channel":
        model = _mul_add(gamma_shape=(1, 6, 6, C))
    elif case == "rank3":
        model = _mul_add(x_shape=(6, 6, C))
    elif case == "broadcast_input":  # x [1, 6, 6, 1] broadcast to C channels by the MUL
        model = _mul_add(x_shape=(1, 6, 6, 1))
    else:
        g = Graph()
        x, s = g.input("x", (1, 6, 6, C)), g.input("s", (C,))
        m = g.op("MUL", [x, s], x.shape, MulOptions())
        model = g.done([g.op("ADD", [m, g.randn(C)], x.shape, AddOptions())])
    check_unchanged(model, "replace_cw_mul_add_with_depthwise_conv")


# ------------------------------------------------------------------ shuffle_weight_to_16x1float32


def _one_shuffle(w: np.ndarray) -> np.ndarray:
    """ONE's ShuffleWeightTo16x1Float32Pass, loop for loop."""
    rows, cols = w.shape
    flat, src = np.empty(w.size, w.dtype), w.reshape(-1)
    index = 0
    for r in range(rows // 16):
        for c in range(cols):
            for i in range(16):
                flat[index] = src[(r * 16 + i) * cols + c]
                index += 1
    return flat.reshape(rows, cols)


def test_shuffled_layout_is_ones() -> None:
    from one_backend_runtime.kernels.dense import unshuffled_16x1

    w = np.arange(48 * 7, dtype=np.float32).reshape(48, 7)
    np.testing.assert_array_equal(shuffled_16x1(w), _one_shuffle(w))
    np.testing.assert_array_equal(unshuffled_16x1(shuffled_16x1(w)), w)
    assert shuffled_16x1(w).reshape(-1)[:3].tolist() == [0.0, 7.0, 14.0]  # rows 0, 1, 2 of column 0


def _fc_model(rows: int = 32, *, shared: bool = True, weights_input: bool = False):
    g = Graph()
    x = g.input("x", (3, 10))
    w = g.input("w", (rows, 10)) if weights_input else g.randn(rows, 10)
    outs = [g.op("FULLY_CONNECTED", [x, w, g.randn(rows)], (3, rows), FullyConnectedOptions(Act.RELU))]
    if shared:
        x2 = g.input("x2", (2, 10))
        outs.append(g.op("FULLY_CONNECTED", [x2, w, None], (2, rows), FullyConnectedOptions()))
    return g.done(outs)


def test_shuffle_weight_to_16x1float32() -> None:
    """Both FULLY_CONNECTED reading the weights get the shuffled copy and the format. LiteRT
    cannot run circle's SHUFFLED16x1FLOAT32, so only the runtime compares outputs."""
    model = _fc_model()
    opt = check_pass(model, "shuffle_weight_to_16x1float32", {}, litert=False)
    fcs = opt.main.operators
    assert [fc.options.weights_format for fc in fcs] == [WeightsFormat.SHUFFLED16x1FLOAT32] * 2
    assert fcs[0].input(1) is fcs[1].input(1)
    np.testing.assert_array_equal(fcs[0].input(1).data, _one_shuffle(model.main.operators[0].input(1).data))


@pytest.mark.parametrize("case", ["rows_not_multiple_of_16", "weights_at_run_time"])
def test_shuffle_weight_must_not_fire(case: str) -> None:
    model = _fc_model(24) if case == "rows_not_multiple_of_16" else _fc_model(weights_input=True)
    check_unchanged(model, "shuffle_weight_to_16x1float32")


def _shuffled_model():
    model = clone(_fc_model(shared=False))
    assert available_passes()["shuffle_weight_to_16x1float32"].run(model)
    return model


def test_runtime_refuses_other_weights_formats() -> None:
    model = _shuffled_model()
    fc = model.main.operators[0]
    fc.options.weights_format = WeightsFormat.SHUFFLED4x16INT8
    with pytest.raises(OneError, match="weights format SHUFFLED4x16INT8 is not supported"):
        run(model, [np.zeros((3, 10), np.float32)])


def test_codegen_refuses_shuffled_weights() -> None:
    pytest.importorskip("one_backend_codegen")
    from one_backend_codegen.generate import generate

    from one_core.errors import UnsupportedOperatorError

    generate(_fc_model(shared=False))  # the plain model is supported
    with pytest.raises(UnsupportedOperatorError, match="FULLY_CONNECTED"):
        generate(_shuffled_model())


def test_weight_fusions_leave_shuffled_weights_alone() -> None:
    """A MUL after, or an ADD of two, FULLY_CONNECTED with shuffled weights: scaling or summing
    them as an [O, I] matrix would compute something else, so the fusions do not fire."""
    g = Graph()
    x = g.input("x", (3, 10))
    w1, w2 = g.randn(32, 10), g.randn(32, 10)
    a = g.op("FULLY_CONNECTED", [x, w1, None], (3, 32), FullyConnectedOptions())
    b = g.op("FULLY_CONNECTED", [x, w2, None], (3, 32), FullyConnectedOptions())
    s = g.op("ADD", [a, b], (3, 32), AddOptions())
    y = g.op("MUL", [s, g.randn(32)], (3, 32), MulOptions())
    plain = g.done([y])
    assert available_passes()["fuse_horizontal_fc_layers"].run(clone(plain))  # fires on plain weights
    shuffled = clone(plain)
    assert available_passes()["shuffle_weight_to_16x1float32"].run(shuffled)
    check_unchanged(shuffled, ["fuse_horizontal_fc_layers", "fuse_mul_with_fullyconnected"])
