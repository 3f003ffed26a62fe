"""Convolutions on channels-last tensors: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, CONV_3D,
CONV_3D_TRANSPOSE.

How they are computed (the factory re-lays out the weights once; a run does no Python loop over
pixels):

- CONV_2D and CONV_3D are one matrix product (BLAS). A 1x1 kernel multiplies the input itself;
  other kernels copy a strided window view of the input (placed in a padded scratch buffer
  whose border keeps the padding value) into an im2col matrix, reused between runs, and
  multiply it by the weights laid out as [taps * in_channels, out_channels].
- DEPTHWISE_CONV_2D is one multiply and one add per filter tap over the output rows the tap
  reaches, in blocks of rows; each tap's weights are repeated along the output columns so
  numpy's inner loops run over columns * channels. Strided taps read phase planes of the input.
- TRANSPOSE_CONV multiplies the input by the weights laid out as [in_channels, taps *
  out_channels] and adds each tap's slice into the output at its stride (col2im); so does
  CONV_3D_TRANSPOSE, and TRANSPOSE_CONV with weights computed at run time (float only).

Integer models run the same float code on integer-valued arrays and stay exact: every product
and partial sum is an integer below 2**24 (float32) or 2**53 (float64); which one is chosen
once from the weights (`exact_float`). The int64 accumulators are then rescaled with TFLite's
fixed-point steps (`Requantizer`): per-channel multipliers, the 64-bit-accumulator variant of
MultiplyByQuantizedMultiplier for 16-bit activations, the output zero point, the activation
clamp. Results equal LiteRT's reference kernels (its default XNNPACK kernels differ by one in
a few elements of int8 outputs). With numba, a quantized DEPTHWISE_CONV_2D skips the float
copy: one compiled loop sums the integer input in int32 (int64 when a sum could overflow) and
rescales each output pixel with the same parameters (`accel.depthwise_q`). Float inputs with
int8 weights (dynamic-range quantization) run TFLite's hybrid kernels (`Hybrid`).

The helpers here (windows and padding, requantization, scratch buffers, row blocks) are shared
with the dense, pooling and resize kernels."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType, Tensor
from one_core.ir.options import Padding

from . import accel
from .base import OpContext, apply_activation, kernel
from .quant import (
    dtype_range,
    is_quantized,
    quantize_multipliers,
    scale_and_zero_point,
    tensor_activation_range,
)

# --------------------------------------------------------------------------------------------
# Windows: output size, TFLite's padding, and the output range each filter tap reaches.


def out_size_and_pad(padding: int, size: int, filt: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite's ComputeOutSize and ComputePaddingWithOffset: (output size, padding before)."""
    eff = (filt - 1) * dilation + 1
    if padding == Padding.SAME:
        out = (size + stride - 1) // stride
    else:
        num = size + stride - eff
        out = num // stride if num >= 0 else -((-num) // stride)  # C division
    total = max((out - 1) * stride + eff - size, 0)
    return max(out, 0), total // 2


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass(frozen=True)
class Tap:
    """One filter offset along one axis: outputs [o0, o1) read inputs i0, i0 + stride, ..."""

    k: int
    o0: int
    o1: int
    i0: int
    stride: int

    def out(self, lo: int = 0, hi: int | None = None) -> slice:
        a = max(self.o0, lo)
        b = self.o1 if hi is None else min(self.o1, hi)
        return slice(a, max(a, b))

    def inp(self, lo: int = 0, hi: int | None = None) -> slice:
        a = max(self.o0, lo)
        b = self.o1 if hi is None else min(self.o1, hi)
        n = max(b - a, 0)
        start = self.i0 + (a - self.o0) * self.stride
        return slice(start, start + (n - 1) * self.stride + 1 if n else start, self.stride)


class Axis:
    """A sliding window along one spatial axis."""

    def __init__(self, size: int, filt: int, stride: int, dilation: int, padding: int) -> None:
        self.size, self.filt, self.stride, self.dilation = size, filt, stride, dilation
        self.out, self.pad = out_size_and_pad(padding, size, filt, stride, dilation)
        taps = []
        for k in range(filt):
            off = k * dilation - self.pad  # input index of output 0 for this tap
            o0 = max(0, _ceil_div(-off, stride))
            o1 = min(self.out, (size - 1 - off) // stride + 1)
            if o1 > o0:
                taps.append(Tap(k, o0, o1, o0 * stride + off, stride))
        self.taps = taps
        #: True when every tap reaches every output (no padding is read).
        self.full = len(taps) == filt and all(t.o0 == 0 and t.o1 == self.out for t in taps)

    def counts(self) -> np.ndarray:
        """How many taps reach each output (pooling divides by this)."""
        c = np.zeros(self.out, np.int64)
        for t in self.taps:
            c[t.o0 : t.o1] += 1
        return c


# --------------------------------------------------------------------------------------------
# Quantization helpers.


def real_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float, float_product: bool) -> np.ndarray:
    """input_scale * weight_scale / output_scale as TFLite computes it: per-channel (and conv)
    multipliers multiply in double; per-tensor ones (GetQuantizedConvolutionMultipler: uint8
    convolutions, per-tensor FULLY_CONNECTED, BATCH_MATMUL) multiply the float32 scales in
    float32 first."""
    ws = np.asarray(w_scales, np.float32).ravel()
    if float_product:
        prod = (np.float32(in_scale) * ws).astype(np.float64)
    else:
        prod = np.float64(np.float32(in_scale)) * ws.astype(np.float64)
    return prod / np.float64(np.float32(out_scale))


