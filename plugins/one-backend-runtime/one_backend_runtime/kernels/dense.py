"""Dense kernels: FULLY_CONNECTED, BATCH_MATMUL, EMBEDDING_LOOKUP.

FULLY_CONNECTED keeps its weights transposed ([in, out], contiguous) so a run is one BLAS
product. Integer paths multiply integer-valued float arrays whose partial sums stay exact (see
conv.py) and rescale with TFLite's fixed-point steps; "hybrid" models (float activations, int8
weights with scales, from dynamic-range quantization) quantize each input row to int8 the way
TFLite's hybrid kernels do, symmetrically or asymmetrically (asymmetric_quantize_inputs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType
from one_core.ir.options import FullyConnectedOptionsWeightsFormat as WeightsFormat

from .base import OpContext, apply_activation, kernel
from .conv import (
    Requantizer,
    centered_weights,
    exact_float,
    int_magnitude,
    qparams,
    real_multipliers,
)
from .quant import is_quantized, tensor_activation_range


def round_half_away(v: np.ndarray) -> np.ndarray:
    """std::round on a float array, exactly (halves away from zero)."""
    a = np.abs(v)
    r = np.floor(a)
    r += (a - r) >= 0.5
    return np.copysign(r, v)


def quantize_rows(x: np.ndarray, asymmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite's BatchQuantizeFloats on the rows of a 2-D float32 array: int8 values, float32
    scaling factors and int64 offsets (zero for the symmetric scheme). Same float32 and
    float64 steps as tensor_utils' Symmetric/AsymmetricQuantizeFloats."""
    f32 = np.float32
    x = np.asarray(x, f32)
    rows = x.shape[0]
    if x.size == 0:
        return np.zeros(x.shape, np.int8), np.ones(rows, f32), np.zeros(rows, np.int64)
    mn = x.min(axis=1)
    mx = x.max(axis=1)
    if not asymmetric:
        rng = np.maximum(np.abs(mn), np.abs(mx))
        zero = rng == 0
        safe = np.where(zero, f32(1), rng).astype(f32)
        scales = np.where(zero, f32(1), (safe / f32(127)).astype(f32)).astype(f32)
        inv = (f32(127) / safe).astype(f32)
        q = np.clip(round_half_away((x * inv[:, None]).astype(f32)), -127, 127)
        q[zero] = 0
        return q.astype(np.int8), scales, np.zeros(rows, np.int64)
    rmin = np.minimum(f32(0), mn).astype(np.float64)
    rmax = np.maximum(f32(0), mx).astype(np.float64)
    zero = rmin == rmax
    scale = np.where(zero, 1.0, (rmax - rmin) / 255.0)
    from_min = -128.0 - rmin / scale
    from_max = 127.0 - rmax / scale
    err_min = 128.0 + np.abs(rmin / scale)
    err_max = 127.0 + np.abs(rmax / scale)
    zp = np.where(err_min < err_max, from_min, from_max)
    nudged = np.where(zp <= -128.0, -128.0, np.where(zp >= 127.0, 127.0, round_half_away(zp)))
    offsets = np.where(zero, 0, nudged).astype(np.int64)
    scales = np.where(zero, 1.0, scale).astype(f32)
    inv = (f32(1) / scales).astype(f32)
    v = (x * inv[:, None]).astype(f32) + offsets.astype(f32)[:, None]
    q = np.clip(round_half_away(v.astype(f32)), -128, 127)
    q[zero] = 0
    return q.astype(np.int8), scales, offsets


