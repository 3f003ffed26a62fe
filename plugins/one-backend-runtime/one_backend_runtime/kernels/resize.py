"""Image resizing on NHWC tensors: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR.

Source coordinates are computed per output row and column once per shape, in float32 exactly
as TFLite's reference kernels compute them (align_corners, half_pixel_centers), then applied
to the whole tensor with gathers. Float bilinear resizing interpolates along the width, then
along the height; uint8 repeats TFLite's float formula term by term (it rounds by truncating
value + 0.5, so the float rounding must be the same); int8 and int16 use TFLite's integer
formula (ResizeBilinearInteger: coordinates in 1/1024 steps, 64-bit sums)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType

from .base import OpContext, kernel
from .conv import scratch

F32 = np.float32


def _size(inputs: Sequence[np.ndarray | None], where: str) -> tuple[int, int]:
    size = np.asarray(inputs[1]).ravel()
    if size.size != 2 or size[0] <= 0 or size[1] <= 0:
        raise OneError(f"{where}: output size must be two positive integers, got {size.tolist()}")
    return int(size[0]), int(size[1])


def _float_axis(in_size: int, out_size: int, align: bool, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, weight of lower, weight of upper) per output position,
    float32 as in ComputeInterpolationValues."""
    scale = F32(in_size) / F32(out_size)
    if align and out_size > 1:
        scale = F32(in_size - 1) / F32(out_size - 1)
    v = np.arange(out_size, dtype=F32)
    s = (v + F32(0.5)) * scale - F32(0.5) if half else v * scale
    lo = np.maximum(np.floor(s).astype(np.int64), 0)
    hi = np.minimum(np.ceil(s).astype(np.int64), in_size - 1)
    frac = (s - lo.astype(F32)).astype(F32)
    return lo, hi, (F32(1) - frac).astype(F32), frac


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncation toward zero)."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def _int_axis(in_size: int, out_size: int, align: bool, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ComputeInterpolationValuesInteger: indices and weights in 1/1024 steps."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    v = np.arange(out_size, dtype=np.int64)
    s = v * scale + scale // 2 - (1 << 9) if half else v * scale
    lo = np.maximum(_c_div(s, 1 << 10), 0)
    hi = np.minimum(_c_div(s + (1 << 10) - 1, 1 << 10), in_size - 1)
    w1 = s - (1 << 10) * lo
    return lo, hi, (1 << 10) - w1, w1


