"""Elementwise, logic, activation and softmax-family converters on the variants the ONNX backend
suite leaves out (old opsets, attributes, run-time vs constant inputs, dynamic shapes, float16),
each compared with onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import one_core
from one_core.errors import UnsupportedOperatorError

import onnx_compare

RNG = np.random.default_rng(3)
F32, F16, I8, U8, I32, I64, BOOL = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT8, TensorProto.UINT8,
                                    TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL)
Input = tuple[str, int, Sequence[Any]]  # name, element type, shape (None or a string: dynamic)


def _model(op: str, inputs: Sequence[Input], outputs: Sequence[str] = ("out",), opset: int = 17,
           inits: Sequence[np.ndarray | None] = (), **attrs: Any) -> onnx.ModelProto:
    """A one-node model; `inits` holds constant values for the leading inputs (None: graph input)."""
    consts = [numpy_helper.from_array(v, name) for (name, _, _), v in zip(inputs, inits) if v is not None]
    taken = {c.name for c in consts}
    node = helper.make_node(op, [i[0] for i in inputs], list(outputs), **attrs)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs if n and n not in taken],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model)


def _check(model: onnx.ModelProto, feeds: Sequence[np.ndarray], rtol: float = 1e-5,
           reference: bool = False) -> one_core.Model:
    """Ours equals onnxruntime (or ONNX's reference implementation): floats within rtol of the
    output's scale (compared in float64), the rest exactly."""
    return onnx_compare.assert_matches(model, feeds, rtol, reference, as_dtype=np.float64)


def _ops(model: one_core.Model) -> list[str]:
    return [op.name for op in model.main.operators]


def _randn(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# --- softmax family: axis semantics before and from opset 13 ---------------------------------------


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset, axis", [(11, 1), (11, 0), (11, -1), (13, 1), (13, -3), (13, 2)])
def test_softmax_family_axis(op: str, opset: int, axis: int) -> None:
    model = _model(op, [("x", F32, [2, 3, 4])], opset=opset, axis=axis)
    _check(model, [_randn(2, 3, 4)])


@pytest.mark.parametrize("op", ["Softmax", "Hardmax"])
def test_softmax_family_dynamic_batch(op: str) -> None:
    """Opset 11 coerces to 2-D with the batch unknown: [-1, prod(axis:)] and back through SHAPE."""
    model = _model(op, [("x", F32, ["n", 3, 4])], opset=11, axis=1)
    _check(model, [_randn(5, 3, 4)])


def test_hardmax_ties_pick_the_first() -> None:
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.float32)
    _check(_model("Hardmax", [("x", F32, [2, 4])], opset=13), [x])


def test_hardmax_needs_the_axis_size() -> None:
    with pytest.raises(UnsupportedOperatorError, match="Hardmax over an axis whose size is unknown"):
        one_core.load(_model("Hardmax", [("x", F32, [2, "k"])], opset=13))


def test_softmax_float16() -> None:
    _check(_model("Softmax", [("x", F16, [3, 5])], opset=13), [_randn(3, 5, dtype=np.float16)], rtol=1e-3)


# --- Clip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attrs, expected", [({"min": 0.0, "max": 6.0}, "RELU6"), ({"min": 0.0}, "RELU"),
                                             ({"min": -1.0, "max": 1.0}, "RELU_N1_TO_1"),
                                             ({"max": 0.5}, "MINIMUM"), ({"min": -0.5, "max": 2.0}, "MINIMUM")])
def test_clip_attributes_before_opset_11(attrs: dict, expected: str) -> None:
    model = _check(_model("Clip", [("x", F32, [4, 6])], opset=6, **attrs), [_randn(4, 6) * 4])
    assert _ops(model)[-1] == expected


def test_clip_constant_bounds_become_relu6() -> None:
    model = _model("Clip", [("x", F32, [2, 8]), ("lo", F32, []), ("hi", F32, [])], opset=13,
                   inits=[None, np.array(0, np.float32), np.array(6, np.float32)])
    assert _ops(_check(model, [_randn(2, 8) * 5])) == ["RELU6"]


