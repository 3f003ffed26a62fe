"""Index-driven operators: Gather, GatherElements, GatherND, ScatterND, ScatterElements (and the old
Scatter), OneHot, NonZero.

ONNX indices may count from the end of a dimension (negative); circle's may not, so run-time
indices are taken modulo the dimension (FLOOR_MOD) unless they come from an operator whose
results are never negative. circle's SCATTER_ND writes into zeros and adds duplicate indices;
ONNX's ScatterND overwrites `data`, or combines with it by a reduction: a mask of the written
elements selects between the two."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ConcatenationOptions, GatherNdOptions, GatherOptions, OneHotOptions, ReducerOptions, ReshapeOptions,
    ScatterNdOptions, StridedSliceOptions, TransposeOptions, WhereOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import axis_of, tensor_shape
from .index import bind
from .shape import (
    INT32_MAX, as_tensor, cast, const, dim_at, dims_at, emit_new, required_param, shape_of, shape_vector, to_int32,
)

#: Operators whose (index) results are never negative, and those that keep that property
NONNEGATIVE = {"ARG_MAX", "ARG_MIN", "WHERE", "SHAPE"}
PASS_THROUGH = {"CAST", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "TRANSPOSE", "GATHER"}


def _nonnegative(t: Tensor) -> bool:
    while t.producer is not None and t.producer.name in PASS_THROUGH and t.producer.inputs[0] is not None:
        t = t.producer.inputs[0]
    p = t.producer
    if p is None:
        return t.is_constant and bool((np.asarray(t.data) >= 0).all())
    return p.name in NONNEGATIVE or (p.name == "TOPK_V2" and t is p.outputs[1])


def in_range(cx: Context, idx: Tensor, dims: Tensor) -> Tensor:
    """Indices made non-negative: idx mod dims (dims broadcast along idx)."""
    if _nonnegative(idx):
        return idx
    return emit_new(cx, "FLOOR_MOD", [idx, cast(cx, dims, idx.dtype)], idx.dtype, tensor_shape(idx))


def _static_indices_shape(cx: Context, name: str) -> tuple[int, ...]:
    shape = cx.static_shape(name)
    if shape is None:
        raise Unsupported(f"the shape of the indices '{name}' must be known at import")
    return shape


# --- Gather family ----------------------------------------------------------------------------


@converts("Gather")
def gather(cx: Context, node: Node) -> None:
    data, indices = node.input(0), node.input(1)
    axis = axis_of(node, int(node.attr("axis", 0)), cx.need_rank(node, data))
    idx = cx.tensor(indices)
    idx = in_range(cx, idx, dim_at(cx, data, axis, idx.dtype))
    cx.emit("GATHER", [cx.tensor(data), idx], [cx.output(node.outputs[0], cx.dtype(data))], GatherOptions(axis=axis))


@converts("GatherElements")
def gather_elements(cx: Context, node: Node) -> None:
    """A GATHER along the last dimension with every other dimension a batch dimension: the axis is
    transposed last, and `data` cut to the indices' extent in the other dimensions."""
    data, indices = node.input(0), node.input(1)
    rank = cx.need_rank(node, data)
    axis = axis_of(node, int(node.attr("axis", 0)), rank)
    idx = cx.tensor(indices)
    idx = in_range(cx, idx, dim_at(cx, data, axis, idx.dtype))
    x = cx.tensor(data)
    d_shape, i_shape = cx.shape(data) or [None] * rank, cx.shape(indices) or [None] * rank
    if any(a is None or b is None or a != b for i, (a, b) in enumerate(zip(d_shape, i_shape)) if i != axis):
        ends = emit_new(cx, "CONCATENATION", [shape_vector(cx, indices), const(cx, [INT32_MAX], DType.INT32)],
                        DType.INT32, [rank + 1], ConcatenationOptions(axis=0))
        ends = emit_new(cx, "GATHER", [ends, const(cx, [rank if i == axis else i for i in range(rank)], DType.INT32)],
                        DType.INT32, [rank], GatherOptions())
        x = emit_new(cx, "STRIDED_SLICE", [x, const(cx, [0] * rank, DType.INT32), ends,
                                           const(cx, [1] * rank, DType.INT32)], x.dtype, None, StridedSliceOptions())
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    if axis != rank - 1:
        x, idx = cx.transpose(x, perm), cx.transpose(idx, perm)
    y = emit_new(cx, "GATHER", [x, idx], x.dtype, tensor_shape(idx), GatherOptions(axis=rank - 1, batch_dims=rank - 1))
    bind(cx, node.outputs[0], cx.transpose(y, perm) if axis != rank - 1 else y)


