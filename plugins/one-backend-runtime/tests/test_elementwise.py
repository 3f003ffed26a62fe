"""Elementwise kernels against LiteRT's reference kernels: float, int8 and int16x8 models made
with TensorFlow, exhaustive int8 input pairs for the table-driven integer kernels, and a few
hand-built models for paths the converter does not emit (uint8, power-of-two int16 ADD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opharness import check, random_inputs, run_litert, run_ours, tflite_model


class _LazyTF:
    """`tf` imported on first use: a warm model cache never loads TensorFlow."""

    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()

S4 = (2, 3, 4, 5)
PAIRS = (256, 256)


def int8_pairs() -> list[np.ndarray]:
    """Every (a, b) pair of int8 values, as two (256, 256) tensors."""
    v = np.arange(-128, 128, dtype=np.int8)
    return [np.repeat(v, 256).reshape(PAIRS), np.tile(v, 256).reshape(PAIRS)]


def input_quantization(path: Path) -> list[tuple[float, int]]:
    from ai_edge_litert.interpreter import Interpreter

    return [d["quantization"] for d in Interpreter(model_path=str(path)).get_input_details()]


def int16_sweep(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """int16 values spread over the whole range, including both ends and zero."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, size=int(np.prod(shape)), dtype=np.int64)
    x[:5] = [-32768, -32767, 0, 32766, 32767]
    return x.astype(np.int16).reshape(shape)


def check_against_default_kernels(path: Path, seed: int = 0, inputs: list[np.ndarray] | None = None) -> None:
    """For operators that LiteRT's reference resolver lacks (CEIL, ROUND, int32 ABS): compare
    with its default kernels."""
    xs = inputs if inputs is not None else random_inputs(path, np.random.default_rng(seed))
    want = run_litert(path, xs, reference=False)
    got = run_ours(path, xs)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * max(float(np.abs(w).max()), 1e-30))


# --------------------------------------------------------------------------------------------
# ADD, SUB, MUL, DIV
# --------------------------------------------------------------------------------------------


def add_fn(a, b):
    return a + b


def add_relu(a, b):
    return tf.nn.relu(a + b)


def sub_fn(a, b):
    return a - b


def sub_relu6(a, b):
    return tf.nn.relu6(a - b)


def mul_fn(a, b):
    return a * b


def mul_relu(a, b):
    return tf.nn.relu(a * b)


def mul_clip1(a, b):
    return tf.clip_by_value(a * b, -1.0, 1.0)


def div_fn(a, b):
    return a / b


def div_relu(a, b):
    return tf.nn.relu(a / b)


BROADCASTS = [
    [(S4, np.float32), (S4, np.float32)],
    [(S4, np.float32), ((5,), np.float32)],
    [((2, 1, 4, 1), np.float32), ((3, 1, 5), np.float32)],
    [((1,), np.float32), ((3, 4), np.float32)],
]


@pytest.mark.parametrize("fn", [add_fn, add_relu, sub_fn, sub_relu6, mul_fn, mul_relu, mul_clip1, div_fn, div_relu])
@pytest.mark.parametrize("specs", BROADCASTS[:3], ids=["same", "bcast_last", "bcast_both"])
def test_arith_float(fn, specs):
    check(tflite_model(fn, specs))


@pytest.mark.parametrize("fn", [add_fn, sub_fn, mul_fn, add_relu, sub_relu6, mul_clip1])
def test_arith_int8_all_pairs(fn):
    path = tflite_model(fn, [(PAIRS, np.float32)] * 2, quantize="int8")
    check(path, inputs=int8_pairs())


@pytest.mark.parametrize("fn", [add_fn, sub_fn, mul_relu])
@pytest.mark.parametrize("specs", [BROADCASTS[1], BROADCASTS[2]], ids=["bcast_last", "bcast_both"])
def test_arith_int8_broadcast(fn, specs):
    check(tflite_model(fn, specs, quantize="int8"))


@pytest.mark.parametrize("fn", [add_fn, sub_fn, mul_fn, add_relu, sub_relu6, mul_relu])
@pytest.mark.parametrize("specs", [BROADCASTS[0], BROADCASTS[2]], ids=["same", "bcast_both"])
def test_arith_int16x8(fn, specs):
    path = tflite_model(fn, specs, quantize="int16x8")
    check(path, seed=1)
    if specs[0][0] == specs[1][0]:
        check(path, inputs=[int16_sweep(S4, 1), int16_sweep(S4, 2)])


def test_div_int8_all_pairs():
    path = tflite_model(div_fn, [(PAIRS, np.float32)] * 2, quantize="int8")
    a, b = int8_pairs()
    _, zero = input_quantization(path)[1]
    b = np.where(b == zero, np.int8(zero + 1 if zero < 127 else zero - 1), b).astype(np.int8)
    check(path, inputs=[a, b])


