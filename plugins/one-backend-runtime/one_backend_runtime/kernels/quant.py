"""TFLite's integer arithmetic, vectorized with numpy.

Quantized kernels must give the same integers as TFLite, so they rescale with the same
fixed-point steps: a real multiplier becomes a 32-bit mantissa and a power-of-two shift, and
products are rounded exactly as TFLite's reference code rounds them (a rounding doubling high
multiply, then a rounding right shift; ties away from zero)."""

from __future__ import annotations

import math

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType, Tensor

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mantissa, shift) with real ~= mantissa * 2**(shift - 31), mantissa in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    mantissa = round_half_away(q * (1 << 31))
    if mantissa == 1 << 31:
        mantissa //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(mantissa), int(shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel `quantize_multiplier`: int64 mantissas and shifts."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """The high 32 bits of 2*a*b, rounded to nearest (ties away from zero), saturated."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    s = ab + nudge
    # C's division truncates toward zero; numpy's floor division rounds down.
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """x / 2**exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, mantissa: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """x * mantissa * 2**(shift - 31) with TFLite's two roundings; per-channel arrays broadcast."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(np.asarray(x, np.int64) << left, mantissa), right)


def dtype_range(dtype: np.dtype | type) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def scale_and_zero_point(t: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The tensor's scales (float64) and zero points (int64); per-tensor values are 1-element."""
    q = t.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        raise ValueError(f"tensor '{t.name}' is not quantized")
    zero = q.zero_point if q.zero_point is not None and q.zero_point.size else np.zeros(q.scale.size, np.int64)
    return q.scale.astype(np.float64), zero.astype(np.int64)


def is_quantized(t: Tensor | None) -> bool:
    """True for integer tensors carrying scales (the quantized paths)."""
    return (
        t is not None
        and t.dtype in (DType.INT8, DType.UINT8, DType.INT16)
        and t.quantization is not None
        and t.quantization.scale is not None
        and t.quantization.scale.size > 0
    )


def tensor_activation_range(activation: int, t: Tensor) -> tuple[int, int]:
    """The integer clamp of a fused activation (NONE, RELU, RELU_N1_TO_1, RELU6) on the
    quantized output tensor `t`."""
    if activation not in (0, 1, 2, 3):
        raise OneError(f"tensor '{t.name}': fused activation {activation} is not supported on quantized outputs")
    scale, zero = scale_and_zero_point(t)
    return activation_range(activation, float(scale[0]), int(zero[0]), t.dtype.numpy)


def activation_range(activation: int, scale: float, zero_point: int, dtype: np.dtype | type) -> tuple[int, int]:
    """The integer clamp range of a fused activation on a quantized output (TFLite's rule)."""
    lo, hi = dtype_range(dtype)

    def q(v: float) -> int:  # TFLite divides in float32
        return zero_point + round_half_away(float(np.float32(v) / np.float32(scale)))

    if activation == 1:  # RELU
        return max(lo, q(0.0)), hi
    if activation == 3:  # RELU6
        return max(lo, q(0.0)), min(hi, q(6.0))
    if activation == 2:  # RELU_N1_TO_1
        return max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi
