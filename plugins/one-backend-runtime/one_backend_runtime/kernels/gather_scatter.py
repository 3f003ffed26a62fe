"""Index-driven kernels: GATHER, GATHER_ND, SCATTER_ND, UNSORTED_SEGMENT_SUM/PROD/MAX/MIN, ONE_HOT,
WHERE, and DENSIFY (a sparse constant expanded to a dense array). `densify()` decodes a sparse
tensor and `dense_constant()` gives any tensor's value known at prepare time (a constant, decoded
if sparse, or a DENSIFY result), for kernels that take weights as constants.

Indices out of range are errors, as in TFLite (numpy would wrap negative ones)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable

import numpy as np

from one_core.errors import InvalidModelError, OneError
from one_core.ir import Tensor

from .base import KernelFn, OpContext, kernel
from .shape_ops import Inputs, normalize_axis, option, out_dtype, scalar, where


def _check_range(idx: np.ndarray, limit: int | np.ndarray, what: str) -> None:
    if idx.size and (idx.min() < 0 or np.any(idx >= limit)):
        raise OneError(f"{what}: index out of range (values {int(idx.min())}..{int(idx.max())}, limit {limit})")


@kernel("GATHER")
def gather(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    axis_option = int(option(ctx, "axis", 0))
    batch_option = int(option(ctx, "batch_dims", 0))

    def run(inputs: Inputs) -> list[np.ndarray]:
        params, idx = inputs[0], np.asarray(inputs[1])
        axis = normalize_axis(axis_option, params.ndim, f"{what} axis")
        batch_dims = batch_option + idx.ndim if batch_option < 0 else batch_option
        if not 0 <= batch_dims <= min(axis, idx.ndim) or params.shape[:batch_dims] != idx.shape[:batch_dims]:
            raise InvalidModelError(f"{what}: batch_dims {batch_option} does not fit params {params.shape}, indices {idx.shape}")
        _check_range(idx, params.shape[axis], what)
        if batch_dims == 0:
            return [np.take(params, idx, axis=axis)]
        b = math.prod(params.shape[:batch_dims])
        outer = math.prod(params.shape[batch_dims:axis])
        inner_shape = params.shape[axis + 1 :]
        p = params.reshape(b, outer, params.shape[axis], -1)
        i = idx.reshape(b, -1)
        y = p[np.arange(b)[:, None, None], np.arange(outer)[None, :, None], i[:, None, :]]
        shape = params.shape[:axis] + idx.shape[batch_dims:] + inner_shape
        return [y.reshape(shape)]

    return run


@kernel("GATHER_ND")
def gather_nd(ctx: OpContext) -> KernelFn:
    what = where(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        params, idx = inputs[0], np.asarray(inputs[1])
        k = idx.shape[-1]
        if k > params.ndim:
            raise InvalidModelError(f"{what}: index depth {k} exceeds the params rank {params.ndim}")
        flat = idx.reshape(-1, k).astype(np.int64)
        _check_range(flat, np.array(params.shape[:k], np.int64), what)
        shape = idx.shape[:-1] + params.shape[k:]
        if k == 0:
            return [np.array(np.broadcast_to(params, shape))]
        return [params[tuple(flat.T)].reshape(shape)]

    return run


@kernel("SCATTER_ND")
def scatter_nd(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = out_dtype(ctx)
    fixed = ctx.constant(2)

    def run(inputs: Inputs) -> list[np.ndarray]:
        idx, updates = np.asarray(inputs[0]), inputs[1]
        shape = [int(v) for v in np.asarray(fixed if fixed is not None else inputs[2]).reshape(-1)]
        k = idx.shape[-1]
        flat = idx.reshape(-1, k).astype(np.int64)
        _check_range(flat, np.array(shape[:k], np.int64), what)
        out = np.zeros(shape, dtype=dtype)
        # Duplicate indices add up, as in TFLite.
        np.add.at(out, tuple(flat.T), updates.reshape((flat.shape[0], *shape[k:])))
        return [out]

    return run


def _segment_reduction(ufunc: np.ufunc, initial) -> Callable[[OpContext], KernelFn]:
    """UNSORTED_SEGMENT_*: output[s] combines, with `ufunc`, the slices of data whose segment id is
    s, starting from `initial(dtype)`, which empty segments keep (TFLite's kInitialValue: 0, 1,
    the lowest or the highest finite value); negative ids are skipped."""

    def factory(ctx: OpContext) -> KernelFn:
        what = where(ctx)
        dtype = out_dtype(ctx)
        fixed = ctx.constant(2)
        start = initial(dtype)

        def run(inputs: Inputs) -> list[np.ndarray]:
            data, ids = inputs[0], np.asarray(inputs[1]).astype(np.int64)
            n = scalar(fixed if fixed is not None else inputs[2])
            if ids.shape != data.shape[: ids.ndim]:
                raise InvalidModelError(f"{what}: segment ids {ids.shape} do not lead the data shape {data.shape}")
            rest = data.shape[ids.ndim :]
            flat = ids.reshape(-1)
            _check_range(flat[flat >= 0], n, what)
            out = np.full((n, *rest), start, dtype)
            keep = flat >= 0
            ufunc.at(out, flat[keep], data.reshape(-1, *rest)[keep])
            return [out]

        return run

    return factory


def _lowest(dtype: np.dtype):
    return np.finfo(dtype).min if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    return np.finfo(dtype).max if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


kernel("UNSORTED_SEGMENT_SUM")(_segment_reduction(np.add, lambda d: 0))
kernel("UNSORTED_SEGMENT_PROD")(_segment_reduction(np.multiply, lambda d: 1))
kernel("UNSORTED_SEGMENT_MAX")(_segment_reduction(np.maximum, _lowest))
kernel("UNSORTED_SEGMENT_MIN")(_segment_reduction(np.minimum, _highest))


@kernel("ONE_HOT")
def one_hot(ctx: OpContext) -> KernelFn:
    dtype = out_dtype(ctx)
    axis_option = int(option(ctx, "axis", -1))

    def run(inputs: Inputs) -> list[np.ndarray]:
        idx = np.asarray(inputs[0])
        depth = scalar(inputs[1])
        on = np.asarray(inputs[2], dtype).reshape(-1)[0]
        off = np.asarray(inputs[3], dtype).reshape(-1)[0]
        axis = idx.ndim if axis_option == -1 else axis_option
        classes = np.arange(depth).reshape((depth,) + (1,) * (idx.ndim - axis))
        hot = np.expand_dims(idx, axis) == classes
        return [np.where(hot, on, off).astype(dtype, copy=False)]

    return run


@kernel("WHERE")
def where_(ctx: OpContext) -> KernelFn:
    dtype = out_dtype(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        return [np.argwhere(inputs[0]).astype(dtype, copy=False)]

    return run


# --------------------------------------------------------------------------------------
# DENSIFY
# --------------------------------------------------------------------------------------


def densify(t: Tensor) -> np.ndarray:
    """The dense array of a sparse constant (TACO-style SparsityParameters), decoded as
    TFLite's FormatConverter does.

    The stored values follow a traversal of `traversal_order` dimensions: the tensor's own
    dimensions, then one per entry of `block_map` (the block's extent along that original
    dimension). Each traversal level is DENSE (every index 0..dense_size-1) or SPARSE_CSR
    (the indices `array_indices[segments[p]:segments[p+1]]` under parent position p). All
    paths are expanded level by level, vectorized, in storage order."""
    s = t.sparsity
    if s is None or not s.dim_metadata:
        raise InvalidModelError(f"tensor '{t.name}': no sparsity parameters to densify")
    if t.data is None:
        raise InvalidModelError(f"tensor '{t.name}': a sparse tensor without constant data")
    shape = tuple(t.shape)
    rank = len(shape)
    order = list(s.traversal_order) if s.traversal_order else list(range(rank))
    block_map = list(s.block_map or [])
    dims = s.dim_metadata
    if len(order) != rank + len(block_map) or len(dims) != len(order):
        raise InvalidModelError(
            f"tensor '{t.name}': traversal order {order}, block map {block_map} and "
            f"{len(dims)} dimension metadata do not fit rank {rank}"
        )
    block_size = [int(dims[order[rank + j]].dense_size) for j in range(len(block_map))]

    prev = np.zeros(1, np.int64)  # position of every path within the current level
    levels: list[np.ndarray] = []  # index of every path at each level so far
    for d in dims:
        if d.format == 0:  # DENSE
            size = int(d.dense_size)
            idx = np.tile(np.arange(size, dtype=np.int64), prev.size)
            levels = [np.repeat(v, size) for v in levels] + [idx]
            prev = np.repeat(prev, size) * size + idx
        else:  # SPARSE_CSR
            if d.array_segments is None or d.array_indices is None:
                raise InvalidModelError(f"tensor '{t.name}': sparse dimension without segments or indices")
            seg = d.array_segments.astype(np.int64)
            ind = d.array_indices.astype(np.int64)
            if prev.size and prev.max() + 1 >= seg.size:
                raise InvalidModelError(f"tensor '{t.name}': array_segments too short")
            lo, hi = seg[prev], np.minimum(seg[prev + 1], ind.size)
            counts = np.maximum(hi - lo, 0)
            total = int(counts.sum())
            first = np.repeat(np.cumsum(counts) - counts, counts)
            pos = np.repeat(lo, counts) + (np.arange(total, dtype=np.int64) - first)
            levels = [np.repeat(v, counts) for v in levels] + [ind[pos]]
            prev = pos

    coords: list[np.ndarray] = [np.zeros(0, np.int64)] * rank
    for i in range(rank):
        coords[order[i]] = levels[i]
    for i in range(rank, len(order)):
        b = order[i] - rank
        dim = block_map[b]
        coords[dim] = coords[dim] * block_size[b] + levels[i]
    values = np.asarray(t.data).reshape(-1)
    n = levels[0].size if levels else 0
    if values.size < n:
        raise InvalidModelError(f"tensor '{t.name}': {values.size} stored values, the sparsity needs {n}")
    dtype = t.dtype.numpy
    out = np.zeros(shape, dtype=dtype if dtype is not None else values.dtype)
    if n:
        for c, extent in zip(coords, shape):
            _check_range(c, extent, f"tensor '{t.name}'")
        out[tuple(coords)] = values[:n]
    return out


_DENSE: weakref.WeakKeyDictionary[Tensor, np.ndarray] = weakref.WeakKeyDictionary()


def _densified(t: Tensor) -> np.ndarray:
    """densify(t), once per tensor, read-only (shared by every run and every reader)."""
    found = _DENSE.get(t)
    if found is None or found.shape != tuple(t.shape):
        found = densify(t)
        found.flags.writeable = False
        _DENSE[t] = found
    return found


def dense_constant(t: Tensor | None) -> np.ndarray | None:
    """The value of `t` when it is known before running, as a dense array: a constant's data
    (decoded when the constant is sparse), or the output of a DENSIFY of a sparse constant.
    None otherwise. Kernels that want constant weights (convolutions, fully-connected) can
    call this instead of reading `t.data`, so sparse models need no DENSIFY at run time."""
    if t is None:
        return None
    if t.data is not None and not t.is_variable:
        return _densified(t) if t.sparsity is not None else t.data
    p = t.producer
    if p is not None and p.name == "DENSIFY" and p.inputs and p.inputs[0] is not None:
        src = p.inputs[0]
        if src.data is not None and not src.is_variable and src.sparsity is not None:
            dense = _densified(src)
            return dense if t.dtype.numpy in (None, dense.dtype) else dense.astype(t.dtype.numpy)
    return None


@kernel("DENSIFY")
def densify_kernel(ctx: OpContext) -> KernelFn:
    t = ctx.inputs[0]
    if t is None or t.data is None or t.sparsity is None:
        raise InvalidModelError(f"{where(ctx)}: the input must be a sparse constant")
    dense = _densified(t)
    if dense.dtype != out_dtype(ctx):
        dense = dense.astype(out_dtype(ctx))
        dense.flags.writeable = False  # shared by every run; kernels never write their inputs

    def run(inputs: Inputs) -> list[np.ndarray]:
        return [dense]

    return run