def test_arith_int32():
    def int_arith(a, b):
        return a + b, a - b, a * b, tf.maximum(a, b), tf.minimum(a, b), a // b, tf.math.floormod(a, b)

    rng = np.random.default_rng(0)
    a = rng.integers(-50, 50, size=S4).astype(np.int32)
    b = rng.integers(1, 9, size=S4).astype(np.int32) * rng.choice([-1, 1], size=S4).astype(np.int32)
    check(tflite_model(int_arith, [(S4, np.int32)] * 2), inputs=[a, b])


# --------------------------------------------------------------------------------------------
# POW, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, FLOOR_DIV, FLOOR_MOD
# --------------------------------------------------------------------------------------------


def binary_mix(a, b):
    return (
        tf.pow(tf.abs(a) + 0.5, b),
        tf.math.squared_difference(a, b),
        tf.maximum(a, b),
        tf.minimum(a, b),
        tf.math.floordiv(a, b),
        tf.math.floormod(a, b),
    )


@pytest.mark.parametrize("specs", [BROADCASTS[0], BROADCASTS[2]], ids=["same", "bcast_both"])
def test_binary_float(specs):
    check(tflite_model(binary_mix, specs))


def int_pow(a, b):
    return tf.pow(a, b)


def test_pow_int32():
    rng = np.random.default_rng(0)
    a = rng.integers(-6, 7, size=S4).astype(np.int32)
    b = rng.integers(0, 5, size=S4).astype(np.int32)
    check(tflite_model(int_pow, [(S4, np.int32)] * 2), inputs=[a, b])


def sqdiff_fn(a, b):
    return tf.math.squared_difference(a, b)


def max_fn(a, b):
    return tf.maximum(a, b)


def min_fn(a, b):
    return tf.minimum(a, b)


@pytest.mark.parametrize("fn", [sqdiff_fn, max_fn, min_fn])
def test_binary_int8_all_pairs(fn):
    check(tflite_model(fn, [(PAIRS, np.float32)] * 2, quantize="int8"), inputs=int8_pairs())


@pytest.mark.parametrize("fn", [sqdiff_fn, max_fn])
def test_binary_int8_broadcast(fn):
    check(tflite_model(fn, BROADCASTS[2], quantize="int8"))


@pytest.mark.parametrize("fn", [max_fn, min_fn])
def test_max_min_int16x8(fn):
    path = tflite_model(fn, BROADCASTS[0], quantize="int16x8")
    check(path)
    check(path, inputs=[int16_sweep(S4, 3), int16_sweep(S4, 4)])


# --------------------------------------------------------------------------------------------
# Comparisons, logic, SELECT
# --------------------------------------------------------------------------------------------


def compare_all(a, b):
    return tf.less(a, b), tf.less_equal(a, b), tf.greater(a, b), tf.greater_equal(a, b), tf.equal(a, b), tf.not_equal(a, b)


def compare_rounded(a, b):
    # equal values happen often once both sides are rounded
    a = tf.round(a)
    b = tf.round(b)
    return tf.equal(a, b), tf.not_equal(a, b), tf.less_equal(a, b), tf.greater_equal(a, b)


def less_fn(a, b):
    return tf.less(a, b)


def equal_fn(a, b):
    return tf.equal(a, b)


def greater_equal_fn(a, b):
    return tf.greater_equal(a, b)


@pytest.mark.parametrize("specs", [BROADCASTS[0], BROADCASTS[2]], ids=["same", "bcast_both"])
def test_compare_float(specs):
    check(tflite_model(compare_all, specs))


def test_compare_float_equal_values():
    check_against_default_kernels(tflite_model(compare_rounded, BROADCASTS[0]))


def test_compare_int32():
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 3, size=S4).astype(np.int32)
    b = rng.integers(-3, 3, size=(5,)).astype(np.int32)
    check(tflite_model(compare_all, [(S4, np.int32), ((5,), np.int32)]), inputs=[a, b])


@pytest.mark.parametrize("fn", [less_fn, equal_fn, greater_equal_fn])
def test_compare_int8_all_pairs(fn):
    check(tflite_model(fn, [(PAIRS, np.float32)] * 2, quantize="int8"), inputs=int8_pairs())


def test_compare_int8_broadcast():
    check(tflite_model(less_fn, BROADCASTS[1], quantize="int8"))


def logic_mix(a, b):
    return tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_not(a)


def test_logical():
    check(tflite_model(logic_mix, [(S4, np.bool_), ((5,), np.bool_)]))


