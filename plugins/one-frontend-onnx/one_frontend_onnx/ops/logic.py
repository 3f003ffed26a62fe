"""Comparisons, boolean logic, Where, IsNaN/IsInf, and the bitwise operators (BitShift,
BitwiseAnd/Or/Xor/Not), as circle operators or compositions of them."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import GatherOptions

from ..context import Unsupported
from .elementwise import Emitter, register, unary


def _is_inf(e: Emitter, x: Tensor, out: Tensor) -> None:
    """x compared with +inf, -inf, or |x| with +inf; with neither sign asked for, with NaN (never
    equal)."""
    positive, negative = bool(e.node.attr("detect_positive", 1)), bool(e.node.attr("detect_negative", 1))
    target = np.inf if positive else -np.inf if negative else np.nan
    e("EQUAL", e("ABS", x) if positive and negative else x, e.const(target, x), out=out)


def _bits(x: Tensor) -> int:
    if x.dtype.numpy is None or not np.issubdtype(x.dtype.numpy, np.integer):
        raise Unsupported(f"bitwise operation on {x.dtype.name}")
    return 8 * np.dtype(x.dtype.numpy).itemsize


def _signed(x: Tensor) -> bool:
    return bool(np.issubdtype(x.dtype.numpy, np.signedinteger))


def _bit_shift(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """A shift by a negative amount or by the width or more gives 0 to the left and fills with the
    sign bit to the right. Right: circle's RIGHT_SHIFT (it clamps amounts to [0, width - 1]), with
    negative amounts made width - 1 and, for unsigned types, amounts >= width zeroed. Left: x times
    2^s, the power looked up in a table whose last entry (0) takes every out-of-range amount."""
    x, s = xs[0], xs[1]
    assert x is not None and s is not None
    bits = _bits(x)
    if e.node.attr("direction") == "RIGHT":
        if _signed(x):
            s = e("SELECT_V2", e("LESS", s, e.const(0, s)), e.const(bits - 1, s), s)
            e("RIGHT_SHIFT", x, s, out=out)
            return
        zero = e("GREATER_EQUAL", s, e.const(bits, s))
        if zero.is_constant and not zero.data.any():
            e("RIGHT_SHIFT", x, s, out=out)
        else:
            e("SELECT_V2", zero, e.const(0, x), e("RIGHT_SHIFT", x, s), out=out)
        return
    index = e("MINIMUM", s, e.const(bits, s))
    if _signed(x):
        index = e("SELECT_V2", e("LESS", s, e.const(0, s)), e.const(bits, s), index)
    powers = np.append(np.left_shift(np.uint64(1), np.arange(bits, dtype=np.uint64)), np.uint64(0))
    table = e.const(powers, x)
    factor = e("GATHER", table, e.cast(index, DType.INT32), options=GatherOptions(axis=0))
    e("MUL", x, factor, out=out)


# the wider signed type a bitwise And/Or is computed in
WIDER = {1: DType.INT32, 2: DType.INT32, 4: DType.INT64}


def _and_or(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """circle has only BITWISE_XOR: a & b = (a + b - (a ^ b)) / 2 and a | b = (a + b + (a ^ b)) / 2,
    exact in a wider signed type."""
    a, b = xs[0], xs[1]
    assert a is not None and b is not None
    wide = WIDER.get(_bits(a) // 8)
    if wide is None:
        raise Unsupported(f"{e.node.op_type} of 64-bit integers (circle has only BITWISE_XOR)")
    total = e("ADD", e.cast(a, wide), e.cast(b, wide))
    both = e("SUB" if e.node.op_type == "BitwiseAnd" else "ADD", total, e.cast(e("BITWISE_XOR", a, b), wide))
    e.cast(e("DIV", both, e.const(2, wide)), a.dtype, out)


def _bitwise_not(e: Emitter, x: Tensor, out: Tensor) -> None:
    _bits(x)
    e("BITWISE_XOR", x, e.const(-1, x), out=out)  # all bits set


register({"Equal": "EQUAL", "Less": "LESS", "Greater": "GREATER", "LessOrEqual": "LESS_EQUAL",
          "GreaterOrEqual": "GREATER_EQUAL", "And": "LOGICAL_AND", "Or": "LOGICAL_OR", "Xor": "NOT_EQUAL",
          "Not": "LOGICAL_NOT", "IsNaN": unary(lambda e, x, out: e("NOT_EQUAL", x, x, out=out)),
          "IsInf": unary(_is_inf)}, result=DType.BOOL)
register({"Where": "SELECT_V2"}, result=1)
register({"BitwiseXor": "BITWISE_XOR", "BitShift": _bit_shift, "BitwiseAnd": _and_or, "BitwiseOr": _and_or,
          "BitwiseNot": unary(_bitwise_not)})