def unshuffled_16x1(w: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED weights [rows, cols] stored in circle's SHUFFLED16x1FLOAT32 order (blocks of
    16 rows, column by column: flat element (r * cols + c) * 16 + i is w[16 * r + i, c]) in
    their plain order."""
    rows, cols = w.shape
    return np.ascontiguousarray(w.reshape(rows // 16, cols, 16).transpose(0, 2, 1).reshape(rows, cols))


def _bias_of(ctx: OpContext, index: int):
    t = ctx.op.input(index) if len(ctx.inputs) > index else None
    return t, (None if t is None else ctx.constant(index))


# --------------------------------------------------------------------------------------------
# FULLY_CONNECTED


@kernel("FULLY_CONNECTED")
def fully_connected(ctx: OpContext) -> Callable:
    o = ctx.options
    x_t, w_t, y_t = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    b_t, bias = _bias_of(ctx, 2)
    act = int(o.fused_activation_function)
    keep = bool(o.keep_num_dims)
    where = f"FULLY_CONNECTED '{y_t.name}'"
    w = ctx.constant(1)
    weights_format = int(getattr(o, "weights_format", 0) or 0)
    if weights_format == WeightsFormat.SHUFFLED16x1FLOAT32 and w is not None and w.dtype == np.float32 \
            and w.ndim == 2 and w.shape[0] % 16 == 0:
        w = unshuffled_16x1(w)  # once, at prepare
    elif weights_format != WeightsFormat.DEFAULT:
        label = next((f.name for f in WeightsFormat if f == weights_format), str(weights_format))
        raise OneError(f"{where}: weights format {label} is not supported "
                       "(SHUFFLED16x1FLOAT32 needs float32 constant weights [16 * k, n])")
    units, depth = int(w_t.shape[0]), int(w_t.shape[-1])

    def shape_of(x: np.ndarray, n: int) -> tuple[int, ...]:
        if keep:
            return (*x.shape[:-1], n)
        return (x.size // depth if depth else 0, n)

    def bias_at(inputs: Sequence[np.ndarray | None]) -> np.ndarray | None:
        return inputs[2] if len(inputs) > 2 else None

    if x_t.dtype == DType.FLOAT32 and w_t.dtype == DType.FLOAT32:
        wT = None if w is None else np.ascontiguousarray(np.asarray(w, np.float32).T)
        b0 = None if bias is None else np.asarray(bias, np.float32)

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            x = inputs[0]
            wt = wT if wT is not None else inputs[1].T
            b = b0 if bias is not None or b_t is None else bias_at(inputs)
            n = wt.shape[1]
            out = np.empty(shape_of(x, n), np.float32)
            out2 = out.reshape(-1, n)
            np.matmul(x.reshape(-1, depth), wt, out=out2)
            if b is not None:
                np.add(out2, b, out=out2)
            return [apply_activation(out, act)]

        return run

    if x_t.dtype == DType.FLOAT32 and w_t.dtype in (DType.INT8, DType.UINT8) and w is not None and is_quantized(w_t):
        return _hybrid_fc(ctx, w, bias, act, shape_of)

    if not (is_quantized(x_t) and is_quantized(w_t) and is_quantized(y_t)):
        raise OneError(f"{where}: unsupported types {x_t.dtype.name} x {w_t.dtype.name} -> {y_t.dtype.name}")
    s_in, z_in = qparams(x_t)
    s_w, z_w = qparams(w_t)
    s_out, z_out = qparams(y_t)
    zi = int(z_in[0])
    per_channel = s_w.size > 1
    reals = real_multipliers(s_in[0], s_w if per_channel else s_w[:1], s_out[0], float_product=not per_channel)
    lo, hi = tensor_activation_range(act, y_t)
    # TFLite's int16 FULLY_CONNECTED rescales with the 32-bit MultiplyByQuantizedMultiplier even
    # with an int64 bias (checked against LiteRT)
    # LiteRT's uint8 FULLY_CONNECTED rounds once, (acc * m + half) >> (31 - shift), where int8
    # rounds twice (measured: the two differ by 1 where the first rounding lands on a half)
    rq = Requantizer(reals, int(z_out[0]), lo, hi, y_t.dtype.numpy, wide=False,
                     single_rounding=y_t.dtype == DType.UINT8)
    xmax = int_magnitude(x_t.dtype.numpy)
    if b_t is not None and bias is None:
        raise OneError(f"{where}: the bias must be a constant")
    b = np.zeros(units, np.int64) if bias is None else np.asarray(bias).astype(np.int64)

    def prepare(wv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The weights as exact floats [in, out], and the bias minus zero_point * column sums."""
        wq = centered_weights(wv, z_w, 0)
        wq_t = wq.T
        ftype = exact_float(float(xmax) * float(np.abs(wq_t).sum(axis=0).max(initial=0)))
        return np.ascontiguousarray(wq_t.astype(ftype)), b - zi * wq_t.sum(axis=0)

    fixed = None if w is None else prepare(w)

    def run_q(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        wf, bias_eff = fixed if fixed is not None else prepare(inputs[1])
        x2 = x.reshape(-1, depth).astype(wf.dtype)
        return [rq.from_sums(np.matmul(x2, wf), bias_eff).reshape(shape_of(x, wf.shape[1]))]

    return run_q


def _hybrid_fc(ctx: OpContext, w: np.ndarray, bias: np.ndarray | None, act: int, shape_of: Callable) -> Callable:
    """TFLite's hybrid FULLY_CONNECTED: each input row quantized to int8, an integer product,
    then scaled back: bias + acc * (row scale * weight scale)."""
    w_t = ctx.inputs[1]
    s_w, _ = qparams(w_t)
    asym = bool(getattr(ctx.options, "asymmetric_quantize_inputs", False))
    units, depth = w.shape[0], w.shape[-1]
    wq = w.astype(np.int64)
    if w_t.dtype == DType.UINT8:  # TFLite reads the bytes as int8
        wq = w.view(np.int8).astype(np.int64)
    wq_t = wq.T
    ftype = exact_float(128.0 * float(np.abs(wq_t).sum(axis=0).max(initial=0)))
    wf = np.ascontiguousarray(wq_t.astype(ftype))
    row_sums = wq_t.sum(axis=0)
    per_channel = s_w.size > 1
    b = None if bias is None else np.asarray(bias, np.float32)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        x2 = x.reshape(-1, depth)
        q, scales, offsets = quantize_rows(x2, asym)
        acc = np.matmul(q.astype(ftype), wf).astype(np.int64)
        if asym:
            acc -= offsets[:, None] * row_sums
        if per_channel:
            scale = scales[:, None] * s_w[None, :]
        else:
            scale = (scales * s_w[0])[:, None]
        out = acc.astype(np.float32) * scale.astype(np.float32)
        if b is not None:
            out = b + out
        return [apply_activation(np.ascontiguousarray(out, np.float32).reshape(shape_of(x, units)), act)]

    return run


# --------------------------------------------------------------------------------------------
# BATCH_MATMUL


@kernel("BATCH_MATMUL")
def batch_matmul(ctx: OpContext) -> Callable:
    o = ctx.options
    a_t, b_t, y_t = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    adj_a = bool(getattr(o, "adjoint_lhs", False))
    adj_b = bool(getattr(o, "adjoint_rhs", False))
    where = f"BATCH_MATMUL '{y_t.name}'"
    rhs = ctx.constant(1)

    def orient(v: np.ndarray, adj: bool) -> np.ndarray:
        return np.swapaxes(v, -1, -2) if adj else v

    if a_t.dtype == DType.FLOAT32 and b_t.dtype == DType.FLOAT32:
        fixed = None if rhs is None else np.ascontiguousarray(orient(np.asarray(rhs, np.float32), adj_b))

        def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            a = orient(inputs[0], adj_a)
            b = fixed if fixed is not None else orient(inputs[1], adj_b)
            return [np.matmul(a, b).astype(np.float32, copy=False)]

        return run

    if a_t.dtype == DType.FLOAT32 and b_t.dtype == DType.INT8 and rhs is not None and is_quantized(b_t):
        return _hybrid_bmm(ctx, np.asarray(rhs), adj_a, adj_b)

    if a_t.dtype == b_t.dtype == DType.INT8 and y_t.dtype == DType.INT32:
        # LiteRT's int8 x int8 -> int32 product: the raw integers, zero points not applied.
        # Every partial sum is below 2**14 * K, exact in float64.
        def run_i32(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            a = orient(inputs[0], adj_a).astype(np.float64)
            b = orient(rhs if rhs is not None else inputs[1], adj_b).astype(np.float64)
            return [np.matmul(a, b).astype(np.int32)]

        return run_i32

    if not (is_quantized(a_t) and is_quantized(b_t) and is_quantized(y_t)):
        raise OneError(f"{where}: unsupported types {a_t.dtype.name} x {b_t.dtype.name} -> {y_t.dtype.name}")
    s_a, z_a = qparams(a_t)
    s_b, z_b = qparams(b_t)
    s_out, z_out = qparams(y_t)
    za, zb = int(z_a[0]), int(z_b[0])
    reals = real_multipliers(s_a[0], s_b[:1], s_out[0], float_product=True)
    lo, hi = tensor_activation_range(0, y_t)
    rq = Requantizer(reals, int(z_out[0]), lo, hi, y_t.dtype.numpy, wide=a_t.dtype == DType.INT16)
    amax = int_magnitude(a_t.dtype.numpy, za)
    if rhs is not None:
        bq = orient(np.asarray(rhs).astype(np.int64) - zb, adj_b)
        ftype_fixed = exact_float(float(amax) * float(np.abs(bq).sum(axis=-2).max(initial=0)))
        b_fixed = np.ascontiguousarray(bq.astype(ftype_fixed))
    else:
        b_fixed = None

    def run_q(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        a = orient(inputs[0], adj_a)
        if b_fixed is not None:
            b = b_fixed
        else:
            k = a.shape[-1]
            ftype = exact_float(float(amax) * float(int_magnitude(inputs[1].dtype, zb)) * k)
            b = np.subtract(orient(inputs[1], adj_b), zb, dtype=ftype)
        af = np.subtract(a, za, dtype=b.dtype)
        acc = np.matmul(af, b).astype(np.int64)
        return [rq(acc)]

    return run_q


def _hybrid_bmm(ctx: OpContext, rhs: np.ndarray, adj_a: bool, adj_b: bool) -> Callable:
    """Float lhs, int8 constant rhs: each lhs row quantized to int8 as TFLite's hybrid kernel
    does, an integer product, then scaled back."""
    b_t = ctx.inputs[1]
    s_b, _ = qparams(b_t)
    asym = bool(getattr(ctx.options, "asymmetric_quantize_inputs", False))
    bq = np.asarray(rhs).astype(np.int64)
    if adj_b:
        bq = np.swapaxes(bq, -1, -2)
    ftype = exact_float(128.0 * float(np.abs(bq).sum(axis=-2).max(initial=0)))
    bf = np.ascontiguousarray(bq.astype(ftype))
    col_sums = bq.sum(axis=-2)  # [..., N]
    scale_b = np.float32(s_b[0])

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        a = inputs[0]
        if adj_a:
            a = np.swapaxes(a, -1, -2)
        k = a.shape[-1]
        q, scales, offsets = quantize_rows(a.reshape(-1, k), asym)
        q = q.reshape(a.shape)
        acc = np.matmul(q.astype(ftype), bf).astype(np.int64)
        lead = a.shape[:-1]
        if asym:
            acc = acc - offsets.reshape(*lead, 1) * col_sums[..., None, :]
        sc = (scales * scale_b).astype(np.float32).reshape(*lead, 1)
        out = acc.astype(np.float32) * sc
        return [np.ascontiguousarray(out, np.float32)]

    return run


# --------------------------------------------------------------------------------------------
# EMBEDDING_LOOKUP


@kernel("EMBEDDING_LOOKUP")
def embedding_lookup(ctx: OpContext) -> Callable:
    value_t, y_t = ctx.inputs[1], ctx.outputs[0]
    where = f"EMBEDDING_LOOKUP '{y_t.name}'"
    hybrid = y_t.dtype == DType.FLOAT32 and value_t.dtype in (DType.INT8, DType.UINT8)
    scale = None
    if hybrid:
        q = value_t.quantization
        scale = np.ones(1, np.float64) if q is None or q.scale is None or not q.scale.size else q.scale.astype(np.float64)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        ids = np.asarray(inputs[0]).astype(np.int64).ravel()
        value = inputs[1]
        rows = value.shape[0]
        bad = (ids < 0) | (ids >= rows)
        if bad.any():
            raise OneError(f"{where}: index {int(ids[bad][0])} out of bounds [0, {rows - 1}]")
        picked = np.take(value, ids, axis=0)
        if not hybrid:
            return [picked]
        raw = picked.view(np.int8) if picked.dtype == np.uint8 else picked  # TFLite reads int8
        s = scale[ids].reshape((-1,) + (1,) * (value.ndim - 1)) if scale.size > 1 else scale[0]
        return [(raw.astype(np.float64) * s).astype(np.float32)]

    return run
