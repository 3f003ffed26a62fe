"""Operators circle has no single operator for, composed of builtins: CumProd (a logarithmic scan of
products), Det (Gaussian elimination with partial pivoting), Unique (circle's UNIQUE plus a sort),
Compress, TensorScatter, BitCast and CenterCropPad.

`Calc`, the builder these converters and those of sampling.py, signal.py and ml.py compose with,
extends common.Emitter: values are run-time tensors or numpy constants, and operations on
constants only are computed at import, so parameters known at import (shapes, sizes) leave index
arithmetic folded into constants while the same code handles them computed at run time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir import options as circle_options

from ..context import Context, Node, Shape, Unsupported, onnx_dtype
from . import converts
from .common import Emitter, Value, axis_of, broadcast_shape, tensor_shape, value_shape
from .elementwise import default_options
from .shape import dim_at

# operators Calc computes at import when their operands are constants: circle name -> numpy
UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "FLOOR": np.floor, "ROUND": np.rint, "COS": np.cos, "SIN": np.sin, "ABS": np.abs, "NEG": np.negative,
    "LOG": np.log, "EXP": np.exp, "SQRT": np.sqrt, "LOGICAL_NOT": np.logical_not,
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "FLOOR_MOD": np.remainder, "FLOOR_DIV": np.floor_divide, "LESS_EQUAL": np.less_equal,
    "GREATER_EQUAL": np.greater_equal, "NOT_EQUAL": np.not_equal, "LOGICAL_OR": np.logical_or,
}
PREDICATES = {"LESS_EQUAL", "GREATER_EQUAL", "NOT_EQUAL", "LOGICAL_OR", "LOGICAL_NOT"}
REDUCE = {"SUM": np.sum, "REDUCE_PROD": np.prod, "REDUCE_MAX": np.max, "REDUCE_MIN": np.min,
          "REDUCE_ANY": np.any, "REDUCE_ALL": np.all}


def dtype_of(v: Value) -> DType:
    return v.dtype if isinstance(v, Tensor) else DType.from_numpy(v.dtype)


class Calc(Emitter):
    """Emitter with the further operators of this family; every method folds on constants."""

    def __init__(self, cx: Context, node: Node) -> None:
        super().__init__(cx, (node.outputs[0] if node.outputs and node.outputs[0] else node.name) + "_")

    def op(self, op_type: str, inputs: Sequence[Value | None], dtype: DType, shape: Sequence[int | None] | None,
           options: object = None) -> Tensor:
        """One operator with one new output (options: by default the operator's defaults)."""
        out = self.cx.temp(self.hint, dtype, shape)
        self.cx.emit(op_type, [None if v is None else self.tensor(v) for v in inputs], [out],
                     options if options is not None else default_options(op_type))
        return out

    def const(self, value: Any, dtype: DType) -> np.ndarray:
        return np.asarray(value, dtype.numpy)

    def apply(self, op: str, x: Value) -> Value:
        """An elementwise unary operator of UNARY."""
        if isinstance(x, np.ndarray):
            with np.errstate(all="ignore"):
                return np.asarray(UNARY[op](x))
        return self.op(op, [x], DType.BOOL if op in PREDICATES else x.dtype, value_shape(x))

    def binary(self, op_type: str, a: Value | float, b: Value | float) -> Value:
        if op_type not in BINARY:
            return super().binary(op_type, a, b)
        a, b = self._operand(a, b), self._operand(b, a)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            with np.errstate(all="ignore"):
                return np.asarray(BINARY[op_type](a, b)).astype(np.bool_ if op_type in PREDICATES else a.dtype)
        dtype = DType.BOOL if op_type in PREDICATES else (a if isinstance(a, Tensor) else b).dtype
        return self.op(op_type, [a, b], dtype, broadcast_shape(value_shape(a), value_shape(b)))

    def select(self, cond: Value, a: Value | float, b: Value | float) -> Value:
        a, b = self._operand(a, b), self._operand(b, a)
        if all(isinstance(v, np.ndarray) for v in (cond, a, b)):
            return np.where(cond, a, b)
        return super().select(cond, a, b)

    def cast(self, x: Value, dtype: DType) -> Value:
        if isinstance(x, np.ndarray):
            with np.errstate(all="ignore"):
                return x.astype(dtype.numpy)
        return super().cast(x, dtype)

    def logical_and(self, *xs: Value) -> Value:
        out = xs[0]
        for x in xs[1:]:
            out = self.binary("LOGICAL_AND", out, x)
        return out

    # --- shapes and indexing ---------------------------------------------------------------------

    def value(self, name: str) -> Value:
        """ONNX value `name`: its numpy value when known at import, else its tensor."""
        known = self.cx.const(name)
        return known if known is not None else self.cx.tensor(name)

    def dim(self, name: str, axis: int, dtype: DType = DType.INT32) -> Value:
        """Dimension `axis` of ONNX value `name`: a constant when known at import."""
        shape = self.cx.shape(name)
        if shape is not None and shape[axis] is not None:
            return self.const(shape[axis], dtype)
        return dim_at(self.cx, name, axis, dtype)

    def vector(self, items: Sequence[Value | int], dtype: DType = DType.INT32) -> Value:
        """A vector of scalars."""
        items = [self.cast(v, dtype) if isinstance(v, (Tensor, np.ndarray)) else self.const(v, dtype) for v in items]
        return self.concat([self.reshape(v, [1]) for v in items], 0)

    def reshape(self, x: Value, shape: Sequence[int] | Value) -> Value:
        """x reshaped to `shape` (a list with at most one -1, or a vector value)."""
        if isinstance(shape, (list, tuple)):
            shape = self.const(shape, DType.INT32)
        if isinstance(x, np.ndarray) and isinstance(shape, np.ndarray):
            return x.reshape([int(d) for d in shape])
        dims: Shape | None = [None] * value_shape(shape)[0] if value_shape(shape)[0] is not None else None
        options = None
        if isinstance(shape, np.ndarray):
            dims = [None if d < 0 else int(d) for d in shape]
            options = circle_options.ReshapeOptions(new_shape=[int(d) for d in shape])
        return self.op("RESHAPE", [x, self.cast(shape, DType.INT32)], dtype_of(x), dims, options)

    def expand_dims(self, x: Value, axis: int) -> Value:
        if isinstance(x, np.ndarray):
            return np.expand_dims(x, axis)
        shape = value_shape(x)
        at = axis if axis >= 0 else len(shape) + 1 + axis
        return self.op("EXPAND_DIMS", [x, self.const(axis, DType.INT32)], x.dtype, [*shape[:at], 1, *shape[at:]],
                       circle_options.ExpandDimsOptions())

    def concat(self, xs: Sequence[Value], axis: int) -> Value:
        if all(isinstance(x, np.ndarray) for x in xs):
            return np.concatenate(xs, axis=axis)
        shapes = [value_shape(x) for x in xs]
        rank = len(shapes[0])
        axis %= rank
        sizes = [s[axis] for s in shapes]
        shape = [*shapes[0][:axis], None if None in sizes else sum(sizes), *shapes[0][axis + 1:]]
        options = circle_options.ConcatenationOptions(axis=axis)
        return self.op("CONCATENATION", list(xs), dtype_of(xs[0]), shape, options)

    def gather(self, x: Value, index: Value | int, axis: int = 0, batch_dims: int = 0) -> Value:
        """x[..., index, ...] along `axis` (a scalar index drops the axis)."""
        if not isinstance(index, (Tensor, np.ndarray)):
            index = self.const(index, DType.INT32)
        if isinstance(x, np.ndarray) and isinstance(index, np.ndarray) and not batch_dims:
            return np.asarray(np.take(x, index, axis=axis))
        xs = value_shape(x)
        axis %= len(xs)
        shape = [*xs[:axis], *value_shape(index)[batch_dims:], *xs[axis + 1:]]
        return self.op("GATHER", [x, index], dtype_of(x), shape, circle_options.GatherOptions(axis, batch_dims))

    def slice(self, x: Value, begin: Sequence[int], size: Sequence[int | Value]) -> Value:
        """SLICE: `size` -1 takes the rest of a dimension; sizes may be run-time scalars."""
        size = [int(s) if isinstance(s, np.ndarray) else s for s in size]
        if isinstance(x, np.ndarray) and all(isinstance(s, int) for s in size):
            return x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))]
        xs = value_shape(x)
        shape = [(d - b if d is not None else None) if isinstance(s, int) and s == -1 else
                 (s if isinstance(s, int) else None) for d, b, s in zip(xs, begin, size)]
        return self.op("SLICE", [x, self.const(begin, DType.INT32), self.vector(size)], dtype_of(x), shape,
                       circle_options.SliceOptions())

    def range(self, limit: Value, dtype: DType = DType.INT32) -> Value:
        """0, 1, ..., limit - 1."""
        if isinstance(limit, np.ndarray):
            return np.arange(int(limit), dtype=dtype.numpy)
        limit = self.reshape(self.cast(limit, dtype), [])
        return self.op("RANGE", [self.const(0, dtype), limit, self.const(1, dtype)], dtype, [None],
                       circle_options.RangeOptions())

    def reduce(self, op: str, x: Value, axes: Sequence[int], keep: bool = False) -> Value:
        if isinstance(x, np.ndarray):
            return np.asarray(REDUCE[op](x, axis=tuple(axes), keepdims=keep)).astype(x.dtype)
        shape = value_shape(x)
        axes = [a % len(shape) for a in axes]
        shape = [1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes]
        return self.op(op, [x, self.const(axes, DType.INT32)], x.dtype, shape, circle_options.ReducerOptions(keep))

    def transpose(self, x: Value, perm: Sequence[int]) -> Value:
        if isinstance(x, np.ndarray):
            return np.transpose(x, perm)
        return self.cx.transpose(x, perm)

    def size(self, x: Value) -> Value:
        """The number of elements of x, a scalar (int32)."""
        shape = value_shape(x)
        if None not in shape:
            return self.const(math.prod(shape), DType.INT32)
        shape_t = self.op("SHAPE", [x], DType.INT32, [len(shape)], circle_options.ShapeOptions(out_type=DType.INT32))
        return self.reduce("REDUCE_PROD", shape_t, [0])


