"""Elementwise kernels: arithmetic, comparisons, logic, selection, bitwise operations and unary math.

Float kernels are numpy ufuncs on float32 (never promoted to float64). Integer kernels give the
integers of LiteRT's reference kernels (tflite/kernels/*.cc and internal/reference/*.h), step
for step. Most of them run as table look-ups: an int8/uint8 operator with one input has 256
possible inputs and one with two inputs 65536 input pairs, so the factory evaluates TFLite's
integer recipe once on every possible input (vectorized, exact) and the kernel only indexes the
table. int16 unary operators use a 65536-entry table the same way; int16 binary operators run
the recipe vectorized in int64.

This module also holds the vectorized gemmlowp fixed-point helpers (exp, reciprocal, inverse
square root, ...) and TFLite's look-up-table builders that activations.py and reduce.py share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from one_core.errors import UnsupportedOperatorError
from one_core.ir import DType, Tensor

from .base import KernelFn, OpContext, apply_activation, kernel
from .quant import is_quantized, quantize_multiplier, round_half_away, tensor_activation_range

I64 = np.int64
F32 = np.float32
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLT_MAX = float(np.finfo(np.float32).max)

# --------------------------------------------------------------------------------------------
# Quantization parameters
# --------------------------------------------------------------------------------------------


def qparams(t: Tensor) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized tensor, the scale a float32 value held
    exactly in a Python float (TFLite keeps `params.scale` as float)."""
    q = t.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        return 0.0, 0
    scale = float(np.float32(q.scale.reshape(-1)[0]))
    zp = int(q.zero_point.reshape(-1)[0]) if q.zero_point is not None and q.zero_point.size else 0
    return scale, zp


def int_range(dtype: np.dtype | type) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def all_values(dtype: np.dtype | type) -> np.ndarray:
    """Every value of an 8- or 16-bit integer type, as int64."""
    lo, hi = int_range(dtype)
    return np.arange(lo, hi + 1, dtype=I64)


def unsigned_view(x: np.ndarray) -> np.ndarray:
    """The bits of an int8/int16 array as uint8/uint16 (the index into a full table)."""
    x = np.asarray(x)
    if x.dtype == np.int8:
        return x.view(np.uint8)
    if x.dtype == np.int16:
        return x.view(np.uint16)
    return x


def table_for(dtype: np.dtype | type, outputs: np.ndarray, out_dtype: np.dtype | type) -> np.ndarray:
    """A table indexed by the unsigned bits of an input of `dtype`, from the outputs computed on
    `all_values(dtype)` (in increasing order)."""
    vals = all_values(dtype)
    bits = 8 * np.dtype(dtype).itemsize
    table = np.empty(vals.size, out_dtype)
    table[(vals & ((1 << bits) - 1))] = outputs
    return table


def lut_kernel(table: np.ndarray, dtype: np.dtype | type) -> KernelFn:
    """A unary kernel that looks each element of an 8/16-bit input up in `table`. Byte to byte
    tables use bytes.translate, about twice as fast as numpy's take."""
    table = np.ascontiguousarray(table)
    if table.dtype.itemsize == 1 and np.dtype(dtype).itemsize == 1:
        translation = table.view(np.uint8).tobytes()
        out_dtype = table.dtype

        def run_bytes(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = np.asarray(inputs[0])
            src = x if x.flags.c_contiguous else np.ascontiguousarray(x)
            out = bytearray(src).translate(translation)
            return [np.frombuffer(out, out_dtype).reshape(x.shape)]

        return run_bytes

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.take(table, unsigned_view(inputs[0]))]

    return run


def pair_table(dtype: np.dtype | type, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], out_dtype) -> np.ndarray:
    """A 65536-entry table of fn(a, b) over every pair of 8-bit values, indexed by
    (a_bits << 8) | b_bits."""
    vals = all_values(dtype)
    a = np.repeat(vals, vals.size)
    b = np.tile(vals, vals.size)
    out = np.asarray(fn(a, b))
    table = np.empty(65536, out_dtype)
    table[((a & 0xFF) << 8) | (b & 0xFF)] = out
    return table


def pair_kernel(table: np.ndarray) -> KernelFn:
    """A binary kernel on two 8-bit inputs (numpy broadcasting) through a pair table."""

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        a = unsigned_view(inputs[0])
        b = unsigned_view(inputs[1])
        idx = np.left_shift(a, 8, dtype=np.uint16)
        idx = np.bitwise_or(idx, b, dtype=np.uint16)
        return [np.take(table, idx)]

    return run


# --------------------------------------------------------------------------------------------
# TFLite / gemmlowp fixed-point arithmetic on int64 arrays holding int32 values
# --------------------------------------------------------------------------------------------


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement wrap of int64 values to int32."""
    return ((np.asarray(x, I64) + 2**31) & 0xFFFFFFFF) - 2**31


def srdhm(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul. trunc((a*b + nudge) / 2**31) equals
    floor((a*b + 2**30) / 2**31) for both signs of a*b."""
    a = np.asarray(a, I64)
    b = np.asarray(b, I64)
    r = (a * b + (1 << 30)) >> 31
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    if np.any(overflow):
        r = np.where(overflow, I64(INT32_MAX), r)
    return r


