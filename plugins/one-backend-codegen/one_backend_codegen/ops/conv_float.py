"""float32 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (conv_f32.c)."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator

from ..emit import Known, OpEmit, emitter, float_literal
from .common import all_float, clampable, float_clamp, pack_panels, window

#: Output pixels per im2col block: ONE_MC in conv_f32.c, so a block is one cache block of rows.
BLOCK_ROWS = 72


def _check_conv(op: Operator, known: Known) -> bool:
    return all_float(op) and clampable(op) and known(op.inputs[1]) and (len(op.inputs) < 3 or op.inputs[2] is None or known(op.inputs[2]))


def conv_params(e: OpEmit, depthwise: bool) -> tuple[list, tuple[int, ...]]:
    """The fields of one_conv_f32_params (and the weights' shape)."""
    o = e.options
    x, w = e.input(0), e.input(1)
    n, h, wd, c = e.shape(x)
    _, kh, kw, cout = e.shape(w) if depthwise else (None, *e.shape(w)[1:3], e.shape(w)[0])
    oh, pt = window(h, kh, o.stride_h, o.dilation_h_factor, o.padding)
    ow, pl = window(wd, kw, o.stride_w, o.dilation_w_factor, o.padding)
    assert e.shape(e.output()) == (n, oh, ow, cout), (e.shape(e.output()), (n, oh, ow, cout))
    mult = cout // c if depthwise else 1
    lo, hi = float_clamp(e.op)
    fields = [n, h, wd, c, oh, ow, cout, kh, kw, o.stride_h, o.stride_w, o.dilation_h_factor,
              o.dilation_w_factor, pt, pl, mult, BLOCK_ROWS, float(lo), float(hi)]
    return fields, (kh, kw)


def _bias(e: OpEmit, index: int) -> str:
    b = e.input(index) if len(e.op.inputs) > index else None
    return "NULL" if b is None else e.ptr(b)


@emitter("CONV_2D", check=_check_conv)
def conv2d(e: OpEmit) -> None:
    e.use("conv_f32")
    fields, (kh, kw) = conv_params(e, depthwise=False)
    w = e.value(e.input(1))
    cout, cin = w.shape[0], w.shape[3]
    packed = pack_panels(w.reshape(cout, kh * kw * cin).T)
    o = e.options
    direct = kh == kw == 1 and o.stride_h == o.stride_w == 1 and fields[13] == fields[14] == 0
    rows = min(BLOCK_ROWS, fields[4] * fields[5])
    scratch = "NULL" if direct else e.scratch(4 * rows * kh * kw * cin)
    p = e.params("one_conv_f32_params", fields)
    e.call(f"one_conv2d_f32({p}, {e.ptr(e.input(0))}, {e.weights(packed)}, {_bias(e, 2)}, "
           f"{e.ptr(e.output())}, {scratch});")


@emitter("DEPTHWISE_CONV_2D", check=_check_conv)
def depthwise_conv2d(e: OpEmit) -> None:
    e.use("conv_f32")
    fields, _ = conv_params(e, depthwise=True)
    w = e.value(e.input(1))
    p = e.params("one_conv_f32_params", fields)
    e.call(f"one_depthwise_conv2d_f32({p}, {e.ptr(e.input(0))}, {e.weights(w[0])}, {_bias(e, 2)}, "
           f"{e.ptr(e.output())});")


def _check_fc(op: Operator, known: Known) -> bool:
    """Plain weights only: a shuffled weights_format (circle's SHUFFLED16x1FLOAT32) is refused."""
    w = op.inputs[1]
    return _check_conv(op, known) and len(w.shape) == 2 and int(getattr(op.options, "weights_format", 0) or 0) == 0


@emitter("FULLY_CONNECTED", check=_check_fc)
def fully_connected(e: OpEmit) -> None:
    e.use("conv_f32")
    w = e.value(e.input(1))
    n_out, k = w.shape
    rows = int(np.prod(e.shape(e.input(0)))) // k
    lo, hi = float_clamp(e.op)
    e.call(f"one_gemm_f32({rows}, {n_out}, {k}, {e.ptr(e.input(0))}, {k}, {e.weights(pack_panels(w.T))}, "
           f"{_bias(e, 2)}, {e.ptr(e.output())}, {n_out}, {float_literal(lo)}, {float_literal(hi)});")