def bind(cx: Context, name: str, v: Value) -> None:
    """Make `v` the value of ONNX output `name`: a constant when computed at import, else the tensor,
    given the dimensions ONNX's shape inference knows of `name` where it has them unknown."""
    if isinstance(v, np.ndarray) or v.is_constant:
        cx.set_const(name, np.asarray(v if isinstance(v, np.ndarray) else v.data))
        return
    known = cx.graph.types.get(name, (None, None))[1]
    mine = tensor_shape(v)
    if known is not None and (mine is None or len(mine) == len(known)) and v.producer is not None:
        dims = [k if k is not None else m for k, m in zip(known, mine or known)]
        v.shape = tuple(1 if d is None else int(d) for d in dims)
        v.shape_signature = tuple(-1 if d is None else int(d) for d in dims) if None in dims else None
        v.has_rank = True
    cx.values[name] = v


def float_input(c: Calc, t: Tensor) -> tuple[Tensor, bool]:
    """A float operand computed in float32: float16 is cast (True: cast the result back)."""
    if t.dtype not in (DType.FLOAT32, DType.FLOAT16):
        raise Unsupported(f"element type {t.dtype.name}")
    return (c.cast(t, DType.FLOAT32), True) if t.dtype == DType.FLOAT16 else (t, False)