@converts("GatherND")
def gather_nd(cx: Context, node: Node) -> None:
    """GATHER_ND; batch dimensions become leading coordinates taken from a constant grid."""
    data, indices = node.input(0), node.input(1)
    batch = int(node.attr("batch_dims", 0))
    idx = cx.tensor(indices)
    i_shape = cx.shape(indices)
    depth = None if not i_shape else i_shape[-1]
    if depth is None:
        raise Unsupported("the last dimension of the indices must be known at import")
    idx = in_range(cx, idx, dims_at(cx, data, list(range(batch, batch + depth)), idx.dtype))
    if batch:
        shape = _static_indices_shape(cx, indices)
        grid = np.stack(np.indices(shape[:-1])[:batch], axis=-1)
        idx = emit_new(cx, "CONCATENATION", [const(cx, grid, idx.dtype), idx], idx.dtype, [*shape[:-1], batch + depth],
                       ConcatenationOptions(axis=len(shape) - 1))
    cx.emit("GATHER_ND", [cx.tensor(data), idx], [cx.output(node.outputs[0], cx.dtype(data))], GatherNdOptions())


# --- Scatter family ---------------------------------------------------------------------------

#: ONNX reductions -> the circle operator combining data and the scattered updates
REDUCTIONS = {"none": None, "add": "ADD", "mul": "MUL", "max": "MAXIMUM", "min": "MINIMUM"}
#: ... and the one combining the updates that go to the same element
SEGMENT_REDUCTIONS = {"mul": "UNSORTED_SEGMENT_PROD", "max": "UNSORTED_SEGMENT_MAX", "min": "UNSORTED_SEGMENT_MIN"}


def _scatter(cx: Context, node: Node, coords: Tensor, updates: Tensor) -> None:
    """ONNX ScatterND of `updates` at `coords` (non-negative, [..., k]) into input 0.

    add: data + SCATTER_ND (which adds duplicates). Other reductions with constant indices: one
    round per repeated index, each writing unique elements. Indices computed at run time: none
    overwrites the elements SCATTER_ND writes; mul, max and min first combine the updates per
    element with an UNSORTED_SEGMENT_* over the elements' flat positions."""
    data = node.input(0)
    reduction = node.attr("reduction", "none")
    if reduction not in REDUCTIONS:
        raise Unsupported(f"reduction '{reduction}'")
    x = cx.tensor(data)
    rank = cx.need_rank(node, data)
    coords = to_int32(cx, coords)
    shape = shape_vector(cx, data)
    if reduction == "add":
        scattered = emit_new(cx, "SCATTER_ND", [coords, updates, shape], x.dtype, tensor_shape(x), ScatterNdOptions())
        bind(cx, node.outputs[0], emit_new(cx, "ADD", [x, scattered], x.dtype, tensor_shape(x)))
        return
    depth = (tensor_shape(coords) or [None])[-1]
    dims = cx.shape(data) or [None] * rank
    if depth is None or None in dims[:depth]:
        raise Unsupported("the indexed dimensions must be known at import")
    if coords.is_constant:
        bind(cx, node.outputs[0], _scatter_rounds(cx, node, x, coords.data, updates, shape, dims[:depth]))
        return
    if reduction == "none":
        scattered = emit_new(cx, "SCATTER_ND", [coords, updates, shape], x.dtype, tensor_shape(x), ScatterNdOptions())
    else:
        strides = [int(np.prod(dims[i + 1:depth])) for i in range(depth)]
        flat = emit_new(cx, "MUL", [coords, const(cx, strides, DType.INT32)], DType.INT32, tensor_shape(coords))
        flat = emit_new(cx, "SUM", [flat, const(cx, [-1], DType.INT32)], DType.INT32, (tensor_shape(coords) or [])[:-1],
                        ReducerOptions(keep_dims=False))
        segments = emit_new(cx, SEGMENT_REDUCTIONS[reduction], [updates, flat, const(cx, int(np.prod(dims[:depth])),
                                                                                      DType.INT32)], x.dtype)
        scattered = emit_new(cx, "RESHAPE", [segments, shape], x.dtype, tensor_shape(x), ReshapeOptions())
    bind(cx, node.outputs[0], _merge(cx, x, scattered, _written(cx, coords, updates, shape, x), REDUCTIONS[reduction]))


