"""Reductions and scans: MEAN, SUM, REDUCE_MAX/MIN/PROD/ANY/ALL, ARG_MAX, ARG_MIN, TOPK_V2,
CUMSUM.

The axis input is normally a constant, resolved once (negative axes, duplicates); otherwise it
is read on every run. Quantized MEAN/SUM/REDUCE_PROD follow LiteRT's reference kernels
(reference_ops::QuantizedMeanOrSum / QuantizedReduceProd); quantized REDUCE_MAX/MIN work on
the raw integers (TFLite requires the output to share the input's scale and zero point)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from one_core.ir import DType

from .base import KernelFn, OpContext, kernel
from .elementwise import I64, int_range, mbqm, mbqm64, qparams, unsupported
from .quant import is_quantized, quantize_multiplier


def _resolve_axes(axis: np.ndarray | None, ndim: int) -> tuple[int, ...]:
    if ndim == 0 or axis is None:
        return ()
    out: list[int] = []
    for a in np.asarray(axis).reshape(-1).tolist():
        a = int(a)
        if a < 0:
            a += ndim
        if not 0 <= a < ndim:
            raise ValueError(f"reduction axis {a} out of range for rank {ndim}")
        if a not in out:
            out.append(a)
    return tuple(out)


def _axes_getter(ctx: OpContext) -> Callable[[Sequence[np.ndarray | None], int], tuple[int, ...]]:
    const = ctx.constant(1)
    if const is not None:
        cache: dict[int, tuple[int, ...]] = {}

        def get_const(inputs: Sequence[np.ndarray | None], ndim: int) -> tuple[int, ...]:
            found = cache.get(ndim)
            if found is None:
                found = cache[ndim] = _resolve_axes(const, ndim)
            return found

        return get_const

    def get(inputs: Sequence[np.ndarray | None], ndim: int) -> tuple[int, ...]:
        return _resolve_axes(inputs[1], ndim)

    return get


def _keep(ctx: OpContext) -> bool:
    return bool(getattr(ctx.options, "keep_dims", False))


def _reduced_count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _simple(ctx: OpContext, reducer: Callable[..., np.ndarray]) -> KernelFn:
    axes_of = _axes_getter(ctx)
    keep = _keep(ctx)
    out_dtype = np.dtype(ctx.outputs[0].dtype.numpy)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        axes = axes_of(inputs, x.ndim)
        return [np.asarray(reducer(x, axis=axes, keepdims=keep)).astype(out_dtype, copy=False)]

    return run


# --------------------------------------------------------------------------------------------
# MEAN, SUM
# --------------------------------------------------------------------------------------------


def _quantized_mean(ctx: OpContext) -> KernelFn:
    """reference_ops::QuantizedMeanOrSum for MEAN: int32 sums, then one multiplier for
    input_scale / output_scale with 1/count folded in. (LiteRT's default kernel computes the
    mean in float instead, and uses a dedicated kernel for int8 means over height and width of
    4-D tensors; both can differ from the reference by one step.)"""
    t, out = ctx.inputs[0], ctx.outputs[0]
    si, zi = qparams(t)
    so, zo = qparams(out)
    base_m, base_sh = quantize_multiplier(si / so)
    out_dtype = np.dtype(out.dtype.numpy)
    lo, hi = int_range(out_dtype)
    axes_of = _axes_getter(ctx)
    keep = _keep(ctx)
    params: dict[int, tuple[int, int]] = {}

    def multiplier_for(n: int) -> tuple[int, int]:
        found = params.get(n)
        if found is None:
            shift = min(int(n).bit_length() - 1, 32, 31 + base_sh)
            m = (base_m << shift) // n
            sh = base_sh - shift
            found = params[n] = (m, sh)
        return found

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        axes = axes_of(inputs, x.ndim)
        n = _reduced_count(x.shape, axes)
        s = np.sum(x, axis=axes, keepdims=keep, dtype=I64)
        if n == 0:
            return [np.zeros(s.shape, out_dtype)]
        m, sh = multiplier_for(n)
        shifted = s - zi * n
        shifted = ((shifted + 2**31) & 0xFFFFFFFF) - 2**31  # the int32 accumulator
        r = np.clip(mbqm(shifted, m, sh) + zo, lo, hi)
        return [np.asarray(r).astype(out_dtype)]

    return run


@kernel("MEAN")
def mean(ctx: OpContext) -> KernelFn:
    t = ctx.inputs[0]
    if t.dtype == DType.FLOAT32:
        return _simple(ctx, np.mean)
    if is_quantized(t) and t.dtype in (DType.INT8, DType.UINT8, DType.INT16):
        return _quantized_mean(ctx)
    if t.dtype in (DType.INT32, DType.INT64):
        axes_of = _axes_getter(ctx)
        keep = _keep(ctx)
        out_dtype = np.dtype(ctx.outputs[0].dtype.numpy)

        def run_int(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = np.asarray(inputs[0])
            axes = axes_of(inputs, x.ndim)
            n = max(_reduced_count(x.shape, axes), 1)
            s = np.sum(x, axis=axes, keepdims=keep, dtype=I64)
            q = np.abs(s) // n * np.sign(s)  # C division truncates toward zero
            return [np.asarray(q).astype(out_dtype)]

        return run_int
    raise unsupported(ctx)


def _quantized_sum(ctx: OpContext) -> KernelFn:
    """Quantized SUM as LiteRT's default kernel computes it (optimized_ops::QuantizedMeanOrSum:
    round(sum * (input_scale / output_scale) + bias) in float32).

    Not the reference kernel: in ai-edge-litert 2.3.0 the reference SUM for int8 and int16 runs
    the uint8 code on the int8/int16 data, so every result that is negative or above 255 comes
    out as -1 or wrapped (e.g. a sum worth +190 quantized reads back as -66). Its uint8 path
    and the default kernels agree with this formula."""
    t, out = ctx.inputs[0], ctx.outputs[0]
    si, zi = qparams(t)
    so, zo = qparams(out)
    scale = np.float32(np.float32(si) / np.float32(so))
    out_dtype = np.dtype(out.dtype.numpy)
    lo, hi = int_range(out_dtype)
    axes_of = _axes_getter(ctx)
    keep = _keep(ctx)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        axes = axes_of(inputs, x.ndim)
        n = _reduced_count(x.shape, axes)
        s = np.sum(x, axis=axes, keepdims=keep, dtype=np.int32)
        bias = np.float32(np.float32(np.float32(-zi) * scale) * np.float32(n))
        v = s.astype(np.float32) * scale + bias
        r = np.copysign(np.floor(np.abs(v.astype(np.float64)) + 0.5), v) + zo
        return [np.clip(r, lo, hi).astype(out_dtype)]

    return run


@kernel("SUM")
def sum_(ctx: OpContext) -> KernelFn:
    t = ctx.inputs[0]
    if is_quantized(t) and t.dtype in (DType.INT8, DType.UINT8, DType.INT16):
        return _quantized_sum(ctx)
    dtype = np.dtype(t.dtype.numpy)
    return _simple(ctx, lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims, dtype=dtype))


# --------------------------------------------------------------------------------------------
# REDUCE_MAX, REDUCE_MIN, REDUCE_ANY, REDUCE_ALL, REDUCE_PROD
# --------------------------------------------------------------------------------------------


def _extreme(ufunc, init_of: Callable[[np.dtype], object]) -> Callable[[OpContext], KernelFn]:
    def factory(ctx: OpContext) -> KernelFn:
        dtype = np.dtype(ctx.inputs[0].dtype.numpy)
        init = init_of(dtype)
        return _simple(ctx, lambda x, axis, keepdims: ufunc.reduce(x, axis=axis, keepdims=keepdims, initial=init))

    return factory


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


kernel("REDUCE_MAX")(_extreme(np.maximum, _lowest))
kernel("REDUCE_MIN")(_extreme(np.minimum, _highest))


@kernel("REDUCE_ANY")
def reduce_any(ctx: OpContext) -> KernelFn:
    return _simple(ctx, np.any)


@kernel("REDUCE_ALL")
def reduce_all(ctx: OpContext) -> KernelFn:
    return _simple(ctx, np.all)


def _move_reduced_last(x: np.ndarray, axes: tuple[int, ...], keep: bool) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as (outputs, reduced elements in TFLite's iteration order) and the output shape."""
    kept = [i for i in range(x.ndim) if i not in axes]
    red = sorted(axes)
    y = np.transpose(x, kept + red).reshape(-1, _reduced_count(x.shape, tuple(red)) if red else 1)
    if keep:
        shape = tuple(1 if i in axes else x.shape[i] for i in range(x.ndim))
    else:
        shape = tuple(x.shape[i] for i in kept)
    return y, shape