def static_dim(cx: Context, name: str, axis: int, what: str) -> int:
    shape = cx.shape(name)
    if shape is None or shape[axis] is None:
        raise Unsupported(f"{what} must be known at import")
    return int(shape[axis])


# --- CumProd ----------------------------------------------------------------------------------------


def _shift(c: Calc, x: Tensor, axis: int, step: int, length: int) -> Value:
    """x moved `step` places along `axis`, ones coming in."""
    shape = value_shape(x)
    rank = len(shape)
    paddings = np.zeros((rank, 2), np.int32)
    paddings[axis, 0] = step
    shape[axis] = length + step
    padded = c.op("PADV2", [x, paddings, c.const(1, x.dtype)], x.dtype, shape, circle_options.PadV2Options())
    return c.slice(padded, [0] * rank, [length if i == axis else -1 for i in range(rank)])


def _scan_product(c: Calc, x: Tensor, axis: int, length: int, exclusive: bool, reverse: bool) -> Value:
    """Cumulative products along `axis` in log2(length) steps: y *= y moved by 1, 2, 4, ..."""
    axis_t = c.const([axis], DType.INT32)
    y: Value = c.op("REVERSE_V2", [x, axis_t], x.dtype, value_shape(x)) if reverse else x
    if exclusive:
        y = _shift(c, y, axis, 1, length)
    step = 1
    while step < length:
        y = c.mul(y, _shift(c, y, axis, step, length))
        step *= 2
    return c.op("REVERSE_V2", [y, axis_t], x.dtype, value_shape(x)) if reverse else y


