"""Integer elementwise operators, (de)quantization, softmax, pooling and means (elementwise_q.c).

Rescaling parameters come from the runtime's own functions; unary operators that LiteRT
computes through a float table (LOGISTIC, TANH, HARD_SWISH, the RELU family on 8-bit data,
int16 LOGISTIC/TANH) become a table of the runtime kernel's output for every input value."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Operator, Tensor
from one_backend_runtime.backend import installed_kernels
from one_backend_runtime.kernels.activations import _preprocess_softmax_scaling, _calculate_input_radius
from one_backend_runtime.kernels.base import OpContext
from one_backend_runtime.kernels.elementwise import (
    all_values, checked_log2, exp_on_negative_values, lut_populate_int16, mbqm, qparams, rdbp, table_for,
)
from one_backend_runtime.kernels.quant import is_quantized, quantize_multiplier, tensor_activation_range

from ..emit import Known, OpEmit, float_literal, register
from .common import activation, window
from .layout import broadcast_strides, contiguous, merge

SUF = {DType.INT8: "s8", DType.UINT8: "u8", DType.INT16: "s16"}
F32 = np.float32


def _q(t: Tensor | None) -> bool:
    return t is not None and is_quantized(t) and t.dtype in SUF and t.quantization.scale.size == 1


def _n(e: OpEmit, t: Tensor) -> int:
    return int(np.prod(e.shape(t), dtype=np.int64))


# Binary: ADD, SUB, MUL ---------------------------------------------------------------------------

def _check_binary(op: Operator, known: Known) -> bool:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    return (all(_q(t) for t in (a, b, y)) and a.dtype == b.dtype == y.dtype and activation(op) in (0, 1, 2, 3)
            and len(y.shape) <= 8)


def _binary_fields(e: OpEmit) -> list:
    a, b, y = e.input(0), e.input(1), e.output()
    (s1, z1), (s2, z2), (so, zo) = qparams(a), qparams(b), qparams(y)
    lo, hi = tensor_activation_range(activation(e.op), y)
    sign = -1 if e.op.name == "SUB" else 1
    if e.op.name == "MUL":
        m, sh = quantize_multiplier(float(F32(F32(F32(s1) * F32(s2)) / F32(so))))
        return [2, sign, z1, z2, 0, 0, 0, 0, 0, m, sh, zo, lo, hi]
    if y.dtype == DType.INT16 and getattr(e.options, "pot_scale_int16", True):
        (ok1, l1), (ok2, l2), (oko, lo_) = checked_log2(s1), checked_log2(s2), checked_log2(so)
        if ok1 and ok2 and oko:
            assert l1 - lo_ <= 0 and l2 - lo_ <= 0 and (l1 == lo_ or l2 == lo_), "unsupported pot int16 scales"
            return [1, sign, 0, 0, 0, 0, lo_ - l1, 0, lo_ - l2, 0, 0, 0, lo, hi]
    left = 15 if y.dtype == DType.INT16 else 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << left) * so))
    return [0, sign, z1, z2, left, m1, sh1, m2, sh2, mo, sho, zo, lo, hi]


def binary_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    a, b, y = e.input(0), e.input(1), e.output()
    out = e.shape(y)
    dims, (sa, sb) = merge(out, broadcast_strides(e.shape(a), out), broadcast_strides(e.shape(b), out))
    p = e.params("one_binary_q_params", _binary_fields(e))
    e.call(f"one_binary_q{SUF[y.dtype]}({p}, {len(dims)}, {e.array('int', dims)}, {e.array('int', sa)}, "
           f"{e.array('int', sb)}, {e.ptr(a)}, {e.ptr(b)}, {e.ptr(y)});")


# Unary through a table ---------------------------------------------------------------------------

_LUT_OPS = ("LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1")


def _check_lut(op: Operator, known: Known) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    return _q(x) and _q(y) and x.dtype == y.dtype and (x.dtype != DType.INT16 or op.name != "HARD_SWISH")


def runtime_table(op: Operator) -> np.ndarray:
    """The runtime kernel's output for every input value, indexed by the input's unsigned bits."""
    dtype = np.dtype(op.inputs[0].dtype.numpy)
    fn = installed_kernels()[0][op.name](OpContext(op, lambda i, xs: [], {}, {}))
    outs = np.asarray(fn([all_values(dtype).astype(dtype)])[0]).astype(np.int64)
    return table_for(dtype, outs, dtype)


def lut_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    x, y = e.input(0), e.output()
    table = runtime_table(e.op)
    if x.dtype == DType.INT16:
        e.call(f"one_lut_q16({_n(e, x)}, {e.ptr(x)}, {e.weights(table)}, {e.ptr(y)});")
    else:
        e.call(f"one_lut_q8({_n(e, x)}, {e.ptr(x, 'uint8_t')}, {e.weights(table.view(np.uint8))}, "
               f"{e.ptr(y, 'uint8_t')});")


# QUANTIZE, DEQUANTIZE ------------------------------------------------------------------------------

def _check_quantize(op: Operator, known: Known) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    return _q(y) and (x.dtype == DType.FLOAT32 or _q(x))


def quantize_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    x, y = e.input(0), e.output()
    so, zo = qparams(y)
    if x.dtype == DType.FLOAT32:
        e.call(f"one_quantize_q{SUF[y.dtype]}({_n(e, x)}, {e.ptr(x)}, {float_literal(so)}, {zo}, {e.ptr(y)});")
        return
    si, zi = qparams(x)
    m, sh = quantize_multiplier(si / so)
    info = np.iinfo(y.dtype.numpy)
    e.call(f"one_requantize_q{SUF[x.dtype]}({_n(e, x)}, {e.ptr(x)}, {zi}, {m}, {sh}, {zo}, {info.min}, {info.max}, "
           f"{e.ptr(y)}, {info.bits // 8}, {int(info.min < 0)});")


def dequantize_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    x, y = e.input(0), e.output()
    s, z = qparams(x)
    e.call(f"one_dequantize_q{SUF[x.dtype]}({_n(e, x)}, {e.ptr(x)}, {z}, {float_literal(s)}, {e.ptr(y)});")


# SOFTMAX -------------------------------------------------------------------------------------------

def _check_softmax(op: Operator, known: Known) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    return _q(x) and _q(y) and x.dtype == y.dtype


def softmax_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    x, y = e.input(0), e.output()
    shape = e.shape(x)
    n = shape[-1] if shape else 1
    rows = _n(e, x) // max(n, 1)
    beta = float(e.options.beta) if e.options is not None else 1.0
    si, _ = qparams(x)
    if x.dtype == DType.INT16:
        rng = 65535
        exp_lut = lut_populate_int16(10.0 / rng, 32767, 2.0 / rng, 0, lambda v: np.exp(np.asarray(v, np.float64)),
                                     np.float64)
        recip_lut = lut_populate_int16(1.0 / rng, -32768, 2.0 / rng, 0,
                                       lambda v: 1.0 / (1.0 + np.asarray(v, np.float64)), np.float64)
        m, sh = quantize_multiplier(float(F32(F32(si) * F32(beta))) / (10.0 / 65535.0))
        e.call(f"one_softmax_q16({rows}, {n}, {m}, {sh}, {e.weights(exp_lut.astype(np.int16))}, "
               f"{e.weights(recip_lut.astype(np.int16))}, {e.ptr(x)}, {e.ptr(y)});")
        return
    multiplier, left_shift = _preprocess_softmax_scaling(beta, si, 5)
    diffs = -np.arange(256, dtype=np.int64)
    valid = diffs >= -1.0 * _calculate_input_radius(5, left_shift)
    exp_q0 = np.where(valid, exp_on_negative_values(mbqm(diffs, multiplier, left_shift), 5), 0)
    exp_accum = np.where(valid, rdbp(exp_q0, 12), 0)
    e.call(f"one_softmax_q8({rows}, {n}, {int(x.dtype == DType.INT8)}, {e.weights(exp_q0.astype(np.int32))}, "
           f"{e.weights(exp_accum.astype(np.int32))}, {e.ptr(x)}, {e.ptr(y)});")


# AVERAGE_POOL_2D, MAX_POOL_2D ----------------------------------------------------------------------

def _check_pool(op: Operator, known: Known) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    return (_q(x) and _q(y) and x.dtype == y.dtype and len(x.shape) == 4 and activation(op) in (0, 1, 2, 3)
            and qparams(x) == qparams(y))


def pool_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    o = e.options
    x, y = e.input(0), e.output()
    n, h, w, c = e.shape(x)
    oh, pt = window(h, o.filter_height, o.stride_h, 1, o.padding)
    ow, pl = window(w, o.filter_width, o.stride_w, 1, o.padding)
    lo, hi = tensor_activation_range(activation(e.op), y)
    p = e.params("one_pool_q_params", [n, h, w, c, oh, ow, o.filter_height, o.filter_width, o.stride_h, o.stride_w,
                                       pt, pl, int(e.op.name == "MAX_POOL_2D"), lo, hi])
    e.call(f"one_pool_q{SUF[x.dtype]}({p}, {e.ptr(x)}, {e.ptr(y)}, {e.scratch(4 * c, 'int32_t')});")


# MEAN ----------------------------------------------------------------------------------------------

def _check_mean(op: Operator, known: Known) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    return _q(x) and _q(y) and x.dtype == y.dtype and known(op.inputs[1]) and len(x.shape) <= 8


def mean_q(e: OpEmit) -> None:
    e.use("elementwise_q")
    x, y = e.input(0), e.output()
    shape = e.shape(x)
    axes = {int(a) % len(shape) for a in np.asarray(e.value(e.input(1))).ravel()} if shape else set()
    kept = [1 if i in axes else d for i, d in enumerate(shape)]
    acc_strides = [0 if i in axes else s for i, s in enumerate(contiguous(kept))]
    dims, (acc_s,) = merge(shape, acc_strides)
    count = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    n_out = _n(e, y)
    (si, zi), (so, zo) = qparams(x), qparams(y)
    base_m, base_sh = quantize_multiplier(si / so)
    shift = min(int(count).bit_length() - 1, 32, 31 + base_sh)
    m, sh = (base_m << shift) // count, base_sh - shift
    e.call(f"one_mean_q{SUF[x.dtype]}({len(dims)}, {e.array('int', dims)}, {e.array('int', acc_s)}, {n_out}, "
           f"{count}, {zi}, {m}, {sh}, {zo}, {e.ptr(x)}, {e.ptr(y)}, {e.scratch(4 * n_out, 'int32_t')});")


for _name in ("ADD", "SUB", "MUL"):
    register(_name, _check_binary, binary_q)
for _name in _LUT_OPS:
    register(_name, _check_lut, lut_q, inplace=True)
register("QUANTIZE", _check_quantize, quantize_q)
register("DEQUANTIZE", lambda op, known: _q(op.inputs[0]) and op.outputs[0].dtype == DType.FLOAT32, dequantize_q)
register("SOFTMAX", _check_softmax, softmax_q)
register("AVERAGE_POOL_2D", _check_pool, pool_q)
register("MAX_POOL_2D", _check_pool, pool_q)
register("MEAN", _check_mean, mean_q)