@kernel("REDUCE_PROD")
def reduce_prod(ctx: OpContext) -> KernelFn:
    t, out = ctx.inputs[0], ctx.outputs[0]
    if not (is_quantized(t) and t.dtype in (DType.INT8, DType.INT16)):
        dtype = np.dtype(t.dtype.numpy)
        return _simple(ctx, lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims, dtype=dtype))
    # reference_ops::QuantizedReduceProd: each product step is rescaled by
    # input_scale / output_scale**(1/n) (int64 MultiplyByQuantizedMultiplier).
    si, zi = qparams(t)
    so, zo = qparams(out)
    out_dtype = np.dtype(out.dtype.numpy)
    lo, hi = int_range(out_dtype)
    axes_of = _axes_getter(ctx)
    keep = _keep(ctx)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        axes = axes_of(inputs, x.ndim)
        y, shape = _move_reduced_last(x, axes, keep)
        n = y.shape[1]
        if y.size == 0:
            return [np.zeros(shape, out_dtype)]
        m, sh = quantize_multiplier(si / (so ** (1.0 / n)))
        v = y.astype(I64) - zi
        acc = v[:, 0].copy()
        for k in range(1, n):
            acc = mbqm64(acc * v[:, k], m, sh)
        r = np.clip(mbqm64(acc, m, sh) + zo, lo, hi)
        return [r.astype(out_dtype).reshape(shape)]

    return run


