"""Integer CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (conv_q.c): int8 (per-channel or
per-tensor weights), uint8 (per-tensor weights with a zero point) and 16x8.

Everything but the integer arithmetic is settled here, with the runtime's own functions: the
weights minus their zero point as int16 panels, the bias with the input zero point folded in
(bias[o] - zp_in * sum_k w[k][o]; im2col pads with zp_in so padding adds nothing), and the
per-channel multipliers, shifts and rescale mode of LiteRT's reference kernels."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Operator, Tensor
from one_backend_runtime.kernels.conv import centered_weights, qparams, real_multipliers, wide_accumulator
from one_backend_runtime.kernels.quant import is_quantized, quantize_multipliers, tensor_activation_range

from ..emit import Known, OpEmit, ctype_of, register
from .common import activation, pack_panels
from .conv_float import BLOCK_ROWS, conv_params

#: Activation type -> (kernel suffix, accumulator C type, bias numpy type).
SUFFIX = {DType.INT8: ("s8", "int32_t", np.int32), DType.UINT8: ("u8", "int32_t", np.int32),
          DType.INT16: ("s16", "int64_t", np.int64)}
RQ_DOUBLE, RQ_WIDE, RQ_SINGLE = 0, 1, 2


def _weights_ok(x: Tensor, w: Tensor, channels: int) -> bool:
    """int8 x int8, uint8 x uint8 (circle's asymmetric per-channel weights too), int16 x int8;
    per tensor or per output channel."""
    if not is_quantized(w):
        return False
    if w.quantization.scale.size > 1 and w.quantization.scale.size != channels:
        return False
    return {DType.INT8: DType.INT8, DType.UINT8: DType.UINT8, DType.INT16: DType.INT8}.get(x.dtype) == w.dtype


def check_qconv(op: Operator, known: Known, channel_axis: int = 0) -> bool:
    """Quantized activations of one type in and out, constant weights and bias, a clamp."""
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    b = op.inputs[2] if len(op.inputs) > 2 else None
    if not (is_quantized(x) and is_quantized(y) and x.dtype == y.dtype and x.dtype in SUFFIX):
        return False
    if not (known(w) and (b is None or (known(b) and b.dtype in (DType.INT32, DType.INT64)))):
        return False
    if b is not None and b.dtype == DType.INT64 and x.dtype != DType.INT16:
        return False
    if activation(op) not in (0, 1, 2, 3) or y.quantization.scale.size != 1:
        return False
    return _weights_ok(x, w, int(w.shape[channel_axis]) if w.shape else 0)


def requant(e: OpEmit, channels: int, mode: int, float_product: bool) -> list:
    """The one_rq initializer: per-channel multipliers and shifts, zero point, clamp, mode."""
    x, w, y = e.input(0), e.input(1), e.output()
    s_in, _ = qparams(x)
    s_w, _ = qparams(w)
    s_out, z_out = qparams(y)
    reals = real_multipliers(s_in[0], s_w, s_out[0], float_product=float_product)
    mant, shift = quantize_multipliers(np.broadcast_to(reals, (channels,)))
    lo, hi = tensor_activation_range(activation(e.op), y)
    # The two roundings as one: h = (x*m + 2^30) >> 31, then (h + half - (h < 0)) >> right, is
    # (x*m + 2^30 + (half - (x < 0)) * 2^31) >> (31 + right) (h < 0 and x < 0 differ only where
    # h is 0, which gives 0 either way).
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    add = (1 << 30) + ((np.int64(1) << right) >> 1) * (1 << 31)
    negw = np.where(right > 0, -(1 << 31), 0)
    return [e.array("int32_t", mant.tolist()), e.array("int32_t", shift.tolist()), int(z_out[0]), lo, hi, mode,
            e.array("int32_t", left.tolist()), e.array("int64_t", [f"INT64_C({v})" for v in add.tolist()]),
            e.array("int64_t", [f"INT64_C({v})" for v in negw.tolist()]), e.array("int32_t", (31 + right).tolist())]


def weights_and_bias(e: OpEmit, w_kn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, N] weights minus their zero point (one, or one per output channel n) and the bias, int64."""
    wq = centered_weights(w_kn, qparams(e.input(1))[1], 1)
    b_t = e.input(2) if len(e.op.inputs) > 2 else None
    bias = np.zeros(wq.shape[1], np.int64) if b_t is None else e.value(b_t).astype(np.int64).ravel()
    return wq, bias


def folded_bias(e: OpEmit, wq: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The bias with the input zero point folded in, for the integer products of raw inputs:
    bias[n] - zp_in * sum_k w[k][n]."""
    return bias - int(qparams(e.input(0))[1][0]) * wq.sum(axis=0)


def _conv_mode(e: OpEmit) -> int:
    b_t = e.input(2) if len(e.op.inputs) > 2 else None
    return RQ_WIDE if wide_accumulator(e.input(0), b_t) else RQ_DOUBLE


def _acc(e: OpEmit) -> tuple[str, str, np.dtype]:
    return SUFFIX[e.input(0).dtype]


def _qconv_params(e: OpEmit, depthwise: bool, channels: int, wq: np.ndarray, slots: int = 1) -> str:
    fields, _ = conv_params(e, depthwise)
    zi = int(qparams(e.input(0))[1][0])
    rq = requant(e, channels, _conv_mode(e), float_product=e.input(0).dtype == DType.UINT8)
    info = np.iinfo(e.input(0).dtype.numpy)
    narrow = max(abs(int(info.min) - zi), abs(int(info.max) - zi)) * int(np.abs(wq).max(initial=0)) < 1 << 15
    return e.params("one_conv_q_params", fields[:17] + [zi, rq, int(narrow), slots])


#: Rows per block of the float-exact path (ONE_QF_ROWS in conv_q.h).
QF_ROWS = 72


def float_exact(e: OpEmit, wq: np.ndarray) -> bool:
    """Whether every partial sum of (x - zp_in) * w over K is an integer float32 holds exactly
    (below 2**24): then 8-bit products run on the float matrix product."""
    x = e.input(0)
    if x.dtype not in (DType.INT8, DType.UINT8):
        return False
    lo, hi = np.iinfo(x.dtype.numpy).min, np.iinfo(x.dtype.numpy).max
    zp = int(qparams(x)[1][0])
    reach = max(abs(lo - zp), abs(hi - zp))
    return reach * int(np.abs(wq).sum(axis=0).max(initial=0)) < 1 << 24


def qf_slots(e: OpEmit, rows: int) -> int:
    """Scratch blocks of a float-exact kernel over `rows` rows: one per thread, at most one per
    block of rows."""
    return min(e.threads, -(-rows // QF_ROWS))


def _float_exact_call(e: OpEmit, fn: str, head: str, wq: np.ndarray, bias: np.ndarray, k: int, n: int, tail: str,
                      rows: int) -> None:
    """One call of a float-exact 8-bit kernel, with its two scratch areas (`qf_slots` blocks)."""
    e.use("conv_q", "conv_f32")
    slots = qf_slots(e, rows)
    block = min(rows, QF_ROWS)
    a_rows = e.scratch(4 * block * k * slots)
    c_rows = e.scratch(4 * block * n * slots)
    if wq.min(initial=0) >= -128 and wq.max(initial=0) <= 127:  # kept in 8 bits, widened as used
        weights = f"NULL, {e.weights(pack_panels(wq, np.int8))}"
    else:
        weights = f"{e.weights(pack_panels(wq, np.float32))}, NULL"
    e.call(f"{fn}({head}, {weights}, {e.weights(bias.astype(np.int32))}, {tail}, {a_rows}, {c_rows});")


def conv2d_q(e: OpEmit) -> None:
    suf, _, btype = _acc(e)
    w = e.value(e.input(1))
    cout, kh, kw, cin = w.shape
    fields, _ = conv_params(e, False)
    wq, bias = weights_and_bias(e, w.reshape(cout, kh * kw * cin).T)
    exact = float_exact(e, wq)
    bias = bias if exact else folded_bias(e, wq, bias)
    p = _qconv_params(e, False, cout, wq, qf_slots(e, fields[0] * fields[4] * fields[5]) if exact else 1)
    if exact:
        _float_exact_call(e, f"one_conv2d_qf{suf}", f"{p}, {e.ptr(e.input(0))}", wq, bias, kh * kw * cin, cout,
                          e.ptr(e.output()), fields[0] * fields[4] * fields[5])
        return
    e.use("conv_q", "conv_f32")  # conv_q.c calls one_gemm_f32
    o = e.options
    direct = kh == kw == 1 and o.stride_h == o.stride_w == 1 and fields[13] == fields[14] == 0
    rows = min(BLOCK_ROWS, fields[4] * fields[5])
    size = rows * kh * kw * cin * np.dtype(e.input(0).dtype.numpy).itemsize
    scratch = "NULL" if direct else e.scratch(size, ctype_of(e.input(0)))
    e.call(f"one_conv2d_q{suf}({p}, {e.ptr(e.input(0))}, {e.weights(pack_panels(wq, np.int16))}, "
           f"{e.weights(bias.astype(btype))}, {e.ptr(e.output())}, {scratch});")


def depthwise_q(e: OpEmit) -> None:
    e.use("conv_q", "conv_f32")  # conv_q.c calls one_gemm_f32
    suf, acc_t, btype = _acc(e)
    w = e.value(e.input(1))
    _, kh, kw, cout = w.shape
    wq, bias = weights_and_bias(e, w.reshape(kh * kw, cout))
    batch, oh, ow, _ = e.shape(e.output())
    slots = min(e.threads, batch * oh)  # one accumulator row per thread
    p = _qconv_params(e, True, cout, wq, slots)
    acc = e.scratch(slots * ow * cout * np.dtype(btype).itemsize, acc_t)
    e.call(f"one_depthwise_conv2d_q{suf}({p}, {e.ptr(e.input(0))}, {e.weights(wq.astype(np.int16))}, "
           f"{e.weights(bias.astype(btype))}, {e.ptr(e.output())}, {acc});")


def fully_connected_q(e: OpEmit) -> None:
    suf, _, btype = _acc(e)
    w = e.value(e.input(1))
    n_out, k = w.shape
    wq, bias = weights_and_bias(e, w.T)
    exact = float_exact(e, wq)
    bias = bias if exact else folded_bias(e, wq, bias)
    per_channel = e.input(1).quantization.scale.size > 1
    mode = RQ_SINGLE if e.output().dtype == DType.UINT8 else RQ_DOUBLE
    rq = e.params("one_rq", requant(e, n_out, mode, float_product=not per_channel))
    rows = int(np.prod(e.shape(e.input(0)))) // k
    if exact:
        zp = int(qparams(e.input(0))[1][0])
        _float_exact_call(e, f"one_gemm_qf{suf}", f"{rows}, {n_out}, {k}, {e.ptr(e.input(0))}, {zp}", wq, bias, k,
                          n_out, f"{rq}, {e.ptr(e.output())}, {qf_slots(e, rows)}", rows)
        return
    e.use("conv_q", "conv_f32")  # conv_q.c calls one_gemm_f32
    e.call(f"one_gemm_q{suf}({rows}, {n_out}, {k}, {e.ptr(e.input(0))}, {k}, {e.weights(pack_panels(wq, np.int16))}, "
           f"{e.weights(bias.astype(btype))}, {rq}, {e.ptr(e.output())}, {n_out});")


def _check_fc(op: Operator, known: Known) -> bool:
    w = op.inputs[1]
    return (len(w.shape) == 2 and int(getattr(op.options, "weights_format", 0) or 0) == 0
            and check_qconv(op, known, channel_axis=0))


register("CONV_2D", lambda op, known: check_qconv(op, known, 0) and op.inputs[0].shape[-1] == op.inputs[1].shape[-1],
                 conv2d_q)
register("DEPTHWISE_CONV_2D", lambda op, known: check_qconv(op, known, 3), depthwise_q)
register("FULLY_CONNECTED", _check_fc, fully_connected_q)