def rdbp(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, I64)
    if np.ndim(exponent) == 0:
        e = int(exponent)
        if e <= 0:
            return x
        return (x + ((1 << (e - 1)) + (x >> 63))) >> e
    e = np.asarray(exponent, I64)
    pos = e > 0
    half = np.where(pos, np.left_shift(I64(1), np.maximum(e - 1, 0)), 0)
    return (x + half + np.where(pos, x >> 63, 0)) >> np.maximum(e, 0)


def sat_shl(x, exponent) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT with a non-negative exponent (a saturating
    left shift)."""
    x = np.asarray(x, I64)
    if np.ndim(exponent) == 0 and int(exponent) == 0:
        return x
    e = np.asarray(exponent, I64)
    threshold = np.left_shift(I64(1), 31 - e) - 1
    r = np.left_shift(x, e)
    r = np.where(x > threshold, I64(INT32_MAX), r)
    return np.where(x < -threshold, I64(INT32_MIN), r)


def mbqm(x, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (int32 input, double rounding): x * m * 2**(shift-31).
    Scalar or per-channel (broadcasting) multiplier and shift."""
    x = np.asarray(x, I64)
    if np.ndim(multiplier) == 0 and np.ndim(shift) == 0:
        s = int(shift)
        if s > 0:
            x = x << s
        t = x * int(multiplier)
        t += 1 << 30
        t >>= 31
        return rdbp(t, -s) if s < 0 else t
    shift = np.asarray(shift, I64)
    t = (np.left_shift(x, np.maximum(shift, 0)) * np.asarray(multiplier, I64) + (1 << 30)) >> 31
    return rdbp(t, np.maximum(-shift, 0))


def mbqm64(x, multiplier: int, shift: int) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier for int64 inputs (a 16-bit multiplier, one
    rounding)."""
    x = np.asarray(x, I64)
    m = int(multiplier)
    reduced = ((m + (1 << 15)) >> 16) if m < 0x7FFF0000 else 0x7FFF
    total = 15 - int(shift)
    return (x * reduced + (1 << (total - 1))) >> total


def clz32(x) -> np.ndarray:
    """Count of leading zeros of values in [0, 2**32) as uint32 (32 for 0)."""
    x = np.asarray(x, I64)
    _, e = np.frexp(x.astype(np.float64))
    return 32 - e.astype(I64)


def clrsb32(x) -> np.ndarray:
    """CountLeadingSignBits of int32 values (31 for 0 and -1)."""
    x = np.asarray(x, I64)
    return clz32(np.where(x < 0, ~x, x)) - 1


def rounding_half_sum(a, b) -> np.ndarray:
    s = np.asarray(a, I64) + np.asarray(b, I64)
    s = s + np.where(s >= 0, 1, -1)
    return np.where(s >= 0, s >> 1, -((-s) >> 1))


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = 1515870810 + srdhm(half_denominator, -1010580540)  # Q2.29: 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = (1 << 29) - srdhm(half_denominator, x)
        x = x + sat_shl(srdhm(x, one_minus), 2)
    return sat_shl(x, 1)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbp(x4, 2)
    t = rdbp(srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1)
    return constant_term + srdhm(constant_term, x + t)


_EXP_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242)]


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: a is the raw value of a Q(integer_bits) number <= 0;
    the result is Q0.31."""
    a = np.asarray(a, I64)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(sat_shl(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac_bits + exponent))) != 0
            result = np.where(bit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, I64(INT32_MAX), result)


