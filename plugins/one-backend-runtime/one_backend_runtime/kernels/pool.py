"""Pooling on NHWC tensors: AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D.

Windows are separable, so a pool is two passes of shifted adds (or maxima): along the width
into an [N, H, OW, C] array, then along the height. Padding is never read: each tap covers only
the outputs whose window holds it, and averages divide by the number of input cells inside the
window, as TFLite does. Quantized averages sum in int32 and round as TFLite's reference kernel
((sum +- count/2) / count, truncated); quantized outputs keep the input's scale and zero point."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType

from .base import OpContext, apply_activation, kernel
from .conv import Axis
from .quant import dtype_range, is_quantized, tensor_activation_range


class _Plan:
    def __init__(self, shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int, padding: int) -> None:
        n, h, w, c = shape
        self.ay = Axis(h, kh, sh, 1, padding)
        self.ax = Axis(w, kw, sw, 1, padding)
        self.mid = (n, h, self.ax.out, c)
        self.out = (n, self.ay.out, self.ax.out, c)
        self.count = np.multiply.outer(self.ay.counts(), self.ax.counts())[None, :, :, None]
        self.count_f = self.count.astype(np.float32)
        self.count_d = self.count.astype(np.float64)
        self.half_count = (self.count // 2).astype(np.float64)
        if (self.count == 0).any():
            raise OneError(f"pooling window {kh}x{kw} reaches no input for some outputs of input {list(shape)}")


def _reduce(x: np.ndarray, plan: _Plan, op: Callable, dtype: np.dtype, init: float) -> np.ndarray:
    """Two separable passes of `op` (np.add or np.maximum) over the window taps."""

    def along(src: np.ndarray, axis: Axis, shape: tuple[int, ...], dim: int) -> np.ndarray:
        dst = np.empty(shape, dtype)
        full = next((t for t in axis.taps if t.o0 == 0 and t.o1 == axis.out), None)
        if full is not None:
            np.copyto(dst, src[_at(dim, full.inp())], casting="unsafe")
        else:
            dst.fill(init)
        for t in axis.taps:
            if t is full:
                continue
            o = dst[_at(dim, t.out())]
            op(o, src[_at(dim, t.inp())], out=o, dtype=dtype)
        return dst

    mid = along(x, plan.ax, plan.mid, 2)
    return along(mid, plan.ay, plan.out, 1)


def _at(dim: int, s: slice) -> tuple:
    return (slice(None),) * dim + (s,)


@kernel("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
def pool_2d(ctx: OpContext) -> Callable:
    name = ctx.op.name
    o = ctx.options
    x_t, y_t = ctx.inputs[0], ctx.outputs[0]
    kh, kw = int(o.filter_height), int(o.filter_width)
    sh, sw = int(o.stride_h or 1), int(o.stride_w or 1)
    padding = int(o.padding)
    act = int(o.fused_activation_function)
    where = f"{name} '{y_t.name}'"
    plans: dict[tuple, _Plan] = {}

    def plan(shape: tuple) -> _Plan:
        p = plans.get(shape)
        if p is None:
            if len(shape) != 4:
                raise OneError(f"{where}: input must be 4-D, got {list(shape)}")
            p = plans[shape] = _Plan(shape, kh, kw, sh, sw, padding)
        return p

    if x_t.dtype == DType.FLOAT32:
        f32 = np.dtype(np.float32)
        if name == "MAX_POOL_2D":

            def run_max(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
                x = inputs[0]
                return [apply_activation(_reduce(x, plan(x.shape), np.maximum, f32, -np.inf), act)]

            return run_max
        square = name == "L2_POOL_2D"

        def run_avg(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[0]
            p = plan(x.shape)
            total = _reduce(x * x if square else x, p, np.add, f32, 0.0)
            np.divide(total, p.count_f, out=total)
            if square:
                np.sqrt(total, out=total)
            return [apply_activation(total, act)]

        return run_avg

    # LiteRT also takes integer maxima without quantization parameters (the whole type's range)
    plain_max = name == "MAX_POOL_2D" and act == 0 and x_t.dtype in (DType.INT8, DType.UINT8, DType.INT16)
    if name == "L2_POOL_2D" or not (is_quantized(x_t) or plain_max):
        raise OneError(f"{where}: unsupported type {x_t.dtype.name}")
    lo, hi = tensor_activation_range(act, y_t) if is_quantized(y_t) else dtype_range(y_t.dtype.numpy)
    out_type = y_t.dtype.numpy
    if name == "MAX_POOL_2D":
        info_min = int(np.iinfo(x_t.dtype.numpy).min)

        def run_qmax(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[0]
            m = _reduce(x, plan(x.shape), np.maximum, x.dtype, info_min)
            return [np.clip(m, lo, hi).astype(out_type, copy=False)]

        return run_qmax
    i32 = np.dtype(np.int32)

    def run_qavg(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        p = plan(x.shape)
        acc = _reduce(x, p, np.add, i32, 0)
        # TFLite: acc > 0 ? (acc + count/2) / count : (acc - count/2) / count, truncated.
        # In float64 the quotient of these small integers floors exactly.
        mag = np.abs(acc).astype(np.float64)
        mag += p.half_count
        mag /= p.count_d
        np.floor(mag, out=mag)
        np.negative(mag, out=mag, where=acc < 0)
        np.clip(mag, lo, hi, out=mag)
        return [mag.astype(out_type)]

    return run_qavg