def test_clip_run_time_bounds_and_int8() -> None:
    model = _model("Clip", [("x", I8, [3, 4]), ("lo", I8, []), ("hi", I8, [])], opset=13)
    x = RNG.integers(-128, 128, (3, 4)).astype(np.int8)
    _check(model, [x, np.array(-20, np.int8), np.array(30, np.int8)])


def test_clip_without_bounds_is_the_input() -> None:
    _check(_model("Clip", [("x", F32, [3])], opset=13), [_randn(3)])


# --- arithmetic ---------------------------------------------------------------------------------


def test_pow_mixed_types() -> None:
    """A float base with a constant int64 exponent; an int32 base with a float exponent."""
    model = _model("Pow", [("x", F32, [2, 3]), ("p", I64, [3])], opset=15, inits=[None, np.array([2, 3, 0])])
    _check(model, [_randn(2, 3)])
    model = _model("Pow", [("x", I32, [4]), ("p", F32, [4])], opset=15)
    _check(model, [np.array([1, 2, 3, -2], np.int32), np.array([3.0, 0.5, 2.0, 3.0], np.float32)])


@pytest.mark.parametrize("fmod, elem, dtype", [(0, I32, np.int32), (1, I32, np.int32), (0, I8, np.int8),
                                               (1, I8, np.int8), (1, F32, np.float32)])
def test_mod(fmod: int, elem: int, dtype: type) -> None:
    """fmod=0 takes the divisor's sign, fmod=1 the dividend's (floats only with fmod=1 before opset 28)."""
    x = np.array([-7, 7, -7, 7, 5, -3, 0, 9], dtype)
    y = np.array([3, -3, -3, 3, 5, 2, 4, -4], dtype)
    if dtype is np.float32:
        x, y = x * 1.25, y * 0.75
    _check(_model("Mod", [("x", elem, [8]), ("y", elem, [8])], opset=13, fmod=fmod), [x, y])


@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min"])
def test_variadic_broadcast(op: str) -> None:
    model = _model(op, [("a", F32, [2, 1, 4]), ("b", F32, [3, 1]), ("c", F32, [4])], opset=13)
    _check(model, [_randn(2, 1, 4), _randn(3, 1), _randn(4)])


def test_variadic_single_input_and_float16() -> None:
    _check(_model("Max", [("a", F32, [3])], opset=13), [_randn(3)])
    model = _model("Sum", [("a", F16, [2, 3]), ("b", F16, [3])], opset=13)
    _check(model, [_randn(2, 3, dtype=np.float16), _randn(3, dtype=np.float16)], rtol=1e-3)


def test_float16_is_computed_in_float32() -> None:
    model = _check(_model("Sigmoid", [("x", F16, [2, 5])]), [_randn(2, 5, dtype=np.float16)], rtol=1e-3)
    assert _ops(model) == ["CAST", "LOGISTIC", "CAST"]


def test_dynamic_shapes_broadcast() -> None:
    model = _model("Div", [("a", F32, ["n", 4]), ("b", F32, [4])], opset=13, inits=[None, _randn(4) + 3])
    _check(model, [_randn(7, 4)])


@pytest.mark.parametrize("op, low, high", [
    ("Tan", -1.2, 1.2), ("Asin", -0.99, 0.99), ("Acos", -0.99, 0.99), ("Atan", -20, 20), ("Sinh", -5, 5),
    ("Cosh", -5, 5), ("Asinh", -50, 50), ("Acosh", 1, 30), ("Atanh", -0.95, 0.95), ("Erf", -6, 6),
    ("Reciprocal", 0.5, 4)])
def test_composed_math(op: str, low: float, high: float) -> None:
    x = np.concatenate([RNG.uniform(low, high, 200), [low, high, (low + high) / 2]]).astype(np.float32)
    _check(_model(op, [("x", F32, [x.size])], opset=13), [x], rtol=2e-6)