def get_reciprocal(x, integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetReciprocal: (Q0.31 reciprocal of x scaled into [1, 2), num_bits_over_unit)."""
    x = np.asarray(x, I64)
    headroom_plus_one = clz32(x)
    num_bits_over_unit = integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap32((np.left_shift(x, headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def inv_sqrt_multiplier_exp(x, reverse_shift: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetInvSqrtQuantizedMultiplierExp, vectorized: (multiplier, shift)."""
    x = np.asarray(x, I64)
    small = x <= 1
    inp = np.where(small, 2, x)
    shift = np.full(inp.shape, 11, I64)
    while True:
        big = inp >= (1 << 29)
        if not np.any(big):
            break
        inp = np.where(big, inp // 4, inp)
        shift = shift + big
    max_left_shift_bits = clz32(inp) - 1
    left_shift_bit_pairs = max_left_shift_bits // 2 - 1
    shift = shift - left_shift_bit_pairs
    inp = np.left_shift(inp, 2 * left_shift_bit_pairs)
    half_input = rdbp(inp >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    v = np.full(inp.shape, 1 << 28, I64)
    for _ in range(5):
        x3 = sat_shl(srdhm(srdhm(v, v), v), 6)
        v = sat_shl(srdhm(half_three, v) - srdhm(half_input, x3), 3)
    v = srdhm(v, 1518500250)
    neg = shift < 0
    v = np.where(neg, wrap32(np.left_shift(v, np.where(neg, -shift, 0))), v)
    shift = np.where(neg, 0, shift)
    v = np.where(small, INT32_MAX, v)
    shift = np.where(small, 0, shift) * reverse_shift
    return v, shift


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite CheckedLog2 (float32 arithmetic)."""
    if x <= 0:
        return False, 0
    x_log2 = F32(F32(math.log(F32(x))) * F32(F32(1.0) / F32(math.log(2.0))))
    rounded = float(round_half_away(float(x_log2)))
    return abs(float(x_log2) - rounded) < 1e-3, int(rounded)


# --------------------------------------------------------------------------------------------
# TFLite look-up tables (LUTPopulate) built from float32 transforms
# --------------------------------------------------------------------------------------------


def round_away(x: np.ndarray) -> np.ndarray:
    """C round() of float values: halves away from zero (computed exactly in float64)."""
    x64 = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x64) + 0.5), x64)


def f32_call(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """A libm function of float32 values, correctly rounded back to float32 (glibc's float
    functions are within an ulp of that)."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(np.asarray(x, F32).astype(np.float64)), np.float64).astype(F32)


def to_int32_like_c(x: np.ndarray) -> np.ndarray:
    """static_cast<int32_t>(float) on x86: truncation, out of range and NaN give INT32_MIN."""
    x64 = np.asarray(x, np.float64)
    ok = np.isfinite(x64) & (x64 > -2147483649.0) & (x64 < 2147483648.0)
    return np.where(ok, np.trunc(np.where(ok, x64, 0)), INT32_MIN).astype(I64)


def lut_populate_int8(dtype, in_scale: float, in_zp: int, out_scale: float, out_zp: int, transform) -> np.ndarray:
    """TFLite LUTPopulateInt8: a 256-entry table indexed by the input's unsigned bits."""
    lo, hi = int_range(dtype)
    vals = all_values(dtype)
    with np.errstate(all="ignore"):
        dequantized = F32(in_scale) * (vals - in_zp).astype(F32)
        transformed = np.asarray(transform(dequantized), F32)
        inverse_scale = F32(1.0) / F32(out_scale)
        rescaled = round_away(transformed * inverse_scale).astype(F32)
        quantized = to_int32_like_c(rescaled + F32(out_zp))
    return table_for(dtype, np.clip(quantized, lo, hi), dtype)


def lut_populate_int16(in_scale: float, in_zp: int, out_scale: float, out_zp: int, transform, float_type=F32) -> np.ndarray:
    """TFLite LUTPopulateInt16: 513 interpolation points over the int16 input range."""
    ft = float_type
    with np.errstate(all="ignore"):
        input_min = ft(ft(in_scale) * ft(-32768 - in_zp))
        input_max = ft(ft(in_scale) * ft(32767 - in_zp))
        output_min = ft(ft(out_scale) * ft(-32768 - out_zp))
        output_max = ft(ft(out_scale) * ft(32767 - out_zp))
        nb_steps = 512
        step = ft((input_max - input_min) / ft(nb_steps))
        half_step = ft(step / ft(2))
        output_scaling_inv = ft(ft(65536) / ft(output_max - output_min))
        i = np.arange(nb_steps, dtype=ft)
        x0 = (input_min + i * step).astype(ft)
        xm = (x0 + half_step).astype(ft)
        x1 = (input_min + (i + ft(1)) * step).astype(ft)
        val = np.asarray(transform(x0), ft)
        val_mid = np.asarray(transform(xm), ft)
        val_next = np.asarray(transform(x1), ft)
        sample_val = round_away(val * output_scaling_inv).astype(ft)
        midpoint_interp_val = round_away(((val_next * output_scaling_inv + sample_val) / ft(2)).astype(ft)).astype(ft)
        midpoint_val = round_away(val_mid * output_scaling_inv).astype(ft)
        midpoint_err = (midpoint_interp_val - midpoint_val).astype(ft)
        bias = round_away((midpoint_err / ft(2)).astype(ft)).astype(ft)
        lut = np.empty(nb_steps + 1, I64)
        lut[:nb_steps] = np.clip(sample_val - bias, -32768, 32767).astype(I64)
        last = round_away(np.asarray(transform(np.array([input_max], ft)), ft) * output_scaling_inv)
        lut[nb_steps] = int(np.clip(last, -32768, 32767)[0])
    return lut


def lut_lookup_int16(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite LUTLookup for int16 (interpolating between the 513 points)."""
    v = np.asarray(values, I64)
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = lut[index]
    slope = lut[index + 1] - base
    return wrap16(base + ((slope * offset + 64) >> 7))


def wrap16(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, I64) + 32768) & 0xFFFF) - 32768


def int16_lut_table(lut: np.ndarray) -> np.ndarray:
    """The full 65536-entry int16 table of an interpolated 513-point LUT."""
    return table_for(np.int16, lut_lookup_int16(all_values(np.int16), lut), np.int16)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def unsupported(ctx: OpContext, what: str = "") -> UnsupportedOperatorError:
    op = ctx.op
    types = ", ".join(t.dtype.name for t in op.inputs if t is not None)
    out = ", ".join(t.dtype.name for t in op.outputs)
    name = op.outputs[0].name if op.outputs else ""
    return UnsupportedOperatorError(
        f"runtime: {op.type} ({name}) with inputs ({types}) -> ({out}) is not supported{': ' + what if what else ''}",
        [op.type],
    )


def activation_code(ctx: OpContext) -> int:
    return int(getattr(ctx.options, "fused_activation_function", 0) or 0)


def _int_dtype(t: Tensor) -> np.dtype:
    return np.dtype(t.dtype.numpy)


_SMALL_INT = (DType.INT8, DType.UINT8)


# --------------------------------------------------------------------------------------------
# ADD, SUB: float, int32/int64 and TFLite's rescaling integer paths
# --------------------------------------------------------------------------------------------


def _add_sub_general(ctx: OpContext, sign: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """TFLite's general quantized ADD/SUB (left_shift 20 for 8 bits, 15 for int16)."""
    a_t, b_t = ctx.inputs[0], ctx.inputs[1]
    out = ctx.outputs[0]
    s1, z1 = qparams(a_t)
    s2, z2 = qparams(b_t)
    so, zo = qparams(out)
    left_shift = 15 if out.dtype == DType.INT16 else 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << left_shift) * so))
    lo, hi = tensor_activation_range(activation_code(ctx), out)

    def scaled1(a):
        return mbqm((np.asarray(a, I64) - z1) << left_shift, m1, sh1)

    def scaled2(b):
        return mbqm((np.asarray(b, I64) - z2) << left_shift, m2, sh2)

    def fn(a, b):
        raw = scaled1(a) + sign * scaled2(b)
        return np.clip(mbqm(raw, mo, sho) + zo, lo, hi)

    fn.scaled1 = scaled1  # type: ignore[attr-defined]
    fn.scaled2 = scaled2  # type: ignore[attr-defined]
    fn.output = (mo, sho, zo, lo, hi)  # type: ignore[attr-defined]
    return fn


def _add_sub_int16_pot(ctx: OpContext, sign: int) -> KernelFn | None:
    """TFLite's power-of-two-scale int16 ADD/SUB (used when the options ask for it and every
    scale is a power of two); None when the general path applies."""
    if not getattr(ctx.options, "pot_scale_int16", True):
        return None
    a_t, b_t, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    ok1, l1 = checked_log2(qparams(a_t)[0])
    ok2, l2 = checked_log2(qparams(b_t)[0])
    oko, lo_ = checked_log2(qparams(out)[0])
    if not (ok1 and ok2 and oko):
        return None
    sh1, sh2 = l1 - lo_, l2 - lo_
    if not ((sh1 == 0 or sh2 == 0) and sh1 <= 0 and sh2 <= 0):
        raise unsupported(ctx, "power-of-two int16 scales need one input on the output scale")
    lo, hi = tensor_activation_range(activation_code(ctx), out)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        a = rdbp(inputs[0], -sh1)
        b = rdbp(inputs[1], -sh2)
        r = a + b if sign > 0 else a - b
        return [np.clip(np.clip(r, -32768, 32767), lo, hi).astype(np.int16)]

    return run


def _add_sub_factory(ctx: OpContext, sign: int) -> KernelFn:
    out = ctx.outputs[0]
    act = activation_code(ctx)
    if out.dtype in (DType.FLOAT32, DType.FLOAT64):  # float64: beyond TFLite, for ONNX's double models
        ufunc = np.add if sign > 0 else np.subtract

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [apply_activation(ufunc(inputs[0], inputs[1]), act)]

        return run_float
    if out.dtype in _SMALL_INT and is_quantized(out):
        fn = _add_sub_general(ctx, sign)
        return pair_kernel(pair_table(_int_dtype(out), fn, _int_dtype(out)))
    if out.dtype == DType.INT16 and is_quantized(out):
        pot = _add_sub_int16_pot(ctx, sign)
        if pot is not None:
            return pot
        fn = _add_sub_general(ctx, sign)
        vals = all_values(np.int16)
        t1 = table_for(np.int16, fn.scaled1(vals), I64)
        t2 = table_for(np.int16, fn.scaled2(vals), I64)
        if sign < 0:
            t2 = -t2
        mo, sho, zo, lo, hi = fn.output

        def run16(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            raw = np.take(t1, unsigned_view(inputs[0])) + np.take(t2, unsigned_view(inputs[1]))
            r = mbqm(raw, mo, sho)
            if zo:
                r += zo
            return [np.clip(r, lo, hi).astype(np.int16)]

        return run16
    if out.dtype in (DType.INT32, DType.INT64, DType.INT16, DType.INT8, DType.UINT8):
        dtype = _int_dtype(out)
        lo, hi = _int_activation_range(act, dtype)
        ufunc = np.add if sign > 0 else np.subtract

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            r = ufunc(inputs[0], inputs[1], dtype=dtype)
            if act:
                np.clip(r, lo, hi, out=r)
            return [r]

        return run_int
    raise unsupported(ctx)


def _int_activation_range(act: int, dtype) -> tuple[int, int]:
    lo, hi = int_range(dtype)
    if act == 1:
        return max(lo, 0), hi
    if act == 3:
        return max(lo, 0), min(hi, 6)
    if act == 2:
        return max(lo, -1), min(hi, 1)
    return lo, hi


@kernel("ADD")
def add(ctx: OpContext) -> KernelFn:
    return _add_sub_factory(ctx, +1)


@kernel("SUB")
def sub(ctx: OpContext) -> KernelFn:
    return _add_sub_factory(ctx, -1)


# --------------------------------------------------------------------------------------------
# MUL, DIV
# --------------------------------------------------------------------------------------------


@kernel("MUL")
def mul(ctx: OpContext) -> KernelFn:
    a_t, b_t, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    act = activation_code(ctx)
    if out.dtype in (DType.FLOAT32, DType.FLOAT64):

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [apply_activation(np.multiply(inputs[0], inputs[1]), act)]

        return run_float
    if is_quantized(out) and out.dtype in (DType.INT8, DType.UINT8, DType.INT16) and a_t.dtype == out.dtype:
        # reference MulElementwise. LiteRT's default int8 kernel rounds differently: over all
        # 65536 int8 input pairs of a converted model it differs by one step on 483 of them.
        s1, z1 = qparams(a_t)
        s2, z2 = qparams(b_t)
        so, zo = qparams(out)
        real = float(F32(F32(F32(s1) * F32(s2)) / F32(so)))  # float arithmetic in TFLite
        m, sh = quantize_multiplier(real)
        lo, hi = tensor_activation_range(act, out)

        def fn(a, b):
            return np.clip(zo + mbqm((np.asarray(a, I64) - z1) * (np.asarray(b, I64) - z2), m, sh), lo, hi)

        if out.dtype in _SMALL_INT:
            return pair_kernel(pair_table(_int_dtype(out), fn, _int_dtype(out)))

        def run16(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [fn(inputs[0], inputs[1]).astype(np.int16)]

        return run16
    if out.dtype in (DType.INT32, DType.INT64, DType.INT16, DType.UINT32, DType.INT8, DType.UINT8):
        # int8/uint8 without quantization (not a TFLite case): integers multiplied with wrap-around.
        dtype = _int_dtype(out)
        lo, hi = _int_activation_range(act, dtype)

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            r = np.multiply(inputs[0], inputs[1], dtype=dtype)
            if act:
                np.clip(r, lo, hi, out=r)
            return [r]

        return run_int
    raise unsupported(ctx)


def _rdbp_c(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """RoundingDivideByPOT as LiteRT's compiled reference DIV evaluates it, including
    exponents above 31 (which a zero or tiny numerator reaches): gemmlowp's mask
    (1ll << e) - 1 truncates to -1 and the int32 shift count wraps mod 32, giving
    (x >> (e & 31)) + (x >= 0)."""
    big = exponent > 31
    r = rdbp(x, np.where(big, 0, exponent))
    if np.any(big):
        r = np.where(big, (x >> (exponent & 31)) + (x >= 0), r)
    return r


def _div_quantized(ctx: OpContext) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """TFLite reference DivElementwise (integer reciprocal), vectorized."""
    a_t, b_t, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    s1, z1 = qparams(a_t)
    s2, z2 = qparams(b_t)
    so, zo = qparams(out)
    real = float(F32(F32(s1) / F32(F32(s2) * F32(so))))
    m, sh = quantize_multiplier(real)
    lo, hi = tensor_activation_range(activation_code(ctx), out)

    def fn(a, b):
        v1 = np.asarray(a, I64) - z1
        v2 = np.asarray(b, I64) - z2
        v1, v2 = np.broadcast_arrays(v1, v2)
        zero = v2 == 0
        neg = v2 < 0
        v1 = np.where(neg, -v1, v1)
        v2 = np.where(zero, 1, np.abs(v2))
        inv, recip_shift = get_reciprocal(v2, 31)
        headroom = clrsb32(v1)
        unscaled = srdhm(np.left_shift(v1, headroom), inv)
        total_shift = sh - recip_shift - headroom
        r = zo + _rdbp_c(srdhm(np.left_shift(unscaled, np.maximum(total_shift, 0)), m), np.maximum(-total_shift, 0))
        # TFLite refuses a zero divisor; saturate like its int16 float path instead.
        r = np.where(zero, np.where(v1 >= 0, hi, lo), r)
        return np.clip(r, lo, hi)

    return fn


@kernel("DIV")
def div(ctx: OpContext) -> KernelFn:
    out = ctx.outputs[0]
    act = activation_code(ctx)
    if out.dtype == DType.FLOAT32:
        lo, hi = {0: (-FLT_MAX, FLT_MAX), 1: (0.0, FLT_MAX), 2: (-1.0, 1.0), 3: (0.0, 6.0)}.get(act, (-FLT_MAX, FLT_MAX))

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.asarray(np.divide(inputs[0], inputs[1]))  # 0-d inputs give a numpy scalar
            # The reference kernel clamps to the activation range, so x/0 gives +-FLT_MAX.
            np.maximum(r, lo, out=r)
            np.minimum(r, hi, out=r)
            return [r]

        return run_float
    if is_quantized(out) and out.dtype in _SMALL_INT:
        return pair_kernel(pair_table(_int_dtype(out), _div_quantized(ctx), _int_dtype(out)))
    if is_quantized(out) and out.dtype == DType.INT16:
        fn = _div_quantized(ctx)
        a_t, b_t = ctx.inputs[0], ctx.inputs[1]
        s1, z1 = qparams(a_t)
        s2, z2 = qparams(b_t)
        so, zo = qparams(out)
        lo, hi = tensor_activation_range(act, out)

        def run16(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            a, b = inputs[0], inputs[1]
            if a.shape == b.shape:  # TFLite EvalDiv16AffineFloat
                lhs = (a.astype(I64) - z1).astype(F32) * F32(s1)
                rhs = (b.astype(I64) - z2).astype(F32) * F32(s2)
                with np.errstate(all="ignore"):
                    q = to_int32_like_c(round_away((lhs / rhs / F32(so)).astype(F32))) + zo
                q = np.clip(q, lo, hi)
                q = np.where(rhs == 0, np.where(lhs >= 0, hi, lo), q)
                return [q.astype(np.int16)]
            return [fn(a, b).astype(np.int16)]

        return run16
    if out.dtype in (DType.INT32, DType.INT64, DType.INT16, DType.INT8, DType.UINT8):
        # int8/int16/uint8 without quantization (not a TFLite case): divided like int32.
        dtype = _int_dtype(out)
        lo, hi = _int_activation_range(act, dtype)

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            a, b = inputs[0], inputs[1]
            q = np.floor_divide(a, b, dtype=dtype)
            # C division truncates toward zero.
            fix = (np.remainder(a, b, dtype=dtype) != 0) & ((a < 0) != (b < 0))
            q = q + fix.astype(dtype)
            if act:
                np.clip(q, lo, hi, out=q)
            return [q]

        return run_int
    raise unsupported(ctx)


# --------------------------------------------------------------------------------------------
# POW, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, FLOOR_DIV, FLOOR_MOD
# --------------------------------------------------------------------------------------------


@kernel("POW")
def pow_(ctx: OpContext) -> KernelFn:
    out = ctx.outputs[0]
    if out.dtype == DType.FLOAT32:

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            with np.errstate(all="ignore"):
                return [np.power(inputs[0], inputs[1])]

        return run_float
    if out.dtype in (DType.INT32, DType.INT64):
        dtype = _int_dtype(out)

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [np.power(inputs[0], inputs[1], dtype=dtype)]

        return run_int
    raise unsupported(ctx)


@kernel("SQUARED_DIFFERENCE")
def squared_difference(ctx: OpContext) -> KernelFn:
    a_t, b_t, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    if out.dtype == DType.FLOAT32:

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            d = np.subtract(inputs[0], inputs[1])
            return [np.multiply(d, d, out=d)]

        return run_float
    if out.dtype == DType.INT8 and is_quantized(out):
        s1, z1 = qparams(a_t)
        s2, z2 = qparams(b_t)
        so, zo = qparams(out)
        left_shift = 7
        twice_max = float(F32(2.0 * max(s1, s2)))
        m1, sh1 = quantize_multiplier(s1 / twice_max)
        m2, sh2 = quantize_multiplier(s2 / twice_max)
        mo, sho = quantize_multiplier((twice_max * twice_max) / float(F32(float(1 << (2 * left_shift)) * so)))

        def fn(a, b):
            v1 = mbqm((a - z1) << left_shift, m1, sh1)
            v2 = mbqm((b - z2) << left_shift, m2, sh2)
            d = v1 - v2
            return np.clip(mbqm(d * d, mo, sho) + zo, -128, 127)

        return pair_kernel(pair_table(np.int8, fn, np.int8))
    if out.dtype in (DType.INT32, DType.INT64):

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            d = np.subtract(inputs[0], inputs[1])
            return [np.multiply(d, d, out=d)]

        return run_int
    raise unsupported(ctx)


def _max_min(ufunc) -> Callable[[OpContext], KernelFn]:
    def factory(ctx: OpContext) -> KernelFn:
        # Quantized inputs share the output's scale (TFLite requires it): the raw integers
        # compare like the real values.
        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [ufunc(inputs[0], inputs[1])]

        return run

    return factory


kernel("MAXIMUM")(_max_min(np.maximum))
kernel("MINIMUM")(_max_min(np.minimum))


@kernel("ATAN2")
def atan2(ctx: OpContext) -> KernelFn:
    if ctx.outputs[0].dtype not in _FLOATS:
        raise unsupported(ctx)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.arctan2(inputs[0], inputs[1])]

    return run


@kernel("FLOOR_DIV")
def floor_div(ctx: OpContext) -> KernelFn:
    out = ctx.outputs[0]
    if out.dtype == DType.FLOAT32:

        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            with np.errstate(all="ignore"):
                r = np.divide(inputs[0], inputs[1])
                return [np.floor(r, out=r)]

        return run_float

    def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return [np.floor_divide(inputs[0], inputs[1])]

    return run_int


@kernel("FLOOR_MOD")
def floor_mod(ctx: OpContext) -> KernelFn:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        # fmod, then moved to the divisor's sign: numpy's remainder is exactly that.
        with np.errstate(all="ignore"):
            return [np.remainder(inputs[0], inputs[1])]

    return run


# --------------------------------------------------------------------------------------------
# Comparisons, logic, selection
# --------------------------------------------------------------------------------------------


def _comparison(ufunc, quantized_int16: bool) -> Callable[[OpContext], KernelFn]:
    def factory(ctx: OpContext) -> KernelFn:
        a_t, b_t = ctx.inputs[0], ctx.inputs[1]
        rescale = is_quantized(a_t) and (a_t.dtype in _SMALL_INT or (a_t.dtype == DType.INT16 and quantized_int16))
        if not rescale:

            def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
                return [ufunc(inputs[0], inputs[1])]

            return run
        # TFLite ComparisonWithScaling: both sides rescaled to a common scale (left shift 8).
        s1, z1 = qparams(a_t)
        s2, z2 = qparams(b_t)
        m1, sh1 = quantize_multiplier(s1)
        m2, sh2 = quantize_multiplier(s2)

        def scaled1(a):
            return mbqm((np.asarray(a, I64) - z1) << 8, m1, sh1)

        def scaled2(b):
            return mbqm((np.asarray(b, I64) - z2) << 8, m2, sh2)

        if a_t.dtype in _SMALL_INT:
            return pair_kernel(pair_table(_int_dtype(a_t), lambda a, b: ufunc(scaled1(a), scaled2(b)), np.bool_))
        vals = all_values(np.int16)
        t1 = table_for(np.int16, scaled1(vals), I64)
        t2 = table_for(np.int16, scaled2(vals), I64)

        def run16(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [ufunc(t1[unsigned_view(inputs[0])], t2[unsigned_view(inputs[1])])]

        return run16

    return factory


# EQUAL/NOT_EQUAL rescale quantized int16; LESS/GREATER... compare raw int16 (as TFLite does).
kernel("EQUAL")(_comparison(np.equal, True))
kernel("NOT_EQUAL")(_comparison(np.not_equal, True))
kernel("LESS")(_comparison(np.less, False))
kernel("LESS_EQUAL")(_comparison(np.less_equal, False))
kernel("GREATER")(_comparison(np.greater, False))
kernel("GREATER_EQUAL")(_comparison(np.greater_equal, False))


def _logical(ufunc) -> Callable[[OpContext], KernelFn]:
    def factory(ctx: OpContext) -> KernelFn:
        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [ufunc(*[x for x in inputs if x is not None])]

        return run

    return factory


kernel("LOGICAL_AND")(_logical(np.logical_and))
kernel("LOGICAL_OR")(_logical(np.logical_or))
kernel("LOGICAL_NOT")(_logical(np.logical_not))


@kernel("SELECT")
def select(ctx: OpContext) -> KernelFn:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        cond, x, y = inputs[0], inputs[1], inputs[2]
        if cond.ndim == 1 and x.ndim > 1 and cond.shape[0] == x.shape[0] and cond.shape != x.shape:
            # SELECT (v1) with a rank-1 condition picks whole rows.
            cond = cond.reshape((-1,) + (1,) * (x.ndim - 1))
        return [np.where(cond, x, y)]

    return run


@kernel("SELECT_V2")
def select_v2(ctx: OpContext) -> KernelFn:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.where(inputs[0], inputs[1], inputs[2])]

    return run


# --------------------------------------------------------------------------------------------
# Bitwise: BITWISE_XOR, RIGHT_SHIFT (TFLite: 8/16/32-bit integers; here int64 and uint64 too)
# --------------------------------------------------------------------------------------------


def _integers_only(ctx: OpContext) -> np.dtype:
    dtype = ctx.outputs[0].dtype.numpy
    if dtype is None or not np.issubdtype(dtype, np.integer):
        raise unsupported(ctx)
    return np.dtype(dtype)


@kernel("BITWISE_XOR")
def bitwise_xor(ctx: OpContext) -> KernelFn:
    _integers_only(ctx)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.bitwise_xor(inputs[0], inputs[1])]

    return run


@kernel("RIGHT_SHIFT")
def right_shift(ctx: OpContext) -> KernelFn:
    # TFLite clamps the shift amount to [0, width - 1]: arithmetic for signed types, logical for unsigned.
    dtype = _integers_only(ctx)
    widest = 8 * dtype.itemsize - 1

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        amount = np.clip(inputs[1], 0, widest).astype(dtype)
        return [np.right_shift(inputs[0], amount)]

    return run


# --------------------------------------------------------------------------------------------
# Unary math
# --------------------------------------------------------------------------------------------


def _float_unary(fn: Callable[[np.ndarray], np.ndarray]) -> KernelFn:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return [fn(inputs[0])]

    return run


def _unary_lut(ctx: OpContext, fn8: Callable[[np.ndarray], np.ndarray] | None, fn16=None) -> KernelFn | None:
    """A table kernel for a quantized int8/uint8/int16 unary operator: fn8/fn16 map every
    possible input value (int64) to the output integers."""
    t = ctx.inputs[0]
    if not is_quantized(t):
        return None
    if t.dtype in _SMALL_INT and fn8 is not None:
        dtype = _int_dtype(t)
        return lut_kernel(table_for(dtype, fn8(all_values(dtype)), _int_dtype(ctx.outputs[0])), dtype)
    if t.dtype == DType.INT16 and fn16 is not None:
        return lut_kernel(table_for(np.int16, fn16(all_values(np.int16)), _int_dtype(ctx.outputs[0])), np.int16)
    return None


def _lut_from_table(ctx: OpContext, table: np.ndarray) -> KernelFn:
    return lut_kernel(table, _int_dtype(ctx.inputs[0]))


@kernel("ABS")
def abs_(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if is_quantized(t) and t.dtype in (DType.INT8, DType.INT16):
        si, zi = qparams(t)
        so, zo = qparams(out)
        lo, hi = int_range(_int_dtype(out))
        m, sh = quantize_multiplier(float(F32(F32(si) / F32(so))))
        rescale = si != so

        def fn(v):
            value = np.abs(v - zi)
            r = mbqm(value, m, sh) + zo if rescale else value + zo
            return np.clip(r, lo, hi)

        return _unary_lut(ctx, fn, fn)  # type: ignore[return-value]
    if t.dtype == DType.INT16:
        return _float_unary(lambda x: np.abs(x.astype(I64)).astype(np.int16))
    return _float_unary(np.abs)


@kernel("NEG")
def neg(ctx: OpContext) -> KernelFn:
    # LiteRT negates integers as they are (quantized int8 included, -(-128) wraps to -128).
    return _float_unary(np.negative)


_FLOATS = (DType.FLOAT32, DType.FLOAT16, DType.FLOAT64)


def _float_only(ufunc, also: tuple[DType, ...] = ()) -> Callable[[OpContext], KernelFn]:
    """Operators TFLite defines on floats only (int8 models dequantize around them)."""

    def factory(ctx: OpContext) -> KernelFn:
        if ctx.inputs[0].dtype not in _FLOATS + also:
            raise unsupported(ctx)
        return _float_unary(ufunc)

    return factory


kernel("SQUARE")(_float_only(np.square, (DType.INT32, DType.INT64)))
kernel("SIN")(_float_only(np.sin))
kernel("COS")(_float_only(np.cos))
kernel("FLOOR")(_float_only(np.floor))
kernel("CEIL")(_float_only(np.ceil))
# TFLite's RoundToNearest sends halves to the even neighbour, like np.rint.
kernel("ROUND")(_float_only(np.rint))
kernel("SIGN")(_float_only(np.sign, (DType.INT32, DType.INT64)))


def _exp32(x: np.ndarray) -> np.ndarray:
    return f32_call(np.exp, x)


@kernel("EXP")
def exp(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if is_quantized(t):
        si, zi = qparams(t)
        so, zo = qparams(out)
        if t.dtype in _SMALL_INT:
            return _lut_from_table(ctx, lut_populate_int8(_int_dtype(t), si, zi, so, zo, _exp32))
        if t.dtype == DType.INT16:
            return _lut_from_table(ctx, int16_lut_table(lut_populate_int16(si, zi, so, zo, _exp32)))
        raise unsupported(ctx)
    return _float_unary(np.exp)


@kernel("LOG")
def log(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if is_quantized(t):
        si, zi = qparams(t)
        so, zo = qparams(out)
        lo, _ = int_range(_int_dtype(t))
        output_min = F32(F32(lo - zo) * F32(so))

        def transform(v):
            with np.errstate(all="ignore"):
                return np.where(v <= 0, output_min, f32_call(np.log, v)).astype(F32)

        if t.dtype == DType.INT8:
            return _lut_from_table(ctx, lut_populate_int8(np.int8, si, zi, so, zo, transform))
        if t.dtype == DType.INT16:
            return _lut_from_table(ctx, int16_lut_table(lut_populate_int16(si, zi, so, zo, transform)))
        raise unsupported(ctx)
    return _float_unary(np.log)


@kernel("SQRT")
def sqrt(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if is_quantized(t) and t.dtype in _SMALL_INT:
        # LiteRT's int8 SQRT truncates: int(sqrtf(scale_in * (q - zp_in)) / scale_out) + zp_out
        # (matches all 256 inputs of the reference kernel; it is not the rounding LUT).
        si, zi = qparams(t)
        so, zo = qparams(out)
        lo, hi = int_range(_int_dtype(out))

        def fn(v):
            deq = F32(si) * (v - zi).astype(F32)
            with np.errstate(all="ignore"):
                r = to_int32_like_c((f32_call(np.sqrt, deq) / F32(so)).astype(F32))
            return np.clip(wrap32(r + zo), lo, hi)

        return _unary_lut(ctx, fn)  # type: ignore[return-value]
    if is_quantized(t):
        raise unsupported(ctx)
    return _float_unary(np.sqrt)


@kernel("RSQRT")
def rsqrt(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if is_quantized(t) and t.dtype == DType.INT8:
        si, zi = qparams(t)
        so, zo = qparams(out)
        # TFLite: 1. / (std::sqrt(input_scale) * output_scale), the product in float.
        m, sh = quantize_multiplier(1.0 / float(F32(F32(math.sqrt(si)) * F32(so))))
        k_shift = 20

        def fn(v):
            value = v - zi
            inv, inv_shift = inv_sqrt_multiplier_exp(np.maximum(value, 1), -1)
            data = mbqm(np.ones_like(value), inv, inv_shift + k_shift)
            r = np.clip(mbqm(data, m, sh - k_shift) + zo, -128, 127)
            # value 0 is the largest output; negative values are refused by TFLite.
            return np.where(value <= 0, 127, r)

        return _unary_lut(ctx, fn)  # type: ignore[return-value]
    if is_quantized(t) and t.dtype == DType.INT16:
        si, zi = qparams(t)
        so, zo = qparams(out)

        def transform(v):
            s = f32_call(np.sqrt, np.maximum(v, 0))
            with np.errstate(all="ignore"):
                r = (F32(1.0) / s).astype(F32)
            return np.where(v <= 0, F32(32767) * F32(so), r).astype(F32)

        return _lut_from_table(ctx, int16_lut_table(lut_populate_int16(si, zi, so, zo, transform)))

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            r = np.sqrt(inputs[0])
            return [np.divide(1, r, out=r)]

    return run


@kernel("CAST")
def cast(ctx: OpContext) -> KernelFn:
    out_dtype = ctx.outputs[0].dtype.numpy
    if out_dtype is None:
        raise unsupported(ctx)

    if out_dtype == np.bool_:

        def run_bool(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [np.not_equal(inputs[0], 0)]

        return run_bool

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return [np.asarray(inputs[0]).astype(out_dtype)]

    return run