def _scatter_rounds(cx: Context, node: Node, x: Tensor, coords: np.ndarray, updates: Tensor, shape: Tensor,
                    dims: list[int]) -> Tensor:
    """Scatter with constant indices: round r writes the r-th occurrence of every index, so the
    indices of a round are unique, and its mask of written elements a constant."""
    flat = coords.reshape(-1, coords.shape[-1])
    rank, k = cx.need_rank(node, node.input(0)), flat.shape[1]
    rounds: list[int] = []
    counts: dict[tuple[int, ...], int] = {}
    for key in map(tuple, flat.tolist()):
        rounds.append(counts.get(key, 0))
        counts[key] = rounds[-1] + 1
    y = x
    for r in range(max(rounds, default=-1) + 1):
        rows = np.nonzero(np.array(rounds) == r)[0]
        mask = np.zeros(dims, bool)
        mask[tuple(flat[rows].T)] = True
        part = _updates_rows(cx, node, updates, rows, len(flat), k)
        scattered = emit_new(cx, "SCATTER_ND", [const(cx, flat[rows], DType.INT32), part, shape], y.dtype,
                             tensor_shape(y), ScatterNdOptions())
        written = const(cx, mask.reshape(mask.shape + (1,) * (rank - k)), DType.BOOL)
        y = _merge(cx, y, scattered, written, REDUCTIONS[node.attr("reduction", "none")])
    return y


def _updates_rows(cx: Context, node: Node, updates: Tensor, rows: np.ndarray, n: int, k: int) -> Tensor:
    """The update slices `rows` (of the `n` index tuples), all of them as they are."""
    if len(rows) == n:
        return updates
    dims = cx.shape(node.input(0)) or []
    inner = dims[k:]
    if None in inner:
        raise Unsupported("duplicate indices need the updated slices' shape known at import")
    flat = emit_new(cx, "RESHAPE", [updates, const(cx, [n, *inner], DType.INT32)], updates.dtype, [n, *inner],
                    ReshapeOptions(new_shape=[n, *inner]))
    return emit_new(cx, "GATHER", [flat, const(cx, rows, DType.INT32)], updates.dtype, [len(rows), *inner],
                    GatherOptions())


def _written(cx: Context, coords: Tensor, updates: Tensor, shape: Tensor, like: Tensor) -> Tensor:
    """Which elements of `like` a SCATTER_ND at `coords` writes: ones scattered the same way."""
    u_shape = tensor_shape(updates)
    ones_shape = const(cx, u_shape, DType.INT32) if u_shape is not None and None not in u_shape else \
        shape_of(cx, updates)
    ones = emit_new(cx, "FILL", [ones_shape, const(cx, 1, DType.INT32)], DType.INT32, u_shape)
    hits = emit_new(cx, "SCATTER_ND", [coords, ones, shape], DType.INT32, tensor_shape(like), ScatterNdOptions())
    return emit_new(cx, "NOT_EQUAL", [hits, const(cx, 0, DType.INT32)], DType.BOOL, tensor_shape(like))


def _merge(cx: Context, y: Tensor, scattered: Tensor, written: Tensor, combine: str | None) -> Tensor:
    """y where not `written`, else the scattered values (combined with y's by `combine`)."""
    if combine is not None:
        scattered = emit_new(cx, combine, [y, scattered], y.dtype, tensor_shape(y))
    return emit_new(cx, "SELECT_V2", [written, scattered, y], y.dtype, tensor_shape(y))