def select_fn(a, b):
    return tf.where(a > 0, a, b)


def select_v2_fn(a, b):
    return tf.where(a > 0, a, b[0])


@pytest.mark.parametrize("quantize", [None, "int8"])
@pytest.mark.parametrize("fn", [select_fn, select_v2_fn])
def test_select(fn, quantize):
    specs = [(S4, np.float32)] * 2 if fn is select_fn else [(S4, np.float32), ((3,) + S4, np.float32)]
    check(tflite_model(fn, specs, quantize=quantize))


# --------------------------------------------------------------------------------------------
# Unary math
# --------------------------------------------------------------------------------------------


def unary_mix(a):
    return (
        tf.exp(a),
        tf.math.log(tf.abs(a) + 0.01),
        tf.sqrt(tf.abs(a)),
        tf.math.rsqrt(tf.abs(a) + 0.01),
        tf.abs(a),
        -a,
        tf.sin(a * 3.0),
        tf.cos(a * 3.0),
        tf.square(a),
        tf.floor(a * 4.0),
        tf.sign(a),
    )


def test_unary_float():
    check(tflite_model(unary_mix, [(S4, np.float32)]))
    check(tflite_model(unary_mix, [((7,), np.float32)]), seed=3)


def ceil_round(a):
    # halves hit ROUND's ties-to-even rule
    return tf.math.ceil(a * 4.0), tf.round(a * 4.0), tf.round(tf.floor(a * 8.0) * 0.5)


def test_ceil_round_float():
    check_against_default_kernels(tflite_model(ceil_round, [(S4, np.float32)]))


def int_unary(a):
    return tf.abs(a), -a, tf.sign(a)


def test_unary_int32():
    # int32 ABS is version 5, newer than LiteRT's reference resolver knows
    x = np.arange(-60, 60, dtype=np.int32).reshape(S4)
    check_against_default_kernels(tflite_model(int_unary, [(S4, np.int32)]), inputs=[x])


def positive_data(rng: np.random.Generator) -> list[np.ndarray]:
    return [np.abs(rng.standard_normal((16, 16))).astype(np.float32) * 2.0 + 0.05]


def exp_abs(a):
    return tf.exp(a), tf.abs(a)


def log_fn(a):
    return tf.math.log(a)


def sqrt_fn(a):
    return tf.sqrt(a)


def rsqrt_fn(a):
    return tf.math.rsqrt(a)


ALL_INT8 = [np.arange(-128, 128, dtype=np.int8).reshape(16, 16)]


def test_exp_abs_int8():
    path = tflite_model(exp_abs, [((16, 16), np.float32)], quantize="int8")
    check(path, inputs=ALL_INT8)
    check(path)


@pytest.mark.parametrize("fn", [log_fn, sqrt_fn, rsqrt_fn])
def test_positive_unary_int8(fn):
    path = tflite_model(fn, [((16, 16), np.float32)], quantize="int8", representative=positive_data)
    _, zero = input_quantization(path)[0]
    # Inputs below the zero point are negative reals: LiteRT's RSQRT refuses them.
    check(path, inputs=[np.maximum(ALL_INT8[0], zero).astype(np.int8)])


@pytest.mark.parametrize("fn", [exp_abs, log_fn, rsqrt_fn])
def test_unary_int16x8(fn):
    representative = None if fn is exp_abs else positive_data
    path = tflite_model(fn, [((16, 16), np.float32)], quantize="int16x8", representative=representative)
    x = np.sort(int16_sweep((256,), 5)).reshape(16, 16)
    if fn is not exp_abs:
        x = np.abs(x.astype(np.int32)).clip(0, 32767).astype(np.int16)
    check(path, inputs=[x])


def float_ops_in_int8(a):
    # DEQUANTIZE -> float op -> QUANTIZE around the operators without int8 kernels
    return tf.sin(a), tf.square(a), tf.floor(a * 3.0), -a


def test_float_ops_inside_int8_model():
    path = tflite_model(float_ops_in_int8, [((16, 16), np.float32)], quantize="int8")
    check(path, inputs=ALL_INT8)


# --------------------------------------------------------------------------------------------
# CAST
# --------------------------------------------------------------------------------------------


def cast_mix(a, b, c):
    return (
        tf.cast(a * 7.0, tf.int32),
        tf.cast(b, tf.float32) * 0.5,
        tf.cast(c, tf.float32),
        tf.cast(b, tf.int8),
        tf.cast(a, tf.bool),
        tf.cast(b, tf.int64),
    )


def test_cast():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(S4).astype(np.float32)
    a.ravel()[:3] = [0.0, -0.0, 2.5]
    b = rng.integers(-300, 300, size=S4).astype(np.int32)
    c = rng.random(S4) < 0.5
    check(tflite_model(cast_mix, [(S4, np.float32), (S4, np.int32), (S4, np.bool_)]), inputs=[a, b, c])