@converts("CumProd")
def cum_prod(cx: Context, node: Node) -> None:
    """A scan per candidate axis; an axis computed at run time selects among them."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    c = Calc(cx, node)
    xt, wide = cx.tensor(x), False
    if xt.dtype not in (DType.INT32, DType.INT64):
        xt, wide = float_input(c, xt)
    axis = c.value(node.input(1))
    if isinstance(axis, np.ndarray):
        axes = [axis_of(node, int(axis.reshape(-1)[0]), rank)]
    else:
        axes, axis = list(range(rank)), c.binary("FLOOR_MOD", c.cast(axis, DType.INT32), rank)
    flags = bool(node.attr("exclusive", 0)), bool(node.attr("reverse", 0))
    y = None
    for a in axes:
        scan = _scan_product(c, xt, a, static_dim(cx, x, a, f"the length of axis {a}"), *flags)
        y = scan if y is None else c.select(c.binary("EQUAL", axis, a), scan, y)
    bind(cx, node.outputs[0], c.cast(y, DType.FLOAT16) if wide else y)


# --- Det --------------------------------------------------------------------------------------------


@converts("Det")
def det(cx: Context, node: Node) -> None:
    """Gaussian elimination with partial pivoting (as LAPACK's LU): per column, the row of largest
    magnitude is swapped to the top, its pivot multiplies the determinant (negated when a swap
    happened), and the rows below are eliminated."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    if rank < 2:
        raise Unsupported("the input has rank below 2")
    n = static_dim(cx, x, -1, "the matrix size")
    c = Calc(cx, node)
    a, wide = float_input(c, cx.tensor(x))
    rows = rank - 2  # the axis of rows; the batch axes come before it
    result: Value | None = None
    for size in range(n, 1, -1):
        column = c.gather(a, 0, axis=-1)
        index = c.op("ARG_MAX", [c.apply("ABS", column), c.const([rows], DType.INT32)], DType.INT32,
                     value_shape(column)[:-1], circle_options.ArgMaxOptions(output_type=DType.INT32))
        pivot_row = c.gather(a, index, axis=rows, batch_dims=rows)
        pivot = c.gather(pivot_row, 0, axis=-1)
        factor = c.select(c.binary("EQUAL", index, 0), pivot, c.apply("NEG", pivot))
        result = factor if result is None else c.mul(result, factor)
        below = c.slice(a, [0] * rows + [1, 0], [-1] * rank)
        swapped = c.binary("EQUAL", c.expand_dims(index, -1), np.arange(1, size, dtype=np.int32))
        below = c.select(c.expand_dims(swapped, -1), c.expand_dims(c.gather(a, 0, axis=rows), rows), below)
        safe = c.select(c.binary("EQUAL", pivot, 0), 1.0, pivot)
        factors = c.div(c.gather(below, 0, axis=-1), c.expand_dims(safe, -1))
        tail = c.expand_dims(c.slice(pivot_row, [0] * rows + [1], [-1] * (rows + 1)), rows)
        a = c.sub(c.slice(below, [0] * rows + [0, 1], [-1] * rank), c.mul(c.expand_dims(factors, -1), tail))
    last = c.gather(c.gather(a, 0, axis=-1), 0, axis=-1)
    result = last if result is None else c.mul(result, last)
    bind(cx, node.outputs[0], c.cast(result, DType.FLOAT16) if wide else result)


# --- Unique -----------------------------------------------------------------------------------------


def _unique_ids(c: Calc, ids: Value) -> tuple[Tensor, Tensor, Value]:
    """UNIQUE of a vector: the distinct values in order of first occurrence, each element's position
    among them (int64), and their count (an int32 scalar)."""
    values = c.cx.temp(c.hint + "_unique", dtype_of(ids), [None])
    position = c.cx.temp(c.hint + "_unique_index", DType.INT64, value_shape(ids))
    c.cx.emit("UNIQUE", [c.tensor(ids)], [values, position], circle_options.UniqueOptions(idx_out_type=DType.INT64))
    return values, position, c.gather(c.op("SHAPE", [values], DType.INT32, [1], circle_options.ShapeOptions(
        out_type=DType.INT32)), 0)


def _segment(c: Calc, op: str, data: Value, ids: Tensor, count: Value) -> Tensor:
    return c.op(op, [data, ids, count], dtype_of(data), [None])


def _lexicographic_ranks(c: Calc, rows: Value) -> Value:
    """For distinct rows (U, R): how many rows are lexicographically smaller than each."""
    a, b = c.expand_dims(rows, 1), c.expand_dims(rows, 0)
    differ = c.cast(c.binary("NOT_EQUAL", a, b), DType.INT32)
    shape = value_shape(differ)
    earlier = c.op("CUMSUM", [differ, c.const(2, DType.INT32)], DType.INT32, shape,
                   circle_options.CumsumOptions(exclusive=True))
    first = c.logical_and(c.binary("LESS", a, b), c.binary("EQUAL", earlier, 0))
    less = c.reduce("REDUCE_ANY", first, [2])  # less[i, j]: row i before row j
    return c.reduce("SUM", c.cast(less, DType.INT32), [0])


def _invert(c: Calc, permutation: Value, count: Value) -> Tensor:
    """The inverse of a permutation of 0..count-1 (a SCATTER_ND of the positions)."""
    return c.op("SCATTER_ND", [c.reshape(permutation, [-1, 1]), c.range(count), c.reshape(count, [1])], DType.INT32,
                [None], circle_options.ScatterNdOptions())


@converts("Unique")
def unique(cx: Context, node: Node) -> None:
    """Without an axis: UNIQUE of the flattened input, sorted by TOPK_V2. With an axis: UNIQUE of
    the index of each slice's first equal slice (a pairwise comparison), sorted by lexicographic
    ranks. `order` maps sorted positions to positions in order of occurrence, `ranks` back."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    c = Calc(cx, node)
    xt = cx.tensor(x)
    axis = node.attr("axis")
    order = ranks = None
    if axis is None:
        gather_axis = 0
        values, inverse, count = _unique_ids(c, c.reshape(xt, [-1]))
        if node.attr("sorted", 1):
            top = c.cx.temp(c.hint + "_top", values.dtype, [None])
            descending = c.cx.temp(c.hint + "_order", DType.INT32, [None])
            cx.emit("TOPK_V2", [values, c.tensor(count)], [top, descending], circle_options.TopKV2Options())
            order = c.op("REVERSE_V2", [descending, c.const([0], DType.INT32)], DType.INT32, [None])
            ranks = _invert(c, order, count)
    else:
        gather_axis = axis_of(node, int(axis), rank)
        perm = [gather_axis, *(i for i in range(rank) if i != gather_axis)]
        rest = [(cx.shape(x) or [None] * rank)[i] for i in perm[1:]]
        if None in rest:
            raise Unsupported("the dimensions besides the axis must be known at import")
        rows = c.reshape(c.transpose(xt, perm), [-1, math.prod(rest)])
        same = c.reduce("REDUCE_ALL", c.binary("EQUAL", c.expand_dims(rows, 1), c.expand_dims(rows, 0)), [2])
        first = c.op("ARG_MAX", [c.cast(same, DType.INT32), c.const([1], DType.INT32)], DType.INT32, [None],
                     circle_options.ArgMaxOptions(output_type=DType.INT32))
        values, inverse, count = _unique_ids(c, first)
        if node.attr("sorted", 1):
            ranks = _lexicographic_ranks(c, c.gather(rows, values))
            order = _invert(c, ranks, count)
    elements = c.size(inverse)
    firsts = values if axis is not None else \
        _segment(c, "UNSORTED_SEGMENT_MIN", c.range(elements, DType.INT64), inverse, count)
    ones = c.add(c.op("ZEROS_LIKE", [inverse], DType.INT64, value_shape(inverse)), 1)
    counts = _segment(c, "UNSORTED_SEGMENT_SUM", ones, inverse, count)
    y = c.gather(xt, values, axis=gather_axis) if axis is not None else values
    if order is not None:
        y, firsts, counts = c.gather(y, order, axis=gather_axis), c.gather(firsts, order), c.gather(counts, order)
        inverse = c.gather(ranks, inverse)
    for name, v in zip(node.outputs, (y, firsts, inverse, counts)):
        if name:
            bind(cx, name, v if v is y else c.cast(v, DType.INT64))


# --- Compress, TensorScatter, BitCast, CenterCropPad ----------------------------------------------------


@converts("Compress")
def compress(cx: Context, node: Node) -> None:
    """GATHER of the positions WHERE lists (along the axis, or of the flattened input)."""
    x = node.input(0)
    c = Calc(cx, node)
    xt: Value = cx.tensor(x)
    axis = node.attr("axis")
    if axis is None:
        xt = c.reshape(xt, [-1])
    else:
        axis = axis_of(node, int(axis), cx.need_rank(node, x))
    condition = cx.const(node.input(1))
    if condition is not None:
        index: Value = np.nonzero(condition.reshape(-1))[0].astype(np.int32)
    else:
        where = c.op("WHERE", [cx.tensor(node.input(1))], DType.INT64, [None, 1], circle_options.WhereOptions())
        index = c.reshape(where, [-1])
    bind(cx, node.outputs[0], c.gather(xt, index, axis=axis or 0))


@converts("TensorScatter")
def tensor_scatter(cx: Context, node: Node) -> None:
    """Each cache position takes the update element it receives (a GATHER per batch entry of the
    update at position - write index) where the window covers it, else keeps the past value."""
    past, update = node.input(0), node.input(1)
    rank = cx.need_rank(node, past)
    axis = axis_of(node, int(node.attr("axis", -2)), rank)
    mode = node.attr("mode", "linear")
    if axis == 0 or mode not in ("linear", "circular"):
        raise Unsupported(f"mode '{mode}'" if axis else "axis 0 (the batch axis)")
    c = Calc(cx, node)
    length, written = c.dim(past, axis, DType.INT64), c.dim(update, axis, DType.INT64)
    position: Value = c.range(length, DType.INT64)
    if node.input(2):
        start = c.reshape(c.cast(cx.tensor(node.input(2)), DType.INT64), [-1, 1])
        position = c.sub(position, start)
    if mode == "circular":
        position = c.binary("FLOOR_MOD", position, length)
    inside = c.logical_and(c.binary("GREATER_EQUAL", position, 0), c.binary("LESS", position, written))
    batched = len(value_shape(position)) == 2
    taken = c.gather(cx.tensor(update), c.clamp(position, 0, c.sub(written, 1)), axis=axis, batch_dims=int(batched))
    for at in [*([1] * (axis - 1) if batched else [0] * axis), *[-1] * (rank - 1 - axis)]:
        inside = c.expand_dims(inside, at)
    bind(cx, node.outputs[0], c.select(inside, taken, cx.tensor(past)))


@converts("BitCast")
def bit_cast(cx: Context, node: Node) -> None:
    x = node.input(0)
    source, target = cx.dtype(x), onnx_dtype(int(node.attr("to")), f"{node}")
    if np.dtype(source.numpy).itemsize != np.dtype(target.numpy).itemsize:
        raise Unsupported(f"{source.name} and {target.name} differ in width")
    cx.emit("BITCAST", [cx.tensor(x)], [cx.output(node.outputs[0], target, cx.shape(x))],
            circle_options.BitcastOptions())


def _spread(c: Calc, values: Value, axes: list[int], rank: int, default: int) -> Value:
    """A vector over all `rank` dimensions: `values` at `axes`, `default` elsewhere."""
    table = c.concat([c.cast(values, DType.INT32), c.const([default], DType.INT32)], 0)
    return c.gather(table, c.const([axes.index(i) if i in axes else len(axes) for i in range(rank)], DType.INT32))


@converts("CenterCropPad")
def center_crop_pad(cx: Context, node: Node) -> None:
    """A SLICE of the centred part that fits, then a PAD centring it in the target shape (the odd
    cell of a crop or pad at the end)."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    axes = [axis_of(node, int(a), rank) for a in node.attr("axes", range(rank))]
    c = Calc(cx, node)
    target_v = c.cast(c.value(node.input(1)), DType.INT32)
    shape = cx.shape(x) or [None] * rank
    dims: Value = c.vector([c.dim(x, a) for a in axes])
    kept = c.binary("MINIMUM", dims, target_v)
    grown = c.sub(target_v, kept)
    before = c.binary("FLOOR_DIV", grown, 2)
    y: Value = cx.tensor(x)
    begin = _spread(c, c.binary("FLOOR_DIV", c.sub(dims, kept), 2), axes, rank, 0)
    if not (isinstance(kept, np.ndarray) and all(kept[i] == shape[a] for i, a in enumerate(axes))):
        sliced = [(int(kept[axes.index(i)]) if isinstance(kept, np.ndarray) else None) if i in axes else shape[i]
                  for i in range(rank)]
        y = c.op("SLICE", [y, begin, _spread(c, kept, axes, rank, -1)], y.dtype, sliced, circle_options.SliceOptions())
    paddings = c.concat([c.reshape(_spread(c, v, axes, rank, 0), [rank, 1]) for v in (before, c.sub(grown, before))], 1)
    if not (isinstance(paddings, np.ndarray) and not paddings.any()):
        y = c.op("PAD", [y, paddings], y.dtype, [None] * rank, circle_options.PadOptions())
    bind(cx, node.outputs[0], y)