@converts("ScatterND")
def scatter_nd(cx: Context, node: Node) -> None:
    data, indices = node.input(0), node.input(1)
    idx = cx.tensor(indices)
    i_shape = cx.shape(indices)
    depth = None if not i_shape else i_shape[-1]
    if depth is None:
        raise Unsupported("the last dimension of the indices must be known at import")
    idx = in_range(cx, idx, dims_at(cx, data, list(range(depth)), idx.dtype))
    _scatter(cx, node, idx, cx.tensor(node.input(2)))


@converts("ScatterElements", "Scatter")
def scatter_elements(cx: Context, node: Node) -> None:
    """ScatterND with every index completed to a full coordinate by a constant grid."""
    data, indices = node.input(0), node.input(1)
    rank = cx.need_rank(node, data)
    axis = axis_of(node, int(node.attr("axis", 0)), rank)
    shape = _static_indices_shape(cx, indices)
    idx = cx.tensor(indices)
    idx = in_range(cx, idx, dim_at(cx, data, axis, idx.dtype))
    grid = np.indices(shape)
    parts = [idx if i == axis else const(cx, grid[i], idx.dtype) for i in range(rank)]
    parts = [emit_new(cx, "RESHAPE", [p, const(cx, [*shape, 1], DType.INT32)], idx.dtype, [*shape, 1],
                      ReshapeOptions(new_shape=[*shape, 1])) for p in parts]
    coords = emit_new(cx, "CONCATENATION", parts, idx.dtype, [*shape, rank], ConcatenationOptions(axis=len(shape)))
    _scatter(cx, node, coords, cx.tensor(node.input(2)))


# --- OneHot, NonZero --------------------------------------------------------------------------


@converts("OneHot")
def one_hot(cx: Context, node: Node) -> None:
    """ONE_HOT; negative indices count from the end of the depth first (ONNX), which circle
    would take as out of range (all off)."""
    indices, values = node.input(0), cx.tensor(node.input(2))
    rank = cx.need_rank(node, indices)
    axis = int(node.attr("axis", -1))
    if not -rank - 1 <= axis <= rank:
        raise Unsupported(f"axis {axis} is out of range for output rank {rank + 1}")
    axis = axis + rank + 1 if axis < 0 else axis
    idx = cx.tensor(indices)
    if idx.dtype not in (DType.INT32, DType.INT64):
        idx = cast(cx, idx, DType.INT64)
    depth = required_param(cx, node, 1, "the depth is missing")
    depth = emit_new(cx, "RESHAPE", [as_tensor(cx, depth, DType.INT32), const(cx, [], DType.INT32)], DType.INT32, [],
                     ReshapeOptions(new_shape=[]))
    if not _nonnegative(idx):
        negative = emit_new(cx, "LESS", [idx, const(cx, 0, idx.dtype)], DType.BOOL, tensor_shape(idx))
        wrapped = emit_new(cx, "ADD", [idx, cast(cx, depth, idx.dtype)], idx.dtype, tensor_shape(idx))
        idx = emit_new(cx, "SELECT_V2", [negative, wrapped, idx], idx.dtype, tensor_shape(idx))
    off, on = (emit_new(cx, "GATHER", [values, const(cx, i, DType.INT32)], values.dtype, [], GatherOptions())
               for i in (0, 1))
    cx.emit("ONE_HOT", [idx, depth, on, off], [cx.output(node.outputs[0], values.dtype)], OneHotOptions(axis=axis))


@converts("NonZero")
def non_zero(cx: Context, node: Node) -> None:
    """WHERE lists the coordinates one per row; ONNX wants one per column."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    rows = emit_new(cx, "WHERE", [cx.tensor(x)], DType.INT64, [None, rank], WhereOptions())
    cx.emit("TRANSPOSE", [rows, const(cx, [1, 0], DType.INT32)], [cx.output(node.outputs[0], DType.INT64)],
            TransposeOptions())