class Requantizer:
    """int64 accumulators to output integers: TFLite's MultiplyByQuantizedMultiplier (per
    channel along the last axis when several multipliers are given), plus the output zero
    point, clamped to [lo, hi].

    `wide` selects the 64-bit-accumulator variant TFLite uses for 16-bit activations (a 16-bit
    multiplier and a single rounding); `single_rounding` the full 31-bit multiplier with a single
    rounding (LiteRT's uint8 FULLY_CONNECTED); otherwise the 32-bit one (a rounding doubling high
    multiply, then a rounding right shift). The work runs in cache-sized blocks (on several
    threads for large tensors), with per-channel parameters repeated along a row of several
    channel groups so numpy's inner loops stay long."""

    def __init__(self, reals: np.ndarray, zero_point: int, lo: int, hi: int, dtype: Any, wide: bool = False,
                 single_rounding: bool = False) -> None:
        mant, shift = quantize_multipliers(np.asarray(reals, np.float64))
        per_channel = mant.size > 1 and not (np.all(mant == mant[0]) and np.all(shift == shift[0]))
        self.channels = int(mant.size) if per_channel else 1
        self.wide = wide
        self.zero_point, self.lo, self.hi = int(zero_point), int(lo), int(hi)
        self.dtype = np.dtype(dtype)
        self.add_zero_point = bool(self.zero_point)
        if single_rounding:  # (x * m + 2**(30 - shift)) >> (31 - shift): one rounding, half up
            params = {"mant": mant, "add": np.left_shift(np.int64(1), 30 - shift), "shift": 31 - shift}
        elif wide:
            rm = np.where(mant < 0x7FFF0000, (mant + (1 << 15)) >> 16, 0x7FFF)
            ts = 15 - shift
            params = {"rm": rm, "ts": ts, "rnd": np.left_shift(np.int64(1), ts - 1)}
        else:
            # TFLite: h = (x * m + 2**30) >> 31, then (h + half - (h < 0)) >> right. Both shifts
            # fold into one: (x * m + 2**30 + (half - (x < 0)) * 2**31) >> (31 + right); h < 0
            # and x < 0 differ only where h == 0, which gives 0 either way. The zero point
            # joins the sum too (times 2**(31 + right)) when that cannot overflow int64.
            left = np.maximum(shift, 0)
            right = np.maximum(-shift, 0)
            half = np.left_shift(np.int64(1), right) >> 1
            add = (1 << 30) + half * (1 << 31)
            zp_limit = np.left_shift(np.int64(1), np.maximum(29 - right, 0))
            if self.zero_point and np.all(right <= 29) and np.all(abs(self.zero_point) <= zp_limit):
                add = add + np.left_shift(np.int64(self.zero_point), 31 + right)
                self.add_zero_point = False
            params = {"mant": mant, "add": add, "shift": 31 + right}
            if np.any(left):
                params["left"] = left
            if np.any(right):  # (x >> 63) & negw is -2**31 for x < 0 (0 where right == 0)
                params["negw"] = np.where(right > 0, np.int64(-(1 << 31)), np.int64(0))
        #: whether the compiled rescale needs the first rounding's terms (left, negw)
        self.two_roundings = "left" in params or "negw" in params
        self._compiled: tuple[np.ndarray, ...] | None = None
        if per_channel:
            self.params = {k: np.asarray(v, np.int64) for k, v in params.items()}
        else:
            self.params = {k: int(np.asarray(v).ravel()[0]) for k, v in params.items()}
        self._local = threading.local()
        self.width = 4096 if self.channels == 1 else self.channels * max(1, 1024 // self.channels)
        reps = self.width // self.channels
        self.tiled = self.params if self.channels == 1 else {k: np.tile(v, reps) for k, v in self.params.items()}

    def _temp(self, shape: tuple[int, ...]) -> np.ndarray:
        local = self._local
        buf = getattr(local, "buf", None)
        size = int(np.prod(shape))
        if buf is None or buf.size < size:
            buf = local.buf = np.empty(max(size, 1), np.int64)
        return buf[:size].reshape(shape)

    def _apply(self, a: np.ndarray, o: np.ndarray, p: dict) -> None:
        if self.wide:
            np.multiply(a, p["rm"], out=a)
            np.add(a, p["rnd"], out=a)
            np.right_shift(a, p["ts"], out=a)
        else:
            if "left" in p:
                np.left_shift(a, p["left"], out=a)
            t = None
            if "negw" in p:
                t = self._temp(a.shape)
                np.right_shift(a, 63, out=t)
                np.bitwise_and(t, p["negw"], out=t)
            np.multiply(a, p["mant"], out=a)
            np.add(a, p["add"], out=a)
            if t is not None:
                np.add(a, t, out=a)
            np.right_shift(a, p["shift"], out=a)
        if self.add_zero_point:
            np.add(a, self.zero_point, out=a)
        np.clip(a, self.lo, self.hi, out=a)
        np.copyto(o, a, casting="unsafe")

    def from_sums(self, sums: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """Exact integer sums held in any dtype (float32/64 from the matrix products), plus
        `bias` (int64 per channel), rescaled into the output type: one compiled pass when numba
        is there, else through int64 numpy."""
        if not accel.ENABLED:
            acc = np.empty(sums.shape, np.int64)
            np.copyto(acc, sums, casting="unsafe")
            if bias is not None:
                np.add(acc, bias, out=acc)
            return self(acc)
        c = sums.shape[-1]
        sums2 = np.ascontiguousarray(sums).reshape(-1, c)
        out = np.empty(sums.shape, self.dtype)
        out2 = out.reshape(-1, c)
        b = np.zeros(c, np.int64) if bias is None else np.ascontiguousarray(np.broadcast_to(bias, (c,)), np.int64)
        params, zp = self.compiled(c)
        two = self.two_roundings

        def rows(a: int, e: int) -> None:
            accel.requantize(sums2[a:e], b, params, two, zp, self.lo, self.hi, out2[a:e])

        run_rows(sums2.shape[0], sums2.size * 4, rows, block_rows(c, 65536))
        return out

    def compiled(self, channels: int) -> tuple[tuple[np.ndarray, ...], int]:
        """What the compiled rescale (`accel.requantize`, `accel.depthwise_q`) takes besides lo
        and hi: the five int64 [channels] parameter arrays (left, negw, mant, add, shift; the
        single-rounding forms have left = negw = 0), cached per width, and the zero point
        still to add. `accel.depthwise_q` always runs the general form; `accel.requantize`
        skips left and negw when they are all 0 (`two_roundings`)."""
        cached = self._compiled
        if cached is None or cached[0].size != channels:
            p = self.params

            def col(key: str) -> np.ndarray:
                return np.ascontiguousarray(np.broadcast_to(np.asarray(p.get(key, 0), np.int64), (channels,)))

            if self.wide:
                cached = (col("left"), col("negw"), col("rm"), col("rnd"), col("ts"))
            else:
                cached = (col("left"), col("negw"), col("mant"), col("add"), col("shift"))
            self._compiled = cached
        return cached, (self.zero_point if self.add_zero_point else 0)

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        """`acc` (int64, overwritten) rescaled into the output type."""
        acc = np.ascontiguousarray(acc)
        out = np.empty(acc.shape, self.dtype)
        flat, oflat = acc.reshape(-1), out.reshape(-1)
        n, width = flat.size, self.width
        main = n - n % width
        if main:
            a2, o2 = flat[:main].reshape(-1, width), oflat[:main].reshape(-1, width)
            run_rows(a2.shape[0], n * 8, lambda s, e: self._apply(a2[s:e], o2[s:e], self.tiled), block_rows(width, 262144))
        if main < n:
            c = self.channels
            self._apply(flat[main:].reshape(-1, c), oflat[main:].reshape(-1, c), self.params)
        return out


def qparams(t: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Scales (float32) and zero points (int64) of a quantized tensor."""
    scale, zero = scale_and_zero_point(t)
    return scale.astype(np.float32), zero


def centered_weights(w: np.ndarray, zero_points: np.ndarray, axis: int) -> np.ndarray:
    """Integer weights minus their zero point (one, or one per slice along `axis`: circle's
    asymmetric per-channel uint8 weights, which TFLite does not have), as int64."""
    wq = np.asarray(w).astype(np.int64)
    if zero_points.size > 1:
        shape = [1] * wq.ndim
        shape[axis] = -1
        return wq - zero_points.astype(np.int64).reshape(shape)
    return wq - int(zero_points[0]) if zero_points.size else wq


def int_magnitude(dtype: Any, zero_point: int = 0) -> int:
    """The largest |q - zero_point| of an integer type."""
    lo, hi = dtype_range(dtype)
    return max(abs(lo - zero_point), abs(hi - zero_point))


def exact_float(bound: float) -> type:
    """The cheapest float type that holds every partial sum exactly when the sum of absolute
    values of the terms is below `bound`."""
    return np.float32 if bound < 2**24 else np.float64


def wide_accumulator(x: Tensor, bias: Tensor | None) -> bool:
    """TFLite's 16-bit activation kernels accumulate in int64 (and use the 64-bit rescale)
    unless the bias is int32."""
    return x.dtype == DType.INT16 and (bias is None or bias.dtype != DType.INT32)


# --------------------------------------------------------------------------------------------
# Scratch buffers and threads.


def scratch(ctx: OpContext) -> Callable[..., np.ndarray]:
    """Scratch buffers shared by the operators of one prepared model, per thread.

    `get(key, shape, dtype)` returns a temporary: one flat buffer per key and dtype, grown to
    the largest size asked for, so operators that run one after the other share it (its
    contents are undefined on return). `get(key, shape, dtype, fill)` returns a buffer kept for
    that exact key, shape and fill, created filled with `fill`; a kernel must leave the cells it
    does not own at `fill` (padding borders)."""
    local = ctx.model_state.get("scratch")
    if local is None:
        local = ctx.model_state.setdefault("scratch", threading.local())

    def get(key: tuple, shape: tuple, dtype: Any, fill: Any = None) -> np.ndarray:
        buffers = local.__dict__.setdefault("buffers", {})
        dt = np.dtype(dtype)
        if fill is not None:
            full = (key, tuple(shape), dt.str, fill)
            buf = buffers.get(full)
            if buf is None:
                buf = buffers[full] = np.full(shape, fill, dt)
            return buf
        n = int(np.prod(shape))
        arena = buffers.get((key, dt.str))
        if arena is None or arena.size < n:
            arena = buffers[(key, dt.str)] = np.empty(max(n, 1), dt)
        return arena[:n].reshape(shape)

    return get


def _workers() -> int:
    """Threads for numpy-level work (depthwise taps, im2col copies, requantization). One by
    default: measured in whole models on a 2-core VM, waking helper threads between operators
    costs more than they save (MobileNetV2 14.5 ms with one, 17.2 ms with two), although an
    operator run in a tight loop is up to 1.7x faster with two. BLAS keeps its own threads.
    ONE_RUNTIME_KERNEL_THREADS overrides."""
    value = os.environ.get("ONE_RUNTIME_KERNEL_THREADS", "1")
    try:
        n = int(value)
    except ValueError:
        n = 1
    if n <= 0:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            n = os.cpu_count() or 1
    return max(1, min(n, 8))


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
WORKERS = _workers()


class _Job:
    """Blocks of rows shared by the calling thread and the pool's threads: each takes the next
    block until none is left, so a thread the OS does not schedule in time costs nothing (the
    others do its share)."""

    def __init__(self, blocks: list[tuple[int, int]], fn: Callable[[int, int], None]) -> None:
        self.blocks, self.fn = blocks, fn
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        while True:
            with self.lock:
                i = self.next
                self.next += 1
            if i >= len(self.blocks):
                return
            try:
                if self.error is None:
                    self.fn(*self.blocks[i])
            except BaseException as e:  # noqa: BLE001 - re-raised by the caller
                self.error = e
            with self.lock:
                self.done += 1
                if self.done == len(self.blocks):
                    self.finished.set()


def run_rows(rows: int, work: int, fn: Callable[[int, int], None], block: int = 1) -> None:
    """Calls fn(a, b) over [0, rows) in blocks of about `block` rows, on several threads when
    the work (elements touched) is large enough to pay for them. numpy releases the GIL
    inside its loops, so blocks run in parallel."""
    global _POOL
    block = max(1, block)
    if WORKERS == 1 or work < 200_000 or rows < 2:
        for a in range(0, rows, block):
            fn(a, min(rows, a + block))
        return
    # at least two blocks per thread, so a late thread still finds work to share
    step = max(1, min(block, _ceil_div(rows, 2 * WORKERS)))
    blocks = [(a, min(rows, a + step)) for a in range(0, rows, step)]
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="one-runtime")
    job = _Job(blocks, fn)
    for _ in range(min(WORKERS - 1, len(blocks) - 1)):
        _POOL.submit(job.work)
    job.work()
    job.finished.wait()
    if job.error is not None:
        raise job.error


def block_rows(row_elements: int, target: int = 16384) -> int:
    """Rows per cache block: about `target` elements."""
    return max(1, target // max(row_elements, 1))


# --------------------------------------------------------------------------------------------
# im2col.


class Im2col:
    """The im2col matrix of an N-D window over a channels-last input: [N * outputs, taps * C].

    The input is copied into a padded scratch buffer (whose border keeps the padding value)
    when the window reads padding; the matrix is then one copy of a strided view of it."""

    def __init__(self, shape: tuple[int, ...], kernel_size: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], padding: int) -> None:
        self.shape = shape
        spatial = shape[1:-1]
        self.axes = [Axis(s, k, st, d, padding) for s, k, st, d in zip(spatial, kernel_size, strides, dilations)]
        self.out = tuple(a.out for a in self.axes)
        self.kernel_size = tuple(kernel_size)
        self.taps = int(np.prod(self.kernel_size))
        self.pointwise = self.taps == 1 and all(a.stride == 1 and a.out == a.size for a in self.axes)
        self.rows = shape[0] * int(np.prod(self.out))
        self.pads = [(a.pad, max(0, (a.out - 1) * a.stride + (a.filt - 1) * a.dilation + 1 - a.size - a.pad))
                     for a in self.axes]
        self.needs_pad = any(lo or hi for lo, hi in self.pads)
        self.padded_shape = (shape[0], *(a.size + lo + hi for a, (lo, hi) in zip(self.axes, self.pads)), shape[-1])
        self.interior = (slice(None), *(slice(lo, lo + a.size) for a, (lo, _) in zip(self.axes, self.pads)), slice(None))

    def matrix(self, x: np.ndarray, dtype: Any, fill: float, get: Callable) -> np.ndarray:
        """x's im2col matrix in `dtype` (cells outside the input hold `fill`)."""
        n, c = self.shape[0], self.shape[-1]
        if self.pointwise:
            if x.dtype == dtype:
                return x.reshape(-1, c)
            buf = get(("cols",), (self.rows, c), dtype)
            np.copyto(buf, x.reshape(-1, c), casting="unsafe")
            return buf
        if self.needs_pad:
            src = get(("im2col-pad", self.padded_shape, tuple(self.pads)), self.padded_shape, x.dtype,
                      fill if np.issubdtype(x.dtype, np.floating) else int(fill))
            np.copyto(src[self.interior], x)
        else:
            src = x
        st = src.strides
        view = np.lib.stride_tricks.as_strided(
            src,
            (n, *self.out, *self.kernel_size, c),
            (st[0], *(st[i + 1] * a.stride for i, a in enumerate(self.axes)),
             *(st[i + 1] * a.dilation for i, a in enumerate(self.axes)), st[-1]),
            writeable=False,
        )
        buf = get(("cols",), (n, *self.out, *self.kernel_size, c), dtype)

        def copy(a: int, b: int) -> None:
            np.copyto(buf[:, a:b], view[:, a:b], casting="unsafe")

        if self.out and n == 1:
            run_rows(self.out[0], buf.size, copy, block_rows(buf[0, 0].size, 65536))
        else:
            copy(0, self.out[0] if self.out else 1)
        return buf.reshape(self.rows, self.taps * c)


def _cached(fn: Callable[[tuple], Any]) -> Callable[[tuple], Any]:
    cache: dict[tuple, Any] = {}

    def get(shape: tuple) -> Any:
        found = cache.get(shape)
        if found is None:
            if len(cache) > 16:
                cache.clear()
            found = cache[shape] = fn(shape)
        return found

    return get


# --------------------------------------------------------------------------------------------
# CONV_2D and CONV_3D.


def _option(o: Any, name: str, default: int = 1) -> int:
    v = getattr(o, name, default)
    return int(v) if v else default


def _bias(ctx: OpContext, index: int) -> tuple[Tensor | None, np.ndarray | None]:
    t = ctx.op.input(index) if len(ctx.inputs) > index else None
    return t, (None if t is None else ctx.constant(index))


def _conv_nd(ctx: OpContext, nd: int) -> Callable:
    o = ctx.options
    x_t, w_t = ctx.inputs[0], ctx.inputs[1]
    b_t, bias = _bias(ctx, 2)
    y_t = ctx.outputs[0]
    act = int(o.fused_activation_function)
    if nd == 2:
        strides = (_option(o, "stride_h"), _option(o, "stride_w"))
        dilations = (_option(o, "dilation_h_factor"), _option(o, "dilation_w_factor"))
    else:
        strides = (_option(o, "stride_d"), _option(o, "stride_h"), _option(o, "stride_w"))
        dilations = (_option(o, "dilation_d_factor"), _option(o, "dilation_h_factor"), _option(o, "dilation_w_factor"))
    padding = int(o.padding)
    w = ctx.constant(1)
    where = f"{ctx.op.name} '{y_t.name}'"
    if b_t is not None and bias is None and not x_t.dtype == w_t.dtype == DType.FLOAT32:
        raise OneError(f"{where}: the bias must be a constant (but in float convolutions)")

    def layout(weights: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], int, int]:
        """weights as [taps * in, out], the kernel size, in and out channels."""
        if nd == 2:  # OHWI
            cout, kh, kw, cin = weights.shape
            return weights.transpose(1, 2, 3, 0).reshape(kh * kw * cin, cout), (kh, kw), cin, cout
        kd, kh, kw, cin, cout = weights.shape  # DHWIO
        return weights.reshape(kd * kh * kw * cin, cout), (kd, kh, kw), cin, cout

    get = scratch(ctx)
    plan = _cached(lambda shape: Im2col(shape, ksize, strides, dilations, padding))

    if w is None:  # weights computed at run time: float only
        if x_t.dtype != DType.FLOAT32:
            raise OneError(f"{where}: quantized convolution needs constant weights")

        def run_dynamic(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[0]
            wmat, ks, cin, cout = layout(np.asarray(inputs[1], np.float32))
            groups = x.shape[-1] // cin if cin and x.shape[-1] % cin == 0 else 1
            wmat = _grouped(np.ascontiguousarray(wmat), ks, cin, cout, groups)
            p = Im2col(x.shape, ks, strides, dilations, padding)
            return [_float_conv(p, x, wmat, cin, cout, inputs[2] if len(inputs) > 2 else None, act, get, groups)]

        return run_dynamic

    wmat_any, ksize, cin, cout = layout(np.asarray(w))
    in_channels = x_t.shape[-1] if x_t.shape else cin
    groups = in_channels // cin if cin and in_channels and in_channels % cin == 0 else 1

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.FLOAT32:
        wmat = _grouped(np.ascontiguousarray(wmat_any, np.float32), ksize, cin, cout, groups)
        b = None if bias is None else np.asarray(bias, np.float32)

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[0]
            b_now = b if b is not None or b_t is None else inputs[2]  # a bias computed at run time
            return [_float_conv(plan(x.shape), x, wmat, cin, cout, b_now, act, get, groups)]

        return run

    if x_t.dtype == DType.FLOAT32 and w_t.dtype in (DType.INT8,) and is_quantized(w_t) and nd == 2:
        return _hybrid_conv(ctx, plan, np.asarray(w), bias, act, groups, get)

    if not (is_quantized(x_t) and is_quantized(y_t) and is_quantized(w_t)) or nd != 2:
        raise OneError(f"{where}: unsupported types {x_t.dtype.name} x {w_t.dtype.name} -> {y_t.dtype.name}")
    return _quantized_conv(ctx, plan, np.asarray(w), bias, b_t, act, groups, get)


def _grouped(wmat: np.ndarray, ksize: tuple[int, ...], cin: int, cout: int, groups: int) -> np.ndarray:
    """Weights of a grouped convolution as [groups, taps * cin, cout / groups]."""
    if groups == 1:
        return wmat
    taps = int(np.prod(ksize))
    per = cout // groups
    w = wmat.reshape(taps, cin, groups, per).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(w.reshape(groups, taps * cin, per))


def _group_matmul(cols: np.ndarray, wmat: np.ndarray, taps: int, groups: int, out2d: np.ndarray) -> None:
    """out[:, g*per:(g+1)*per] = cols restricted to group g's input channels @ wmat[g]."""
    rows = cols.shape[0]
    cin_total = cols.shape[1] // taps
    cin = cin_total // groups
    c = cols.reshape(rows, taps, groups, cin)
    per = wmat.shape[2]
    for g in range(groups):
        np.matmul(c[:, :, g, :].reshape(rows, taps * cin), wmat[g], out=out2d[:, g * per : (g + 1) * per])


def _float_conv(p: Im2col, x: np.ndarray, wmat: np.ndarray, cin: int, cout: int, bias: np.ndarray | None,
                act: int, get: Callable, groups: int = 1) -> np.ndarray:
    cols = p.matrix(x, np.float32, 0.0, get)
    out = np.empty((x.shape[0], *p.out, cout), np.float32)
    out2d = out.reshape(-1, cout)
    if groups == 1:
        np.matmul(cols, wmat, out=out2d)
    else:
        _group_matmul(cols, wmat, p.taps, groups, out2d)
    if bias is not None:
        np.add(out2d, bias, out=out2d)
    return apply_activation(out, act)


def _quantized_conv(ctx: OpContext, plan: Callable, w: np.ndarray, bias: np.ndarray | None, b_t: Tensor | None,
                    act: int, groups: int, get: Callable) -> Callable:
    x_t, w_t, y_t = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    s_in, z_in = qparams(x_t)
    s_w, z_w = qparams(w_t)
    s_out, z_out = qparams(y_t)
    zi = int(z_in[0])
    cout, kh, kw, cin = w.shape
    per_channel = s_w.size > 1
    if s_w.size not in (1, cout):
        raise OneError(f"CONV_2D '{y_t.name}': {s_w.size} weight scales for {cout} output channels")
    wq = centered_weights(w, z_w, 0)
    wmat = wq.transpose(1, 2, 3, 0).reshape(kh * kw * cin, cout)
    # Sum of x * w with x in raw form; the padding holds the input zero point, and
    # zero_point * column sums of w is taken from the bias.
    colsum = wmat.sum(axis=0)
    bound_terms = np.abs(wmat).sum(axis=0).max()
    xmax = int_magnitude(x_t.dtype.numpy)
    ftype = exact_float(float(xmax) * float(bound_terms))
    wmat_f = _grouped(np.ascontiguousarray(wmat.astype(ftype)), (kh, kw), cin, cout, groups)
    b = np.zeros(cout, np.int64) if bias is None else np.asarray(bias).astype(np.int64)
    bias_eff = b - zi * colsum  # per output channel, over its own group's inputs
    uint8 = x_t.dtype == DType.UINT8
    reals = real_multipliers(s_in[0], s_w if per_channel else s_w[:1], s_out[0], float_product=uint8)
    lo, hi = tensor_activation_range(act, y_t)
    rq = Requantizer(reals, int(z_out[0]), lo, hi, y_t.dtype.numpy, wide=wide_accumulator(x_t, b_t))

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        p = plan(x.shape)
        cols = p.matrix(x, ftype, float(zi), get)
        accf = get(("accf",), (p.rows, cout), ftype)
        if groups == 1:
            np.matmul(cols, wmat_f, out=accf)
        else:
            _group_matmul(cols, wmat_f, p.taps, groups, accf)
        return [rq.from_sums(accf, bias_eff).reshape(x.shape[0], *p.out, cout)]

    return run


class Hybrid:
    """TFLite's hybrid kernels (float activations, int8 weights with scales, made by
    dynamic-range quantization): each batch of the input is quantized to int8 (TFLite's
    BatchQuantizeFloats, asymmetric for the per-channel convolution kernels, symmetric
    otherwise), the integer sums are exact, and `scale` turns them back into floats:
    float(acc) * weight_scale[c] * input_scale[b] + bias, then the fused activation."""

    def __init__(self, ctx: OpContext, w_int: np.ndarray, per_channel_axis_size: int, asymmetric: bool,
                 bias: np.ndarray | None, act: int, fold_scales: bool) -> None:
        s_w, _ = qparams(ctx.inputs[1])
        self.asymmetric = asymmetric
        self.wscale = np.broadcast_to(s_w, (per_channel_axis_size,)).astype(np.float32)
        self.per_channel = s_w.size > 1
        self.bias = None if bias is None else np.asarray(bias, np.float32)
        self.act = act
        self.fold = fold_scales
        bound = float(np.abs(w_int).sum(axis=tuple(range(w_int.ndim - 1))).max(initial=0))
        self.ftype = exact_float((255.0 if asymmetric else 127.0) * bound)

    def quantize(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(q - offset) per batch as exact floats, and the batch scales."""
        from .dense import quantize_rows

        n = x.shape[0]
        q, scales, offsets = quantize_rows(x.reshape(n, -1), self.asymmetric)
        xs = np.subtract(q.reshape(x.shape), offsets.reshape((n,) + (1,) * (x.ndim - 1)), dtype=self.ftype)
        return xs, scales

    def scale(self, acc: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """acc [N, ..., C] of exact integer sums to the float output."""
        n = acc.shape[0]
        out = acc.astype(np.float32)
        sb = scales.reshape((n,) + (1,) * (acc.ndim - 1))
        if self.fold:  # acc * (weight_scale * input_scale)
            np.multiply(out, self.wscale * sb, out=out)
        else:  # (acc * weight_scale) * input_scale
            np.multiply(out, self.wscale, out=out)
            np.multiply(out, sb, out=out)
        if self.bias is not None:
            np.add(out, self.bias, out=out)
        return apply_activation(out, self.act)


def _hybrid_conv(ctx: OpContext, plan: Callable, w: np.ndarray, bias: np.ndarray | None, act: int, groups: int,
                 get: Callable) -> Callable:
    """CONV_2D with float input and int8 weights. Per-channel weights: TFLite's
    HybridConvPerChannel (asymmetric input quantization, (acc * weight_scale) * input_scale);
    per-tensor weights: HybridConv (symmetric, acc * (input_scale * weight_scale))."""
    cout, kh, kw, cin = w.shape
    per_channel = qparams(ctx.inputs[1])[0].size > 1
    wmat = w.astype(np.int64).transpose(1, 2, 3, 0).reshape(kh * kw * cin, cout)
    h = Hybrid(ctx, wmat, cout, asymmetric=per_channel, bias=bias, act=act, fold_scales=not per_channel)
    wmat_f = _grouped(np.ascontiguousarray(wmat.astype(h.ftype)), (kh, kw), cin, cout, groups)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        xs, scales = h.quantize(x)
        p = plan(x.shape)
        cols = p.matrix(xs, h.ftype, 0.0, get)
        acc = np.empty((x.shape[0], *p.out, cout), h.ftype)
        if groups == 1:
            np.matmul(cols, wmat_f, out=acc.reshape(-1, cout))
        else:
            _group_matmul(cols, wmat_f, p.taps, groups, acc.reshape(-1, cout))
        return [h.scale(acc, scales)]

    return run


@kernel("CONV_2D")
def conv_2d(ctx: OpContext) -> Callable:
    return _conv_nd(ctx, 2)


@kernel("CONV_3D")
def conv_3d(ctx: OpContext) -> Callable:
    if ctx.inputs[0].dtype != DType.FLOAT32:
        raise OneError(f"CONV_3D '{ctx.outputs[0].name}': only float32 is supported (as in TFLite)")
    return _conv_nd(ctx, 3)


# --------------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D.


#: Elements of output per block of depthwise rows (all taps of a block run while it is in cache).
DEPTHWISE_BLOCK = 262144


class _DepthwisePlan:
    """The taps of a depthwise convolution over one input shape, with each tap's weights
    repeated along the output columns it reaches: multiplying a [rows, cols, C] window by a
    [cols, C] array runs numpy's inner loop over cols * C contiguous elements instead of C."""

    def __init__(self, shape: tuple[int, ...], w: np.ndarray, strides: tuple[int, int], dil: tuple[int, int],
                 padding: int, bias: np.ndarray | None) -> None:
        n, h, wd, _ = shape
        kh, kw, co = w.shape
        ay = Axis(h, kh, strides[0], dil[0], padding)
        ax = Axis(wd, kw, strides[1], dil[1], padding)
        self.out_shape = (n, ay.out, ax.out, co)
        ow = ax.out
        self.taps = []
        for ty in ay.taps:
            for tx in ax.taps:
                cols = tx.o1 - tx.o0
                wrow = np.ascontiguousarray(np.broadcast_to(w[ty.k, tx.k], (cols, co)))
                whole = ty.o0 == 0 and ty.o1 == ay.out and tx.o0 == 0 and tx.o1 == ow
                self.taps.append((ty, tx.out(), tx.inp(), wrow, whole))
        # A tap reaching every output starts the sum; the others add into it.
        self.taps.sort(key=lambda t: not t[4])
        self.first_whole = bool(self.taps) and self.taps[0][4]
        self.bias = None if bias is None else np.ascontiguousarray(np.broadcast_to(bias, (ow, co)))


class Depthwise:
    """Σ over filter taps of the shifted input times the tap's per-channel weights (float, in
    blocks of output rows, on several threads for large outputs), plus bias, then `finish`."""

    def __init__(self, w: np.ndarray, mult: int, strides: tuple[int, int], dil: tuple[int, int], padding: int,
                 get: Callable, bias: np.ndarray | None = None) -> None:
        self.w, self.mult, self.strides, self.dil, self.padding = w, mult, strides, dil, padding
        self.get = get
        self.bias = bias
        self.plans: dict[tuple, _DepthwisePlan] = {}

    def __call__(self, x: np.ndarray, finish: Callable[[np.ndarray], Any] | None = None,
                 scratch_out: bool = False) -> np.ndarray:
        """The sum for input x; `scratch_out` puts it in a scratch buffer (valid until the next
        call) instead of a new array."""
        if self.mult > 1:
            x = np.repeat(x, self.mult, axis=-1)
        if accel.ENABLED and x.dtype == self.w.dtype:
            return self._compiled(x, finish, scratch_out)
        p = self.plans.get(x.shape)
        if p is None:
            if len(self.plans) > 16:
                self.plans.clear()
            p = self.plans[x.shape] = _DepthwisePlan(x.shape, self.w, self.strides, self.dil, self.padding, self.bias)
        n, oh, ow, co = p.out_shape
        dtype = self.w.dtype
        acc = self.get(("dw-acc",), p.out_shape, dtype) if scratch_out else np.empty(p.out_shape, dtype)
        sh, sw = self.strides
        # Strided taps read the input through phase planes (every sh-th row from row py, every
        # sw-th column from column px), copied once, so each tap reads contiguous rows.
        phased = (sh > 1 or sw > 1) and len(p.taps) > sh * sw
        planes = {}
        if phased:
            for ty, ox, ix, wrow, _ in p.taps:
                key = (ty.i0 % sh, ix.start % sw)
                if key not in planes:
                    src = x[:, key[0] :: sh, key[1] :: sw]
                    plane = self.get(("dw-phase", key), src.shape, dtype)
                    np.copyto(plane, src)
                    planes[key] = plane

        def window(ty: Tap, ix: slice, a: int, b: int) -> np.ndarray:
            iy = ty.inp(a, b)
            if not phased:
                return x[:, iy, ix]
            plane = planes[(iy.start % sh, ix.start % sw)]
            rows = len(range(iy.start, iy.stop, sh))
            cols = len(range(ix.start, ix.stop, sw))
            return plane[:, iy.start // sh : iy.start // sh + rows, ix.start // sw : ix.start // sw + cols]

        def rows(a: int, b: int) -> None:
            block = acc[:, a:b]
            tmp = self.get(("dw-tmp",), (n * block_rows(ow * co, DEPTHWISE_BLOCK) * ow * co,), dtype)
            tmp = tmp[: n * (b - a) * ow * co].reshape(n, b - a, ow, co)
            taps = p.taps
            if p.first_whole:
                ty, ox, ix, wrow, _ = taps[0]
                np.multiply(window(ty, ix, a, b), wrow, out=block)
                taps = taps[1:]
            else:
                block.fill(0)
            for ty, ox, ix, wrow, _ in taps:
                oy = ty.out(a, b)
                if oy.stop <= oy.start:
                    continue
                t = tmp[:, oy.start - a : oy.stop - a, ox]
                np.multiply(window(ty, ix, a, b), wrow, out=t)
                target = acc[:, oy, ox]
                np.add(target, t, out=target)
            if p.bias is not None:
                np.add(block, p.bias, out=block)
            if finish is not None:
                finish(block)

        run_rows(oh, acc.size * len(p.taps), rows, block_rows(ow * co, DEPTHWISE_BLOCK))
        return acc

    def _compiled(self, x: np.ndarray, finish: Callable[[np.ndarray], Any] | None, scratch_out: bool) -> np.ndarray:
        n, h, wd, _ = x.shape
        kh, kw, co = self.w.shape
        oh, pt = out_size_and_pad(self.padding, h, kh, self.strides[0], self.dil[0])
        ow, pl = out_size_and_pad(self.padding, wd, kw, self.strides[1], self.dil[1])
        shape = (n, oh, ow, co)
        acc = self.get(("dw-acc",), shape, self.w.dtype) if scratch_out else np.empty(shape, self.w.dtype)
        bias = None if self.bias is None else np.asarray(self.bias, self.w.dtype)
        accel.depthwise(np.ascontiguousarray(x), self.w, bias, acc, self.strides, self.dil, (pt, pl))
        if finish is not None:
            finish(acc)
        return acc


@kernel("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: OpContext) -> Callable:
    o = ctx.options
    x_t, w_t, y_t = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    b_t, bias = _bias(ctx, 2)
    act = int(o.fused_activation_function)
    strides = (_option(o, "stride_h"), _option(o, "stride_w"))
    dil = (_option(o, "dilation_h_factor"), _option(o, "dilation_w_factor"))
    padding = int(o.padding)
    w = ctx.constant(1)
    where = f"DEPTHWISE_CONV_2D '{y_t.name}'"
    if w is None or (b_t is not None and bias is None):
        raise OneError(f"{where}: the weights and bias must be constants")
    _, kh, kw, co = w.shape
    cin = x_t.shape[-1] if len(x_t.shape) == 4 and x_t.shape[-1] > 0 else 0
    mult = co // cin if cin else max(int(getattr(o, "depth_multiplier", 1) or 1), 1)
    if cin and cin * mult != co:
        raise OneError(f"{where}: {co} output channels for {cin} input channels")

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.FLOAT32:
        b = None if bias is None else np.asarray(bias, np.float32)
        engine = Depthwise(np.asarray(w, np.float32).reshape(kh, kw, co), mult, strides, dil, padding, scratch(ctx), b)
        finish = None if act == 0 else (lambda block: apply_activation(block, act))

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            return [engine(inputs[0], finish)]

        return run

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.INT8 and is_quantized(w_t):
        # TFLite's DepthwiseConvHybridPerChannel: asymmetric input quantization,
        # acc * (weight_scale * input_scale)
        wi = w.astype(np.int64).reshape(kh, kw, co)
        h = Hybrid(ctx, wi, co, asymmetric=True, bias=bias, act=act, fold_scales=True)
        engine_h = Depthwise(wi.astype(h.ftype), mult, strides, dil, padding, scratch(ctx))

        def run_h(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            xs, scales = h.quantize(inputs[0])
            return [h.scale(engine_h(xs), scales)]

        return run_h

    if not (is_quantized(x_t) and is_quantized(w_t) and is_quantized(y_t)):
        raise OneError(f"{where}: unsupported types {x_t.dtype.name} x {w_t.dtype.name} -> {y_t.dtype.name}")
    s_in, z_in = qparams(x_t)
    s_w, z_w = qparams(w_t)
    s_out, z_out = qparams(y_t)
    zi = int(z_in[0])
    per_channel = s_w.size > 1
    wq = centered_weights(w, z_w, 3).reshape(kh, kw, co)
    xmax = int_magnitude(x_t.dtype.numpy, zi)
    b = np.zeros(co, np.int64) if bias is None else np.asarray(bias).astype(np.int64)
    sum_bound = float(xmax) * float(np.abs(wq).sum(axis=(0, 1)).max())  # of |Σ_taps (x - zi) * w|
    ftype = exact_float(sum_bound + float(np.abs(b).max(initial=0)))
    uint8 = x_t.dtype == DType.UINT8
    reals = real_multipliers(s_in[0], s_w if per_channel else s_w[:1], s_out[0], float_product=uint8)
    lo, hi = tensor_activation_range(act, y_t)
    rq = Requantizer(reals, int(z_out[0]), lo, hi, y_t.dtype.numpy, wide=wide_accumulator(x_t, b_t))
    get = scratch(ctx)
    # numpy: the bias joins the exact float sum
    engine_q = Depthwise(wq.astype(ftype), mult, strides, dil, padding, get, b.astype(ftype) if bias is not None else None)
    # compiled: integer sums, in int32 unless a sum could overflow it (int64 then, as TFLite's
    # 16-bit kernels do; the bias joins in int64), requantized pixel by pixel
    wi = np.ascontiguousarray(wq, np.int32 if sum_bound < 2**31 else np.int64)

    def run_compiled(x: np.ndarray) -> np.ndarray:
        if mult > 1:
            x = np.repeat(x, mult, axis=-1)
        x = np.ascontiguousarray(x)
        n, h, wd, _ = x.shape
        oh, pt = out_size_and_pad(padding, h, kh, strides[0], dil[0])
        ow, pl = out_size_and_pad(padding, wd, kw, strides[1], dil[1])
        out = np.empty((n, oh, ow, co), rq.dtype)
        params, zp = rq.compiled(co)

        def rows(a: int, e: int) -> None:
            accel.depthwise_q(x, zi, wi, b, strides, dil, (pt, pl), (a, e), params, zp, rq.lo, rq.hi, out)

        run_rows(n * oh, out.size * kh * kw, rows, block_rows(ow * co, DEPTHWISE_BLOCK))
        return out

    def run_q(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        if accel.ENABLED:
            return [run_compiled(x)]
        xf = get(("dw-in",), x.shape, ftype)
        np.subtract(x, zi, out=xf, dtype=ftype)
        return [rq.from_sums(engine_q(xf, scratch_out=True))]

    return run_q


# --------------------------------------------------------------------------------------------
# TRANSPOSE_CONV.


class _TransposePlan:
    """Where each filter tap of a transposed convolution lands in the output."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], kh: int, kw: int,
                 strides: tuple[int, int], padding: int) -> None:
        self.in_shape, self.out_shape = in_shape, out_shape
        _, h, w, _ = in_shape
        _, oh, ow, _ = out_shape
        self.ys = self._axis(h, oh, kh, strides[0], padding)
        self.xs = self._axis(w, ow, kw, strides[1], padding)

    @staticmethod
    def _axis(size: int, out: int, filt: int, stride: int, padding: int) -> list[tuple[int, slice, slice]]:
        _, pad = out_size_and_pad(padding, out, filt, stride)  # TFLite pads with the output as input
        taps = []
        for k in range(filt):
            off = k - pad  # output index of input 0
            i0 = max(0, _ceil_div(-off, stride))
            i1 = min(size, (out - 1 - off) // stride + 1)
            if i1 > i0:
                o0 = i0 * stride + off
                taps.append((k, slice(i0, i1), slice(o0, o0 + (i1 - i0 - 1) * stride + 1, stride)))
        return taps


@kernel("TRANSPOSE_CONV")
def transpose_conv(ctx: OpContext) -> Callable:
    o = ctx.options
    w_t, x_t, y_t = ctx.inputs[1], ctx.inputs[2], ctx.outputs[0]
    b_t, bias = _bias(ctx, 3)
    act = int(getattr(o, "fused_activation_function", 0) or 0)
    strides = (_option(o, "stride_h"), _option(o, "stride_w"))
    padding = int(o.padding)
    w = ctx.constant(1)
    where = f"TRANSPOSE_CONV '{y_t.name}'"
    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.FLOAT32 and (w is None or (b_t is not None and bias is None)):
        return _transpose_conv_dynamic(ctx, strides, padding, act)
    if w is None or (b_t is not None and bias is None):
        raise OneError(f"{where}: the weights and bias must be constants")
    cout, kh, kw, cin = w.shape
    plans: dict[tuple, _TransposePlan] = {}

    def plan(in_shape: tuple, shape_arg: np.ndarray) -> _TransposePlan:
        out_shape = tuple(int(v) for v in np.asarray(shape_arg).ravel())
        key = (in_shape, out_shape)
        p = plans.get(key)
        if p is None:
            if len(out_shape) != 4 or out_shape[0] != in_shape[0] or out_shape[3] != cout:
                raise OneError(f"{where}: output shape {list(out_shape)} does not fit input {list(in_shape)}")
            p = plans[key] = _TransposePlan(in_shape, out_shape, kh, kw, strides, padding)
        return p

    def col2im(p: _TransposePlan, cols: np.ndarray, dtype: Any) -> np.ndarray:
        n, h, wd, _ = p.in_shape
        c6 = cols.reshape(n, h, wd, kh, kw, cout)
        out = np.zeros(p.out_shape, dtype)
        for ky, iy, oy in p.ys:
            for kx, ix, ox in p.xs:
                target = out[:, oy, ox]
                np.add(target, c6[:, iy, ix, ky, kx], out=target)
        return out

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.FLOAT32:
        wmat = np.ascontiguousarray(np.asarray(w, np.float32).transpose(3, 1, 2, 0).reshape(cin, kh * kw * cout))
        b = None if bias is None else np.asarray(bias, np.float32)

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[2]
            p = plan(x.shape, inputs[0])
            cols = np.matmul(x.reshape(-1, cin), wmat)
            out = col2im(p, cols, np.float32)
            if b is not None:
                np.add(out, b, out=out)
            return [apply_activation(out, act)]

        return run

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.INT8 and is_quantized(w_t):
        # TFLite's hybrid TRANSPOSE_CONV: asymmetric input quantization, (acc * weight_scale) * input_scale
        wi = w.astype(np.int64)
        h = Hybrid(ctx, wi.transpose(1, 2, 3, 0), cout, asymmetric=True, bias=bias, act=act, fold_scales=False)
        wmat_h = np.ascontiguousarray(wi.transpose(3, 1, 2, 0).reshape(cin, kh * kw * cout).astype(h.ftype))

        def run_h(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[2]
            p = plan(x.shape, inputs[0])
            xs, scales = h.quantize(x)
            acc = col2im(p, np.matmul(xs.reshape(-1, cin), wmat_h), h.ftype)
            return [h.scale(acc, scales)]

        return run_h

    if not (is_quantized(x_t) and is_quantized(w_t) and is_quantized(y_t)):
        raise OneError(f"{where}: unsupported types {x_t.dtype.name} x {w_t.dtype.name} -> {y_t.dtype.name}")
    s_in, z_in = qparams(x_t)
    s_w, z_w = qparams(w_t)
    s_out, z_out = qparams(y_t)
    zi = int(z_in[0])
    per_channel = s_w.size > 1
    wq = centered_weights(w, z_w, 0)
    xmax = int_magnitude(x_t.dtype.numpy, zi)
    ftype = exact_float(float(xmax) * float(np.abs(wq).sum(axis=(1, 2, 3)).max()))
    wmat = np.ascontiguousarray(wq.transpose(3, 1, 2, 0).reshape(cin, kh * kw * cout).astype(ftype))
    b = np.zeros(cout, np.int64) if bias is None else np.asarray(bias).astype(np.int64)
    uint8 = x_t.dtype == DType.UINT8
    reals = real_multipliers(s_in[0], s_w if per_channel else s_w[:1], s_out[0], float_product=uint8)
    lo, hi = tensor_activation_range(act, y_t)
    rq = Requantizer(reals, int(z_out[0]), lo, hi, y_t.dtype.numpy, wide=wide_accumulator(x_t, b_t))

    def run_q(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[2]
        p = plan(x.shape, inputs[0])
        xf = np.subtract(x.reshape(-1, cin), zi, dtype=ftype)
        cols = np.matmul(xf, wmat)
        acc = col2im(p, cols, ftype).astype(np.int64)
        np.add(acc, b, out=acc)
        return [rq(acc)]

    return run_q


def _transpose_conv_dynamic(ctx: OpContext, strides: tuple[int, int], padding: int, act: int) -> Callable:
    """Float TRANSPOSE_CONV whose weights or bias are computed at run time."""
    dilations = (1, 1)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        w = np.asarray(inputs[1], np.float32).transpose(1, 2, 0, 3)  # OHWI -> HWOI
        bias = inputs[3] if len(inputs) > 3 else None
        return [_transposed_nd(inputs[2], w, bias, inputs[0], strides, dilations, padding, act)]

    return run


def _transposed_nd(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, shape_arg: np.ndarray,
                   strides: Sequence[int], dilations: Sequence[int], padding: int, act: int) -> np.ndarray:
    """A float transposed convolution: x [N, *spatial, I], w [*kernel, O, I]; input cell i adds
    its product with tap k at output i * stride + k * dilation - pad, where pad is TFLite's padding
    of a convolution of the output's size (0 for VALID); cells outside the output are dropped."""
    out_shape = tuple(int(v) for v in np.asarray(shape_arg).ravel())
    nd = x.ndim - 2
    ksize, cout, cin = w.shape[:nd], w.shape[nd], w.shape[nd + 1]
    if len(out_shape) != nd + 2 or out_shape[0] != x.shape[0] or out_shape[-1] != cout or x.shape[-1] != cin:
        raise OneError(f"transposed convolution: output shape {list(out_shape)} does not fit input "
                       f"{list(x.shape)} and weights {list(w.shape)}")
    cols = np.matmul(x.reshape(-1, cin), w.reshape(-1, cout, cin).transpose(2, 0, 1).reshape(cin, -1))
    cols = cols.reshape(*x.shape[:-1], *ksize, cout)
    out = np.zeros(out_shape, np.float32)
    axes = []
    for i in range(nd):
        size, o, k, s, d = x.shape[i + 1], out_shape[i + 1], ksize[i], strides[i], dilations[i]
        _, pad = out_size_and_pad(padding, o, k, s, d)
        taps = []
        for t in range(k):
            off = t * d - pad  # output index of input 0
            i0 = max(0, _ceil_div(-off, s))
            i1 = min(size, (o - 1 - off) // s + 1)
            if i1 > i0:
                o0 = i0 * s + off
                taps.append((t, slice(i0, i1), slice(o0, o0 + (i1 - i0 - 1) * s + 1, s)))
        axes.append(taps)
    for combo in itertools.product(*axes):
        src = (slice(None), *(t[1] for t in combo), *(t[0] for t in combo))
        dst = out[(slice(None), *(t[2] for t in combo))]
        np.add(dst, cols[src], out=dst)
    if bias is not None:
        np.add(out, np.asarray(bias, np.float32), out=out)
    return apply_activation(out, act)


@kernel("CONV_3D_TRANSPOSE")
def conv_3d_transpose(ctx: OpContext) -> Callable:
    """TFLite's CONV_3D_TRANSPOSE (float32): weights [D, H, W, O, I], dilations allowed."""
    o = ctx.options
    x_t, w_t = ctx.inputs[2], ctx.inputs[1]
    if x_t.dtype != DType.FLOAT32 or w_t.dtype != DType.FLOAT32:
        raise OneError(f"CONV_3D_TRANSPOSE '{ctx.outputs[0].name}': only float32 is supported (as in TFLite)")
    strides = (_option(o, "stride_d"), _option(o, "stride_h"), _option(o, "stride_w"))
    dilations = (_option(o, "dilation_d_factor"), _option(o, "dilation_h_factor"), _option(o, "dilation_w_factor"))
    padding, act = int(o.padding), int(o.fused_activation_function)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        bias = inputs[3] if len(inputs) > 3 else None
        return [_transposed_nd(inputs[2], np.asarray(inputs[1], np.float32), bias, inputs[0], strides, dilations,
                               padding, act)]

    return run