@kernel("RESIZE_BILINEAR")
def resize_bilinear(ctx: OpContext) -> Callable:
    o = ctx.options
    align = bool(getattr(o, "align_corners", False))
    half = bool(getattr(o, "half_pixel_centers", False))
    x_t, y_t = ctx.inputs[0], ctx.outputs[0]
    where = f"RESIZE_BILINEAR '{y_t.name}'"
    dtype = x_t.dtype
    if dtype not in (DType.FLOAT32, DType.UINT8, DType.INT8, DType.INT16):
        raise OneError(f"{where}: unsupported type {dtype.name}")
    axes: dict[tuple, tuple] = {}

    def axis(in_size: int, out_size: int, integer: bool) -> tuple:
        key = (in_size, out_size, integer)
        a = axes.get(key)
        if a is None:
            a = axes[key] = (_int_axis if integer else _float_axis)(in_size, out_size, align, half)
        return a

    get = scratch(ctx)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        oh, ow = _size(inputs, where)
        n, h, w, c = x.shape
        if x.dtype == np.float32:
            y0, y1, wy0, wy1 = axis(h, oh, False)
            x0, x1, wx0, wx1 = axis(w, ow, False)
            # along the width, then along the height (temporaries in scratch buffers)
            mid = get(("rb-mid",), (n, h, ow, c), F32)
            tmp = get(("rb-tmp",), (n, h, ow, c), F32)
            np.take(x, x0, axis=2, out=mid)
            mid *= wx0[:, None]
            np.take(x, x1, axis=2, out=tmp)
            tmp *= wx1[:, None]
            mid += tmp
            out = np.empty((n, oh, ow, c), F32)
            np.take(mid, y0, axis=1, out=out)
            out *= wy0[:, None, None]
            tmp2 = get(("rb-tmp2",), (n, oh, ow, c), F32)
            np.take(mid, y1, axis=1, out=tmp2)
            tmp2 *= wy1[:, None, None]
            out += tmp2
            return [out]
        if x.dtype == np.uint8:  # TFLite's float formula, term by term, then + 0.5 truncated
            y0, y1, wy0, wy1 = axis(h, oh, False)
            x0, x1, wx0, wx1 = axis(w, ow, False)
            a, b = wy0[:, None, None], wy1[:, None, None]
            cx, dx = wx0[None, :, None], wx1[None, :, None]
            r0, r1 = np.take(x, y0, axis=1).astype(F32), np.take(x, y1, axis=1).astype(F32)
            v = np.take(r0, x0, axis=2) * a * cx
            v += np.take(r1, x0, axis=2) * b * cx
            v += np.take(r0, x1, axis=2) * a * dx
            v += np.take(r1, x1, axis=2) * b * dx
            v += F32(0.5)
            return [v.astype(np.uint8)]
        y0, y1, wy0, wy1 = axis(h, oh, True)
        x0, x1, wx0, wx1 = axis(w, ow, True)
        # The integer sum (in units of 2**-20) regrouped exactly: rows first, then columns. The
        # sums stay below 2**38, so float64 holds them exactly, and dividing by 2**20 is exact.
        f64 = np.float64
        xi = get(("rb-x",), x.shape, f64)
        np.copyto(xi, x)
        rows = get(("rb-rows",), (n, oh, w, c), f64)
        rtmp = get(("rb-rtmp",), (n, oh, w, c), f64)
        np.take(xi, y0, axis=1, out=rows)
        rows *= wy0.astype(f64)[:, None, None]
        np.take(xi, y1, axis=1, out=rtmp)
        rtmp *= wy1.astype(f64)[:, None, None]
        rows += rtmp
        v = get(("rb-v",), (n, oh, ow, c), f64)
        t = get(("rb-t",), (n, oh, ow, c), f64)
        np.take(rows, x0, axis=2, out=v)
        v *= wx0.astype(f64)[:, None]
        np.take(rows, x1, axis=2, out=t)
        t *= wx1.astype(f64)[:, None]
        v += t
        # (v + sign(v) * 2**19) / 2**20, truncated toward zero (0 gives 0 either way)
        np.copysign(f64(1 << 19), v, out=t)
        v += t
        v *= f64(2.0**-20)
        np.trunc(v, out=v)
        return [v.astype(x.dtype)]

    return run


def _nearest_axis(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """GetNearestNeighbor for every output position (float32 arithmetic)."""
    if align and out_size > 1:
        scale = F32(in_size - 1) / F32(out_size - 1)
    else:
        scale = F32(in_size) / F32(out_size)
    offset = F32(0.5) if half else F32(0)
    v = (np.arange(out_size, dtype=F32) + offset) * scale
    if align:
        fl = np.floor(v)
        idx = (fl + ((v - fl) >= F32(0.5))).astype(np.int64)
    else:
        idx = np.floor(v).astype(np.int64)
    idx = np.minimum(idx, in_size - 1)
    if half:
        idx = np.maximum(idx, 0)
    return idx


@kernel("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(ctx: OpContext) -> Callable:
    o = ctx.options
    align = bool(getattr(o, "align_corners", False))
    half = bool(getattr(o, "half_pixel_centers", False))
    where = f"RESIZE_NEAREST_NEIGHBOR '{ctx.outputs[0].name}'"
    axes: dict[tuple, np.ndarray] = {}

    def axis(in_size: int, out_size: int) -> np.ndarray:
        a = axes.get((in_size, out_size))
        if a is None:
            a = axes[(in_size, out_size)] = _nearest_axis(in_size, out_size, align, half)
        return a

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        oh, ow = _size(inputs, where)
        _, h, w, _ = x.shape
        iy, ix = axis(h, oh), axis(w, ow)
        return [np.take(np.take(x, iy, axis=1), ix, axis=2)]

    return run
