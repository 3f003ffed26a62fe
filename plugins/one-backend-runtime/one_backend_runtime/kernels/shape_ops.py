"""Shape and data-movement kernels: RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, CONCATENATION,
SPLIT, SPLIT_V, PACK, UNPACK, SLICE, STRIDED_SLICE, SHAPE, RANK, FILL, RANGE, ZEROS_LIKE, TILE,
BROADCAST_TO, REVERSE_V2.

These move elements without changing them, so quantized tensors pass through with their
integers untouched (the converter gives input and output the same scale). CONCATENATION is the
exception: inputs whose scale or zero point differ from the output's are rescaled with TFLite's
float formula (ConcatenationWithScaling, exact for uint8). TFLite itself refuses such int8
inputs and copies int16 ones without rescaling; we rescale both the uint8 way. A fused
activation on CONCATENATION (circle allows it, LiteRT refuses it) is applied.

STRIDED_SLICE follows TFLite's index rules, including the ellipsis and new-axis expansion and
`offset` (end counts from the resolved begin). Where LiteRT's result is undefined (it writes
past its output or leaves it unwritten: offset slices running past the end, begin_mask or a
negative stride on a shrunk axis) we clamp to the tensor and take the begin index.

Results are numpy views of the inputs where one suffices (reshapes, slices, splits). Kernels
never write into their inputs (see executor.py), so sharing memory between an operator's input
and its output is safe. Index inputs (shapes, axes, permutations, begin/end) that are constants
are read once when the model is prepared."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from one_core.errors import InvalidModelError

from .base import KernelFn, OpContext, apply_activation, kernel
from .quant import activation_range, is_quantized, scale_and_zero_point

Inputs = Sequence[np.ndarray | None]


# --------------------------------------------------------------------------------------
# helpers shared by the kernels of this package
# --------------------------------------------------------------------------------------


def option(ctx: OpContext, name: str, default):
    """An option's value, or `default` when the operator carries no options."""
    opts = ctx.options
    return default if opts is None else getattr(opts, name, default)


def ints(a: np.ndarray | None) -> list[int]:
    """An index tensor's values as Python ints."""
    return [] if a is None else [int(v) for v in np.asarray(a).reshape(-1)]


def scalar(a: np.ndarray) -> int:
    return int(np.asarray(a).reshape(-1)[0])


def where(ctx: OpContext) -> str:
    """How error messages name an operator: its type and first output."""
    return f"{ctx.op.type} '{ctx.outputs[0].name}'" if ctx.outputs else ctx.op.type