def test_erf_near_zero_is_relatively_precise() -> None:
    x = np.array([0.0, 1e-8, -1e-6, 3e-4, -2e-3], np.float32)
    model = one_core.load(_model("Erf", [("x", F32, [5])], opset=13))
    y = one_core.Session(model, backend="runtime").run([x])["out"]
    np.testing.assert_allclose(y, 2 / np.sqrt(np.pi) * x, rtol=1e-5)


# --- activations --------------------------------------------------------------------------------


@pytest.mark.parametrize("op, attrs", [
    ("Elu", {"alpha": 0.5}), ("Elu", {}), ("Celu", {"alpha": 2.0}), ("Selu", {"alpha": 1.5, "gamma": 2.0}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("ThresholdedRelu", {"alpha": 0.7}),
    ("Shrink", {"lambd": 0.8, "bias": 0.3}), ("LeakyRelu", {"alpha": 0.2}), ("Softsign", {}), ("Mish", {}),
    ("HardSwish", {})])
def test_activation_attributes(op: str, attrs: dict) -> None:
    _check(_model(op, [("x", F32, [3, 7])], opset=18, **attrs), [_randn(3, 7) * 3])


def test_softplus_does_not_overflow() -> None:
    x = np.array([-100, -20, -1, 0, 1, 20, 100, 500], np.float32)
    _check(_model("Softplus", [("x", F32, [8])]), [x])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate: str) -> None:
    model = _check(_model("Gelu", [("x", F32, [4, 5])], opset=20, approximate=approximate), [_randn(4, 5) * 3])
    assert _ops(model) == ["GELU"]


def test_prelu_per_channel_slope() -> None:
    model = _model("PRelu", [("x", F32, [2, 3, 4]), ("s", F32, [3, 1])], opset=16,
                   inits=[None, np.array([[0.1], [0.2], [-0.3]], np.float32)])
    _check(model, [_randn(2, 3, 4)])


def test_relu_of_integers() -> None:
    _check(_model("Relu", [("x", I32, [5])], opset=14), [np.array([-3, -1, 0, 2, 9], np.int32)])


# --- Dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [10, 13])
def test_dropout_mask_with_dynamic_shape(opset: int) -> None:
    """The mask is all true (onnxruntime gives all false before opset 12; ONNX's reference, true)."""
    model = _model("Dropout", [("x", F32, ["n", 3])], outputs=("out", "mask"), opset=opset)
    _check(model, [_randn(4, 3)], reference=True)


def test_dropout_training_mode() -> None:
    inputs = [("x", F32, [2, 3]), ("r", F32, []), ("t", BOOL, [])]
    off = _model("Dropout", inputs, opset=13, inits=[None, np.array(0.5, np.float32), np.array(False)])
    _check(off, [_randn(2, 3)])
    on = _model("Dropout", inputs, opset=13, inits=[None, np.array(0.5, np.float32), np.array(True)])
    with pytest.raises(UnsupportedOperatorError, match="training_mode is true"):
        one_core.load(on)


# --- Cast ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("to", [I32, BOOL, F16, U8])
def test_cast(to: int) -> None:
    x = np.array([-2.7, -0.0, 0.4, 1.5, 3.9, 200.2], np.float32)
    if to == U8:
        x = np.abs(x)
    _check(_model("Cast", [("x", F32, [6])], opset=13, to=to), [x])


def test_cast_like_and_same_type() -> None:
    model = _model("CastLike", [("x", F16, [4]), ("like", F32, [])], opset=15, inits=[None, np.array(0, np.float32)])
    _check(model, [_randn(4, dtype=np.float16)])
    assert _ops(_check(_model("Cast", [("x", F32, [3])], to=F32), [_randn(3)])) == ["RESHAPE"]  # output copy only


# --- logic, comparisons, bitwise -----------------------------------------------------------------