# --------------------------------------------------------------------------------------------
# ARG_MAX, ARG_MIN, TOPK_V2, CUMSUM
# --------------------------------------------------------------------------------------------


def _arg(fn) -> Callable[[OpContext], KernelFn]:
    def factory(ctx: OpContext) -> KernelFn:
        out_dtype = np.dtype(ctx.outputs[0].dtype.numpy)
        const = ctx.constant(1)

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = np.asarray(inputs[0])
            a = int(np.asarray(const if const is not None else inputs[1]).reshape(-1)[0])
            if a < 0:
                a += x.ndim
            # numpy returns the first index of the extreme value, as TFLite does.
            return [fn(x, axis=a).astype(out_dtype)]

        return run

    return factory


kernel("ARG_MAX")(_arg(np.argmax))
kernel("ARG_MIN")(_arg(np.argmin))


@kernel("TOPK_V2")
def topk_v2(ctx: OpContext) -> KernelFn:
    const = ctx.constant(1)
    index_dtype = np.dtype(ctx.outputs[1].dtype.numpy) if len(ctx.outputs) > 1 else np.dtype(np.int32)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        k = int(np.asarray(const if const is not None else inputs[1]).reshape(-1)[0])
        n = x.shape[-1]
        # Descending values, ties by ascending index: a stable ascending sort of the reversed
        # row, read backwards.
        order = np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        idx = (n - 1) - order
        return [np.take_along_axis(x, idx, axis=-1), idx.astype(index_dtype)]

    return run


@kernel("CUMSUM")
def cumsum(ctx: OpContext) -> KernelFn:
    exclusive = bool(getattr(ctx.options, "exclusive", False))
    reverse = bool(getattr(ctx.options, "reverse", False))
    const = ctx.constant(1)
    dtype = np.dtype(ctx.inputs[0].dtype.numpy)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        a = int(np.asarray(const if const is not None else inputs[1]).reshape(-1)[0])
        if a < 0:
            a += x.ndim
        if reverse:
            x = np.flip(x, axis=a)
        r = np.cumsum(x, axis=a, dtype=dtype)
        if exclusive:
            shifted = np.zeros_like(r)
            dst = [slice(None)] * r.ndim
            src = [slice(None)] * r.ndim
            dst[a] = slice(1, None)
            src[a] = slice(None, -1)
            shifted[tuple(dst)] = r[tuple(src)]
            r = shifted
        if reverse:
            r = np.flip(r, axis=a)
        return [np.ascontiguousarray(r)]

    return run