def normalize_axis(axis: int, rank: int, what: str) -> int:
    """`axis` in [0, rank); negative values count from the end. `what` names it in errors."""
    if not -rank <= axis < max(rank, 1):
        raise InvalidModelError(f"{what}: {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def out_dtype(ctx: OpContext, index: int = 0) -> np.dtype:
    dtype = ctx.outputs[index].dtype.numpy
    if dtype is None:
        raise InvalidModelError(f"{where(ctx)}: output type {ctx.outputs[index].dtype.name} is not supported")
    return dtype


def static_or_dynamic(ctx: OpContext, index: int, compute):
    """`compute(array)` once at prepare time when input `index` is a constant, else None."""
    c = ctx.constant(index)
    return None if c is None else compute(c)


# --------------------------------------------------------------------------------------
# RESHAPE, SQUEEZE, EXPAND_DIMS
# --------------------------------------------------------------------------------------


def resolve_shape(shape: Sequence[int], size: int, what: str = "RESHAPE") -> tuple[int, ...]:
    """TFLite's RESHAPE rule: one -1 dimension takes what the others leave."""
    shape = [int(d) for d in shape]
    stretch = [i for i, d in enumerate(shape) if d == -1]
    if len(stretch) > 1:
        raise InvalidModelError(f"{what}: more than one -1 in the new shape {shape}")
    known = math.prod(d for d in shape if d != -1)
    if stretch:
        shape[stretch[0]] = 0 if known == 0 else size // known
    if math.prod(shape) != size:
        raise InvalidModelError(f"{what}: cannot reshape {size} elements to {shape}")
    return tuple(shape)


@kernel("RESHAPE")
def reshape(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    shape_input = ctx.inputs[1] if len(ctx.inputs) > 1 else None
    # TFLite reads the shape from the second input when it is a vector, else from the options
    # (where a legacy [0] means a scalar).
    use_tensor = shape_input is not None and len(shape_input.shape) == 1
    if not use_tensor:
        new_shape = option(ctx, "new_shape", None)
        if new_shape is None:
            new_shape = list(ctx.outputs[0].shape_signature or ctx.outputs[0].shape)
        if list(new_shape) == [0]:
            new_shape = []
        fixed = [int(d) for d in new_shape]
    else:
        c = ctx.constant(1)
        fixed = ints(c) if c is not None else None

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        shape = fixed if fixed is not None else ints(inputs[1])
        return [x.reshape(resolve_shape(shape, x.size, what))]

    return run


@kernel("SQUEEZE")
def squeeze(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dims = list(option(ctx, "squeeze_dims", None) or [])

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        if not dims:
            return [x.reshape([d for d in x.shape if d != 1])]
        drop = {normalize_axis(d, x.ndim, f"{what} squeeze dimension") for d in dims}
        return [x.reshape([d for i, d in enumerate(x.shape) if i not in drop or d != 1])]

    return run


@kernel("EXPAND_DIMS")
def expand_dims(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    fixed = static_or_dynamic(ctx, 1, scalar)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        axis = fixed if fixed is not None else scalar(inputs[1])
        if axis < 0:
            axis += x.ndim + 1
        if not 0 <= axis <= x.ndim:
            raise InvalidModelError(f"{what}: axis out of range for rank {x.ndim}")
        return [x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])]

    return run


# --------------------------------------------------------------------------------------
# TRANSPOSE, REVERSE_V2
# --------------------------------------------------------------------------------------


@kernel("TRANSPOSE")
def transpose(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    fixed = static_or_dynamic(ctx, 1, ints)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        perm = fixed if fixed is not None else ints(inputs[1])
        perm = [normalize_axis(p, x.ndim, f"{what} permutation entry") for p in perm]
        # A contiguous result: later kernels (matmuls, convolutions) want one, and the copy is
        # the operator's whole work.
        return [np.ascontiguousarray(x.transpose(perm))]

    return run


@kernel("REVERSE_V2")
def reverse_v2(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    fixed = static_or_dynamic(ctx, 1, ints)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        axes = fixed if fixed is not None else ints(inputs[1])
        axes = tuple(sorted({normalize_axis(a, x.ndim, f"{what} axis") for a in axes}))
        return [np.flip(x, axes) if axes else x]

    return run


# --------------------------------------------------------------------------------------
# CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK
# --------------------------------------------------------------------------------------


@kernel("CONCATENATION")
def concatenation(ctx: OpContext) -> KernelFn:
    axis_option = int(option(ctx, "axis", 0))
    activation = int(option(ctx, "fused_activation_function", 0))
    out = ctx.outputs[0]
    inputs_t = [t for t in ctx.inputs if t is not None]
    rank = len(out.shape) if out.shape else len(inputs_t[0].shape)
    axis = normalize_axis(axis_option, rank, f"{where(ctx)} axis")
    dtype = out_dtype(ctx)

    if not is_quantized(out):

        def run_plain(inputs: Inputs) -> list[np.ndarray]:
            y = np.concatenate([x for x in inputs if x is not None], axis=axis)
            return [apply_activation(y, activation)]

        return run_plain

    # Quantized: inputs with the output's parameters are copied; others are rescaled with
    # TFLite's float formula (ConcatenationWithScaling): round(q * s + b) + zo, in float32,
    # where s = s_in * (1 / s_out) and b = -zp_in * s.
    out_scale, out_zero = scale_and_zero_point(out)
    out_scale32 = np.float32(out_scale[0])
    zo = int(out_zero[0])
    inv = np.float32(1.0) / out_scale32
    lo, hi = activation_range(activation, float(out_scale[0]), zo, dtype)
    info = np.iinfo(dtype)
    clamp = (lo, hi) != (int(info.min), int(info.max))
    rescale: list[tuple[np.float32, np.float32] | None] = []
    for t in inputs_t:
        s, z = scale_and_zero_point(t) if is_quantized(t) else (out_scale, out_zero)
        if np.float32(s[0]) == out_scale32 and int(z[0]) == zo:
            rescale.append(None)
        else:
            s32 = np.float32(np.float32(s[0]) * inv)
            rescale.append((s32, np.float32(np.float32(-int(z[0])) * s32)))

    def requantize(x: np.ndarray, params: tuple[np.float32, np.float32] | None) -> np.ndarray:
        if params is None:
            return x
        s32, b32 = params
        v = x.astype(np.float32) * s32 + b32
        # std::round: to nearest, halves away from zero (np.round sends halves to even).
        whole = np.trunc(v)
        r = np.where(np.abs(v - whole) == 0.5, whole + np.sign(v), np.round(v))
        return np.clip(r.astype(np.int64) + zo, info.min, info.max).astype(dtype)

    def run_quantized(inputs: Inputs) -> list[np.ndarray]:
        xs = [requantize(x, p) for x, p in zip([x for x in inputs if x is not None], rescale)]
        y = np.concatenate(xs, axis=axis)
        if clamp:
            np.clip(y, lo, hi, out=y)
        return [y]

    return run_quantized


@kernel("PACK")
def pack(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    axis_option = int(option(ctx, "axis", 0))

    def run(inputs: Inputs) -> list[np.ndarray]:
        xs = [x for x in inputs if x is not None]
        rank = xs[0].ndim + 1
        return [np.stack(xs, axis=normalize_axis(axis_option, rank, f"{what} axis"))]

    return run


@kernel("UNPACK")
def unpack(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    axis_option = int(option(ctx, "axis", 0))

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        axis = normalize_axis(axis_option, x.ndim, f"{what} axis")
        lead = (slice(None),) * axis
        return [x[lead + (i,)] for i in range(x.shape[axis])]

    return run


def _split_at(x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    out, start = [], 0
    lead = (slice(None),) * axis
    for s in sizes:
        out.append(x[lead + (slice(start, start + s),)])
        start += s
    return out


@kernel("SPLIT")
def split(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    n = len(ctx.outputs)
    fixed = static_or_dynamic(ctx, 0, scalar)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[1]
        axis = normalize_axis(fixed if fixed is not None else scalar(inputs[0]), x.ndim, f"{what} axis")
        if x.shape[axis] % n:
            raise InvalidModelError(f"{what}: dimension {x.shape[axis]} does not divide into {n} parts")
        return _split_at(x, axis, [x.shape[axis] // n] * n)

    return run


@kernel("SPLIT_V")
def split_v(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    fixed_sizes = static_or_dynamic(ctx, 1, ints)
    fixed_axis = static_or_dynamic(ctx, 2, scalar)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        axis = fixed_axis if fixed_axis is not None else scalar(inputs[2])
        axis = normalize_axis(axis, x.ndim, f"{what} axis")
        sizes = list(fixed_sizes if fixed_sizes is not None else ints(inputs[1]))
        if -1 in sizes:
            i = sizes.index(-1)
            sizes[i] = x.shape[axis] - (sum(sizes) + 1)
        if sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
            raise InvalidModelError(f"{what}: sizes {sizes} do not split dimension {x.shape[axis]}")
        return _split_at(x, axis, sizes)

    return run


# --------------------------------------------------------------------------------------
# SLICE, STRIDED_SLICE
# --------------------------------------------------------------------------------------


def slice_index(shape: Sequence[int], begin: Sequence[int], size: Sequence[int], what: str = "SLICE") -> tuple[slice, ...]:
    """SLICE's index: `size` -1 runs to the end of the dimension."""
    index = []
    for d, b, s in zip(shape, begin, size):
        if b < 0 or b > d:
            raise InvalidModelError(f"{what}: begin {b} out of range for dimension {d}")
        end = d if s == -1 else b + s
        if end > d or end < b:
            raise InvalidModelError(f"{what}: size {s} out of range for begin {b}, dimension {d}")
        index.append(slice(b, end))
    return tuple(index)


@kernel("SLICE")
def slice_(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    begin_c, size_c = ctx.constant(1), ctx.constant(2)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        begin = ints(begin_c if begin_c is not None else inputs[1])
        size = ints(size_c if size_c is not None else inputs[2])
        return [x[slice_index(x.shape, begin, size, what)]]

    return run


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else max(v, lo)


def strided_slice_plan(
    shape: Sequence[int],
    begin: Sequence[int],
    end: Sequence[int],
    strides: Sequence[int],
    begin_mask: int,
    end_mask: int,
    ellipsis_mask: int,
    new_axis_mask: int,
    shrink_axis_mask: int,
    offset: bool,
    what: str = "STRIDED_SLICE",
) -> tuple[tuple[int, ...], tuple[slice | int, ...], tuple[int, ...]]:
    """TFLite's STRIDED_SLICE on an input of `shape`: (shape with the new axes inserted,
    numpy index into that, output shape).

    The ellipsis and new-axis masks are first turned into an equivalent slice of an input with
    extra unit dimensions (as TFLite's BuildStridedSliceParams does); then every dimension gets
    its start and stop (StridedSliceStartForAxis / EndForAxis)."""
    n_spec = len(begin)
    rank = len(shape)
    num_add_axis = sum(1 for i in range(n_spec) if not (ellipsis_mask >> i) & 1 and (new_axis_mask >> i) & 1)
    dims = rank + num_add_axis
    eff_ellipsis = eff_new_axis = 0
    ellipsis_start, expanded = dims, 0
    i = 0
    while i < dims:
        if (ellipsis_mask >> i) & 1:
            ellipsis_start = i
            stop = max(i + 1, min(i + 1 + num_add_axis + rank - n_spec, dims))
            expanded = stop - ellipsis_start - 1
            while i < stop:
                eff_ellipsis |= 1 << i
                i += 1
            continue
        if i - expanded >= 0 and (new_axis_mask >> (i - expanded)) & 1:
            eff_new_axis |= 1 << i
        i += 1

    eff_shape: list[int] = []
    starts, stops, steps = [], [], []
    bmask = emask = smask = 0
    added_ellipsis = added_axes = 0
    for i in range(dims):
        if (eff_ellipsis >> i) & 1:
            added_ellipsis = max(0, i - ellipsis_start)
            bmask |= 1 << i
            emask |= 1 << i
            starts.append(0)
            stops.append(0)
            steps.append(1)
            eff_shape.append(shape[i - added_axes])
        elif (eff_new_axis >> i) & 1:
            starts.append(0)
            stops.append(1)
            steps.append(1)
            eff_shape.append(1)
            added_axes += 1
        elif i >= n_spec + expanded:
            starts.append(0)
            stops.append(0)
            steps.append(1)
            bmask |= 1 << i
            emask |= 1 << i
            eff_shape.append(shape[i - added_axes])
        else:
            j = i - added_ellipsis
            starts.append(int(begin[j]))
            stops.append(int(end[j]))
            steps.append(int(strides[j]))
            bmask |= ((begin_mask >> j) & 1) << i
            emask |= ((end_mask >> j) & 1) << i
            smask |= ((shrink_axis_mask >> j) & 1) << i
            eff_shape.append(shape[i - added_axes])

    index: list[slice | int] = []
    out_shape: list[int] = []
    for i in range(dims):
        size, step = eff_shape[i], steps[i]
        if step == 0:
            raise InvalidModelError(f"{what}: stride 0")
        start = starts[i]
        if start < 0:
            start += size
        start = _clamp(start, 0, size) if step > 0 else _clamp(start, -1, size - 1)
        if (bmask >> i) & 1:
            start = 0 if step > 0 else size - 1
        if (smask >> i) & 1:
            if not 0 <= start < size:
                raise InvalidModelError(f"{what}: index {starts[i]} out of range for dimension {size}")
            index.append(start)
            continue
        if offset:
            # `end` is a size counted from the resolved start; LiteRT ignores end_mask here
            # and does not clamp (it reads out of bounds); we clamp.
            stop = start + stops[i]
        else:
            stop = stops[i] + size if stops[i] < 0 else stops[i]
            if (emask >> i) & 1:
                stop = size if step > 0 else -1
        stop = _clamp(stop, 0, size) if step > 0 else _clamp(stop, -1, size - 1)
        length = max(0, -((stop - start) // -step) if step > 0 else -((start - stop) // step))
        out_shape.append(length)
        if length == 0:
            index.append(slice(0, 0))
        elif step > 0:
            index.append(slice(start, stop, step))
        else:
            index.append(slice(start, None if stop < 0 else stop, step))
    return tuple(eff_shape), tuple(index), tuple(out_shape)


@kernel("STRIDED_SLICE")
def strided_slice(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    masks = tuple(
        int(option(ctx, name, 0))
        for name in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    )
    offset = bool(option(ctx, "offset", False))
    consts = [ctx.constant(i) for i in (1, 2, 3)]
    cached: dict[tuple[int, ...], tuple] = {}
    all_const = all(c is not None for c in consts)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        plan = cached.get(x.shape) if all_const else None
        if plan is None:
            b, e, s = (ints(c if c is not None else inputs[i + 1]) for i, c in enumerate(consts))
            plan = strided_slice_plan(x.shape, b, e, s, *masks, offset, what)
            if all_const:
                cached[x.shape] = plan
        eff_shape, index, out_shape = plan
        y = x.reshape(eff_shape)[index]
        return [y.reshape(out_shape)]

    return run


# --------------------------------------------------------------------------------------
# SHAPE, RANK, FILL, ZEROS_LIKE, RANGE, TILE, BROADCAST_TO
# --------------------------------------------------------------------------------------


@kernel("SHAPE")
def shape_(ctx: OpContext) -> KernelFn:
    dtype = out_dtype(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        return [np.array(inputs[0].shape, dtype=dtype)]

    return run


@kernel("RANK")
def rank_(ctx: OpContext) -> KernelFn:
    dtype = out_dtype(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        return [np.array(inputs[0].ndim, dtype=dtype)]

    return run


@kernel("FILL")
def fill(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = out_dtype(ctx)
    fixed = static_or_dynamic(ctx, 0, ints)

    def run(inputs: Inputs) -> list[np.ndarray]:
        dims = fixed if fixed is not None else ints(inputs[0])
        if any(d < 0 for d in dims):
            raise InvalidModelError(f"{what}: negative dimension in {dims}")
        value = np.asarray(inputs[1]).reshape(-1)[0]
        return [np.full(dims, value, dtype=dtype)]

    return run


@kernel("ZEROS_LIKE")
def zeros_like(ctx: OpContext) -> KernelFn:
    def run(inputs: Inputs) -> list[np.ndarray]:
        return [np.zeros_like(inputs[0])]

    return run


@kernel("RANGE")
def range_(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = out_dtype(ctx)
    integral = np.issubdtype(dtype, np.integer)

    def run(inputs: Inputs) -> list[np.ndarray]:
        start, limit, delta = (np.asarray(x, dtype).reshape(-1)[0] for x in inputs[:3])
        if delta == 0:
            raise InvalidModelError(f"{what}: delta is 0")
        if (start > limit and delta > 0) or (start < limit and delta < 0):
            raise InvalidModelError(f"{what}: delta moves away from the limit")
        if integral:
            s, l, d = int(start), int(limit), int(delta)
            n = (abs(l - s) + abs(d) - 1) // abs(d)
            return [(s + d * np.arange(n, dtype=np.int64)).astype(dtype)]
        # TFLite computes the size in the element type and the values by repeated addition.
        n = int(np.ceil(np.abs((limit - start) / delta)))
        if n == 0:
            return [np.zeros(0, dtype)]
        steps = np.full(n, delta, dtype=dtype)
        steps[0] = start
        return [np.cumsum(steps, dtype=dtype)]

    return run


@kernel("TILE")
def tile(ctx: OpContext) -> KernelFn:
    fixed = static_or_dynamic(ctx, 1, ints)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        reps = fixed if fixed is not None else ints(inputs[1])
        return [np.tile(x, reps) if x.ndim else x.copy()]

    return run


@kernel("BROADCAST_TO")
def broadcast_to(ctx: OpContext) -> KernelFn:
    fixed = static_or_dynamic(ctx, 1, ints)

    def run(inputs: Inputs) -> list[np.ndarray]:
        shape = fixed if fixed is not None else ints(inputs[1])
        # Materialized, as TFLite does: a zero-stride view would surprise consumers that
        # expect to own a writable array (and users reading model outputs).
        return [np.array(np.broadcast_to(inputs[0], shape))]

    return run