@pytest.mark.parametrize("positive, negative", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_is_inf(positive: int, negative: int) -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0, -3, 1e30], np.float32)
    model = _model("IsInf", [("x", F32, [6])], opset=20, detect_positive=positive, detect_negative=negative)
    _check(model, [x])


def test_is_nan_and_where_broadcast() -> None:
    _check(_model("IsNaN", [("x", F32, [3])], opset=13), [np.array([np.nan, 1, np.inf], np.float32)])
    model = _model("Where", [("c", BOOL, [2, 1]), ("a", F32, [3]), ("b", F32, [2, 3])], opset=16)
    _check(model, [np.array([[True], [False]]), _randn(3), _randn(2, 3)])


@pytest.mark.parametrize("op", ["Equal", "Less", "GreaterOrEqual", "Xor", "And"])
def test_comparisons_and_logic(op: str) -> None:
    if op in ("Xor", "And"):
        model = _model(op, [("a", BOOL, [2, 3]), ("b", BOOL, [3])], opset=16)
        _check(model, [RNG.random((2, 3)) < 0.5, RNG.random(3) < 0.5])
    else:
        model = _model(op, [("a", I32, [2, 3]), ("b", I32, [3])], opset=16)
        _check(model, [RNG.integers(0, 3, (2, 3)).astype(np.int32), RNG.integers(0, 3, 3).astype(np.int32)])


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("elem, dtype", [(U8, np.uint8), (I32, np.int32)])
def test_bit_shift_constant_amounts(direction: str, elem: int, dtype: type) -> None:
    """Constant amounts are resolved at import, including the out-of-range ones."""
    amounts = np.array([0, 1, 3, 7, 8, 31, 32, 40], dtype)
    x = np.array([1, 3, 200, 255, 255, 7, 9, 1], dtype) * (dtype(-1) if dtype is np.int32 else dtype(1))
    model = _model("BitShift", [("x", elem, [8]), ("s", elem, [8])], opset=28 if dtype is np.int32 else 11,
                   inits=[None, amounts], direction=direction)
    _check(model, [x])


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("elem, dtype, opset", [(U8, np.uint8, 11), (I8, np.int8, 28)])
def test_bit_shift_run_time_amounts(direction: str, elem: int, dtype: type, opset: int) -> None:
    model = _model("BitShift", [("x", elem, [2, 4]), ("s", elem, [4])], opset=opset, direction=direction)
    x = np.array([[1, 3, 255, 128], [7, 8, 9, 10]]).astype(dtype)
    amounts = np.array([0, 2, 7, 9] if dtype is np.uint8 else [0, -2, 7, 9]).astype(dtype)
    _check(model, [x, amounts])


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise_signed(op: str) -> None:
    a = RNG.integers(-128, 128, (3, 5)).astype(np.int8)
    b = RNG.integers(-128, 128, (5,)).astype(np.int8)
    _check(_model(op, [("a", I8, [3, 5]), ("b", I8, [5])], opset=18), [a, b])


def test_bitwise_not_and_64_bit_and() -> None:
    _check(_model("BitwiseNot", [("a", U8, [4])], opset=18), [np.array([0, 1, 127, 255], np.uint8)])
    with pytest.raises(UnsupportedOperatorError, match="BitwiseAnd of 64-bit integers"):
        one_core.load(_model("BitwiseAnd", [("a", I64, [2]), ("b", I64, [2])], opset=18))


def test_result_types_without_onnx_inference() -> None:
    """Behind a custom operator ONNX infers nothing: comparisons still give bool, Where its values' type."""
    nodes = [helper.make_node("Mystery", ["x"], ["m"], domain="my.ops"), helper.make_node("Less", ["m", "x"], ["c"]),
             helper.make_node("Where", ["c", "x", "m"], ["w"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in ("c", "w")])
    model = one_core.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                                  helper.make_opsetid("my.ops", 1)]), custom_ops=True)
    assert [(t.name, t.dtype.name) for t in model.main.outputs] == [("c", "BOOL"), ("w", "FLOAT32")]