# --------------------------------------------------------------------------------------------
# Hand-built models: paths the converter does not emit
# --------------------------------------------------------------------------------------------


def _quant(scale: float, zero: int):
    from one_core.ir import Quantization

    return Quantization(scale=np.array([scale], np.float32), zero_point=np.array([zero], np.int64))


def _binary_model(tmp_path: Path, op: str, options, dtype, qa, qb, qo, shape_b=S4, out_dtype=None) -> Path:
    import one_core
    from one_core.ir import Model, Operator, Subgraph, Tensor

    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    a = sg.add_tensor(Tensor("a", dtype, S4, quantization=_quant(*qa)))
    b = sg.add_tensor(Tensor("b", dtype, shape_b, quantization=_quant(*qb)))
    y = sg.add_tensor(Tensor("y", out_dtype or dtype, S4, quantization=_quant(*qo) if qo else None))
    sg.inputs = [a, b]
    sg.add_operator(Operator(op, [a, b], [y], options))
    sg.outputs = [y]
    path = tmp_path / f"{op.lower()}.tflite"
    one_core.save(model, path)
    return path


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "DIV", "LESS", "MAXIMUM"])
def test_uint8(tmp_path, op):
    from one_core.ir import DType, options

    opts = {
        "ADD": options.AddOptions(fused_activation_function=options.ActivationFunctionType.RELU),
        "SUB": options.SubOptions(),
        "MUL": options.MulOptions(fused_activation_function=options.ActivationFunctionType.RELU6),
        "DIV": options.DivOptions(),
        "LESS": options.LessOptions(),
        "MAXIMUM": options.MaximumMinimumOptions(),
    }[op]
    qo = None if op == "LESS" else ((0.05, 128) if op != "MAXIMUM" else (0.02, 130))
    qb = (0.02, 130) if op == "MAXIMUM" else (0.03, 100)
    path = _binary_model(tmp_path, op, opts, DType.UINT8, (0.02, 130), qb, qo, out_dtype=DType.BOOL if op == "LESS" else None)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=S4).astype(np.uint8)
    b = rng.integers(0, 256, size=S4).astype(np.uint8)
    if op == "DIV":
        b[b == 100] = 101
    check(path, inputs=[a, b])


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int16_power_of_two_scales(tmp_path, op):
    from one_core.ir import DType, options

    cls = options.AddOptions if op == "ADD" else options.SubOptions
    path = _binary_model(tmp_path, op, cls(pot_scale_int16=True), DType.INT16, (2.0**-12, 0), (2.0**-10, 0), (2.0**-10, 0))
    check(path, inputs=[int16_sweep(S4, 6), int16_sweep(S4, 7)])


@pytest.mark.parametrize("op", ["EQUAL", "NOT_EQUAL", "LESS", "GREATER_EQUAL"])
def test_int16_comparisons(tmp_path, op):
    # TFLite rescales quantized int16 for EQUAL/NOT_EQUAL, compares raw int16 for the others
    from one_core.ir import DType, options

    opts = {"EQUAL": options.EqualOptions(), "NOT_EQUAL": options.NotEqualOptions(), "LESS": options.LessOptions(), "GREATER_EQUAL": options.GreaterEqualOptions()}[op]
    path = _binary_model(tmp_path, op, opts, DType.INT16, (0.002, 0), (0.001, 0), None, out_dtype=DType.BOOL)
    rng = np.random.default_rng(0)
    a = rng.integers(-300, 300, size=S4).astype(np.int16)
    b = (a.astype(np.int32) * 2 + rng.integers(-1, 2, size=S4)).clip(-32768, 32767).astype(np.int16)
    check(path, inputs=[a, b])


def test_atan2_float():
    path = tflite_model(lambda y, x: tf.math.atan2(y, x), [((3, 4, 5), np.float32)] * 2)
    check_against_default_kernels(path)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32])
def test_bitwise_xor_and_right_shift(dtype):
    def fn(a, b, s):
        return tf.bitwise.bitwise_xor(a, b), tf.bitwise.right_shift(a, s)

    path = tflite_model(fn, [((4, 6), dtype), ((6,), dtype), ((4, 6), dtype)], tag=np.dtype(dtype).name)
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (4, 6), endpoint=True).astype(dtype)
    b = rng.integers(info.min, info.max, (6,), endpoint=True).astype(dtype)
    shifts = rng.integers(0, info.bits, (4, 6)).astype(dtype)
    check_against_default_kernels(path, inputs=[a, b, shifts])
