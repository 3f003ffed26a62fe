"""float32 elementwise operators and SOFTMAX (elementwise_f32.c).

Binary operators broadcast like numpy: the operands' strides are merged into as few loop
dimensions as possible (equal shapes become one row, a per-channel operand a [pixels, channels]
nest with channels innermost), and the kernel walks rows of the last dimension."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator

from ..emit import Known, OpEmit, float_literal, register
from .common import all_float, clampable, float_clamp
from .layout import MAX_RANK, broadcast_strides, float_io, merge

_FLT_MAX = float(np.finfo(np.float32).max)

_BINARY = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU")


def check_binary_float(op: Operator, known: Known) -> bool:
    return all_float(op) and clampable(op) and len(op.inputs) == 2 and len(op.outputs[0].shape) <= MAX_RANK


def emit_binary_float(e: OpEmit) -> None:
    """y = clamp(a op b) with numpy broadcasting."""
    a, b, y = e.input(0), e.input(1), e.output()
    out = e.shape(y)
    if int(np.prod(out)) == 0:
        return
    dims, (sa, sb) = merge(out, broadcast_strides(e.shape(a), out), broadcast_strides(e.shape(b), out))
    lo, hi = float_clamp(e.op)
    if e.op.name == "DIV":  # the reference kernel always clamps: x / 0 is +-FLT_MAX
        lo, hi = max(lo, -_FLT_MAX), min(hi, _FLT_MAX)
    e.use("elementwise_f32")
    e.call(f"one_binary_f32(ONE_F32_{e.op.name}, {len(dims)}, {e.array('int', dims)}, "
           f"{e.array('int', sa)}, {e.array('int', sb)}, {e.ptr(a)}, {e.ptr(b)}, {e.ptr(y)}, "
           f"{float_literal(lo)}, {float_literal(hi)});")


def _unary_params(op: Operator) -> tuple[str, float, float]:
    """(one_unary_f32_op name, p0, p1) of a unary operator."""
    name = op.name
    clamps = {"RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
    if name in clamps:
        return ("CLAMP", *clamps[name])
    if name == "LEAKY_RELU":
        return "LEAKY_RELU", float(getattr(op.options, "alpha", 0.0) or 0.0), 0.0
    if name == "GELU":
        return ("GELU_TANH" if getattr(op.options, "approximate", False) else "GELU"), 0.0, 0.0
    return name, 0.0, 0.0


_UNARY = ("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "ELU", "EXP", "LOG",
          "SQRT", "RSQRT", "ABS", "NEG", "SQUARE", "GELU")


def check_unary_float(op: Operator, known: Known) -> bool:
    return all_float(op)


def emit_unary_float(e: OpEmit) -> None:
    """y[i] = f(x[i])."""
    code, p0, p1 = _unary_params(e.op)
    n = int(np.prod(e.shape(e.output())))
    if n:
        e.use("elementwise_f32")
        e.call(f"one_unary_f32(ONE_F32_{code}, {n}, {e.ptr(e.input(0))}, {e.ptr(e.output())}, "
               f"{float_literal(p0)}, {float_literal(p1)});")


def check_softmax_float(op: Operator, known: Known) -> bool:
    return float_io(op)


def emit_softmax_float(e: OpEmit) -> None:
    """Softmax along the last axis."""
    shape = e.shape(e.input(0)) or (1,)
    beta = float(e.options.beta) if e.options is not None else 1.0
    if int(np.prod(shape)):
        e.use("elementwise_f32")
        e.call(f"one_softmax_f32({int(np.prod(shape[:-1]))}, {shape[-1]}, {float_literal(beta)}, "
               f"{e.ptr(e.input(0))}, {e.ptr(e.output())});")


for _name in _BINARY:
    register(_name, check_binary_float, emit_binary_float, inplace=True)
for _name in _UNARY:
    register(_name, check_unary_float, emit_unary_float, inplace=True)
register("SOFTMAX", check_softmax_float, emit_softmax_float, inplace=True)
