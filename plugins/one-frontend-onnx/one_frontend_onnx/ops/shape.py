"""Shape operators: Identity, Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Concat, Split, Expand,
Tile, Shape, Size, ConstantOfShape, Range; and the builders the converters of this family compose
circle operators with.

Parameters later opsets turned from attributes into inputs (axes, splits, pads, repeats, ...) may
be computed at run time; the converters then compute with them in circle. `emit_new` computes an
operator whose inputs are all constant with numpy instead of emitting it, so the same code folds
index arithmetic on import-time values and leaves no trace of it in the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    AbsOptions, AddOptions, BroadcastToOptions, CastOptions, ConcatenationOptions, DivOptions, EqualOptions,
    ExpandDimsOptions, FillOptions, FloorModOptions, GatherNdOptions, GatherOptions, GreaterEqualOptions,
    GreaterOptions, LessEqualOptions, LessOptions, LogicalOrOptions, MaximumMinimumOptions, MulOptions, NegOptions,
    NotEqualOptions, RangeOptions, ReducerOptions, ReshapeOptions, ReverseV2Options, ScatterNdOptions,
    SelectV2Options, ShapeOptions, SplitOptions, SplitVOptions, SqueezeOptions, StridedSliceOptions, SubOptions,
    TileOptions, TransposeOptions, UnsortedSegmentMaxOptions, UnsortedSegmentMinOptions, UnsortedSegmentProdOptions,
)

from ..context import Context, Node, Shape, Unsupported
from . import converts
from .common import axis_of, broadcast_shape, reshape, tensor_shape

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# --- builders ---------------------------------------------------------------------------------

OPTIONS: dict[str, type | None] = {  # None: the operator has no options
    "ADD": AddOptions, "SUB": SubOptions, "MUL": MulOptions, "NEG": NegOptions, "FLOOR_MOD": FloorModOptions,
    "MAXIMUM": MaximumMinimumOptions, "MINIMUM": MaximumMinimumOptions, "EQUAL": EqualOptions,
    "NOT_EQUAL": NotEqualOptions, "LESS": LessOptions, "LESS_EQUAL": LessEqualOptions,
    "GREATER_EQUAL": GreaterEqualOptions, "SELECT_V2": SelectV2Options, "RANGE": RangeOptions,
    "SCATTER_ND": ScatterNdOptions, "GATHER_ND": GatherNdOptions, "TILE": TileOptions, "FILL": FillOptions,
    "BROADCAST_TO": BroadcastToOptions, "REVERSE_V2": ReverseV2Options, "TRANSPOSE": TransposeOptions,
    "EXPAND_DIMS": ExpandDimsOptions, "RESHAPE": ReshapeOptions, "STRIDED_SLICE": StridedSliceOptions,
    "DIV": DivOptions, "GREATER": GreaterOptions, "LOGICAL_OR": LogicalOrOptions, "FLOOR": None, "CEIL": None,
    "UNSORTED_SEGMENT_PROD": UnsortedSegmentProdOptions, "UNSORTED_SEGMENT_MAX": UnsortedSegmentMaxOptions,
    "UNSORTED_SEGMENT_MIN": UnsortedSegmentMinOptions, "GATHER": GatherOptions, "ABS": AbsOptions,
}


def _scatter_nd(a: list[np.ndarray]) -> np.ndarray:
    idx, updates, shape = a
    out = np.zeros([int(d) for d in shape], updates.dtype)
    k = idx.shape[-1]
    np.add.at(out, tuple(idx.reshape(-1, k).T), updates.reshape((-1, *out.shape[k:])))
    return out


def _strided_slice(a: list[np.ndarray], o: StridedSliceOptions) -> np.ndarray:
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(*a[1:])):
        index.append(slice(None if o.begin_mask >> i & 1 else int(b), None if o.end_mask >> i & 1 else int(e), int(s)))
        if o.shrink_axis_mask >> i & 1:
            index[-1] = int(b)
    return a[0][tuple(index)]


#: numpy equivalents of the operators `emit_new` folds when their inputs are all constant
FOLD: dict[str, Callable[[list[np.ndarray], Any], np.ndarray]] = {
    "ADD": lambda a, o: a[0] + a[1], "SUB": lambda a, o: a[0] - a[1], "MUL": lambda a, o: a[0] * a[1],
    "NEG": lambda a, o: -a[0], "FLOOR_MOD": lambda a, o: np.remainder(a[0], a[1]),
    "MAXIMUM": lambda a, o: np.maximum(a[0], a[1]), "MINIMUM": lambda a, o: np.minimum(a[0], a[1]),
    "EQUAL": lambda a, o: a[0] == a[1], "NOT_EQUAL": lambda a, o: a[0] != a[1], "LESS": lambda a, o: a[0] < a[1],
    "LESS_EQUAL": lambda a, o: a[0] <= a[1], "GREATER_EQUAL": lambda a, o: a[0] >= a[1],
    "SELECT_V2": lambda a, o: np.where(a[0], a[1], a[2]), "CAST": lambda a, o: a[0],
    "RESHAPE": lambda a, o: a[0].reshape(a[1]), "GATHER": lambda a, o: np.take(a[0], a[1], axis=o.axis),
    "CONCATENATION": lambda a, o: np.concatenate(a, axis=o.axis),
    "RANGE": lambda a, o: np.arange(a[0], a[1], a[2]), "TRANSPOSE": lambda a, o: np.transpose(a[0], a[1]),
    "SCATTER_ND": lambda a, o: _scatter_nd(a), "EXPAND_DIMS": lambda a, o: np.expand_dims(a[0], int(a[1])),
    "STRIDED_SLICE": _strided_slice, "FILL": lambda a, o: np.full(a[0], a[1]),
    "DIV": lambda a, o: a[0] / a[1], "GREATER": lambda a, o: a[0] > a[1],
    "LOGICAL_OR": lambda a, o: a[0] | a[1], "FLOOR": lambda a, o: np.floor(a[0]), "CEIL": lambda a, o: np.ceil(a[0]),
    "ABS": lambda a, o: np.abs(a[0]),
}


def emit_new(cx: Context, op: str, inputs: Sequence[Tensor | None], dtype: DType, shape: Shape | None = None,
             options: Any = None, out: Tensor | None = None) -> Tensor:
    """The output of circle operator `op` on `inputs`: a new tensor (or `out`), or a constant when
    the inputs are all constant and numpy can compute it here."""
    factory = OPTIONS[op] if options is None else None
    options = factory() if factory is not None else options
    fold = FOLD.get(op)
    if out is None and fold is not None and all(t is None or t.is_constant for t in inputs):
        with np.errstate(all="ignore"):
            value = fold([np.asarray(t.data) for t in inputs if t is not None], options)
        return cx.constant(np.asarray(value).astype(dtype.numpy), f"{op.lower()}_c")
    if out is None:
        first = next(t for t in inputs if t is not None)
        out = cx.temp(f"{first.name}_{op.lower()}", dtype, shape)
    cx.emit(op, inputs, [out], options)
    return out


def const(cx: Context, value: Any, dtype: DType) -> Tensor:
    return cx.constant(np.asarray(value, dtype.numpy), "c")


def cast(cx: Context, t: Tensor, dtype: DType) -> Tensor:
    if t.dtype == dtype:
        return t
    return emit_new(cx, "CAST", [t], dtype, tensor_shape(t), CastOptions(in_data_type=t.dtype, out_data_type=dtype))


def to_int32(cx: Context, t: Tensor, saturate: bool = False) -> Tensor:
    """An index tensor as int32; with `saturate`, 64-bit values beyond int32 become its limits (ONNX
    writes 'to the end' as INT64_MAX)."""
    if saturate and t.dtype == DType.INT64:
        t = emit_new(cx, "MINIMUM", [t, const(cx, INT32_MAX, t.dtype)], t.dtype, tensor_shape(t))
        t = emit_new(cx, "MAXIMUM", [t, const(cx, INT32_MIN, t.dtype)], t.dtype, tensor_shape(t))
    return cast(cx, t, DType.INT32)


def param(cx: Context, node: Node, index: int, attr: str | None = None, since: int = 1) -> np.ndarray | Tensor | None:
    """A parameter that is attribute `attr` before opset `since` and input `index` from then on: its
    import-time value, else its tensor (computed at run time); None when omitted."""
    if attr is not None and node.opset < since:
        value = node.attr(attr)
        return None if value is None else np.asarray(value)
    name = node.input(index)
    if not name:
        return None
    value = cx.const(name)
    return value if value is not None else cx.tensor(name)


def required_param(cx: Context, node: Node, index: int, missing: str, attr: str | None = None,
                   since: int = 1) -> np.ndarray | Tensor:
    """`param`, which the converter cannot do without: Unsupported(`missing`) when omitted."""
    value = param(cx, node, index, attr, since)
    if value is None:
        raise Unsupported(missing)
    return value


def as_tensor(cx: Context, value: np.ndarray | Tensor, dtype: DType | None = None, saturate: bool = False) -> Tensor:
    """A parameter as a tensor (of `dtype` when given; int32 saturates values out of its range)."""
    if isinstance(value, Tensor):
        if dtype == DType.INT32:
            return to_int32(cx, value, saturate)
        return value if dtype is None else cast(cx, value, dtype)
    if dtype == DType.INT32 and saturate:
        value = np.clip(value, INT32_MIN, INT32_MAX)
    return cx.constant(np.asarray(value) if dtype is None else np.asarray(value).astype(dtype.numpy), "c")


def shape_vector(cx: Context, name: str, dtype: DType = DType.INT32) -> Tensor:
    """The shape of ONNX value `name` as a vector: a constant when known at import, else SHAPE."""
    shape = cx.static_shape(name)
    if shape is not None:
        return const(cx, shape, dtype)
    return shape_of(cx, cx.tensor(name), dtype)


def shape_of(cx: Context, t: Tensor, dtype: DType = DType.INT32) -> Tensor:
    """SHAPE of a circle tensor."""
    shape = tensor_shape(t)
    return emit_new(cx, "SHAPE", [t], dtype, None if shape is None else [len(shape)], ShapeOptions(out_type=dtype))


def dims_at(cx: Context, name: str, axes: Sequence[int] | Tensor, dtype: DType = DType.INT32) -> Tensor:
    """The dimensions `axes` of ONNX value `name`, as a vector (constant when they are known)."""
    shape = cx.shape(name)
    if not isinstance(axes, Tensor):
        if shape is not None and all(shape[a] is not None for a in axes):
            return const(cx, [shape[a] for a in axes], dtype)
        axes = const(cx, list(axes), DType.INT32)
    return emit_new(cx, "GATHER", [shape_vector(cx, name, dtype), axes], dtype, tensor_shape(axes), GatherOptions())


def dim_at(cx: Context, name: str, axis: int, dtype: DType = DType.INT32) -> Tensor:
    """Dimension `axis` of ONNX value `name`, as a scalar."""
    shape = cx.shape(name)
    if shape is not None and shape[axis] is not None:
        return const(cx, shape[axis], dtype)
    return emit_new(cx, "GATHER", [shape_vector(cx, name, dtype), const(cx, axis, DType.INT32)], dtype, [],
                    GatherOptions())


def reshape_known(cx: Context, x: Tensor, shape: Shape | None, out: Tensor) -> bool:
    """RESHAPE x into `out` when `shape` leaves at most one dimension unknown (and that one follows
    from the element count); False otherwise."""
    if shape is None:
        return False
    unknown = sum(d is None for d in shape)
    if unknown > 1 or (unknown and math.prod(d for d in shape if d is not None) == 0):
        return False
    reshape(cx, x, [-1 if d is None else int(d) for d in shape], out)
    return True


def leading_dims(cx: Context, node: Node, name: str, n: int) -> Tensor:
    """The first `n` dimensions of `name` as an int32 vector, padded with 1s beyond its rank."""
    rank = cx.need_rank(node, name)
    if n <= rank:
        return dims_at(cx, name, list(range(n)))
    pad = const(cx, [1] * (n - rank), DType.INT32)
    return emit_new(cx, "CONCATENATION", [shape_vector(cx, name), pad], DType.INT32, [n], ConcatenationOptions(axis=0))


# --- converters -------------------------------------------------------------------------------


@converts("Identity")
def identity(cx: Context, node: Node) -> None:
    cx.values[node.outputs[0]] = cx.tensor(node.input(0))


@converts("Transpose")
def transpose(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    perm = node.attr("perm", list(range(rank))[::-1])
    cx.transpose(cx.tensor(x), perm, cx.output(node.outputs[0], cx.dtype(x)))


@converts("Reshape")
def reshape_(cx: Context, node: Node) -> None:
    x = node.input(0)
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    if reshape_known(cx, xt, cx.shape(node.outputs[0]), out):
        return
    target = required_param(cx, node, 1, "the target shape is missing", "shape", 5)
    s = as_tensor(cx, target, DType.INT32)
    in_shape = cx.shape(x)
    if s.is_constant and in_shape is not None and not node.attr("allowzero", 0):  # known dimensions copied now
        s = const(cx, [in_shape[i] if d == 0 and i < len(in_shape) and in_shape[i] is not None else d
                       for i, d in enumerate(s.data.tolist())], DType.INT32)
    if not node.attr("allowzero", 0) and not _zeros_change_nothing(s, xt):
        n = (tensor_shape(s) or [None])[0]
        if n is None:
            raise Unsupported("the length of the target shape is unknown at import")
        zero = emit_new(cx, "EQUAL", [s, const(cx, 0, DType.INT32)], DType.BOOL, [n])
        s = emit_new(cx, "SELECT_V2", [zero, leading_dims(cx, node, x, n), s], DType.INT32, [n])
    if s.is_constant:
        reshape(cx, xt, s.data.tolist(), out)
    else:
        cx.emit("RESHAPE", [xt, s], [out], ReshapeOptions())


#: operators that keep the elements of a small index vector as they are
ELEMENT_PRESERVING = {"CAST", "EXPAND_DIMS", "RESHAPE", "SQUEEZE"}


def _elements(t: Tensor, x: Tensor) -> list[tuple[str, int] | None]:
    """What each element of a small int vector `t` provably is: ("const", value), ("dim", i) for
    dimension i of `x`, or None."""
    shape = tensor_shape(t)
    if shape is None or None in shape:
        return []
    n = math.prod(shape)  # type: ignore[arg-type]
    if t.is_constant:
        return [("const", int(v)) for v in np.asarray(t.data).reshape(-1)]
    p = t.producer
    found: list[tuple[str, int] | None] = [None] * n
    if p is None:
        return found
    if p.name in ELEMENT_PRESERVING and p.inputs[0] is not None:
        found = _elements(p.inputs[0], x)
    elif p.name == "CONCATENATION":
        found = [e for part in p.inputs if part is not None for e in _elements(part, x)]
    elif p.name == "SHAPE" and p.inputs[0] is x:
        found = [("dim", i) for i in range(n)]
    elif p.name == "GATHER" and not getattr(p.options, "axis", 0) and p.inputs[1] is not None \
            and p.inputs[1].is_constant:
        source = _elements(p.inputs[0], x)  # type: ignore[arg-type]
        picks = np.asarray(p.inputs[1].data).reshape(-1).tolist()
        found = [source[i] if 0 <= i < len(source) else None for i in picks]
    return found if len(found) == n else [None] * n


def _zeros_change_nothing(s: Tensor, x: Tensor) -> bool:
    """True when no element of Reshape's shape `s` can be a 0 that would copy a different value from
    x: nonzero constants, and x's own dimensions at their own positions (x.view(x.size(0), -1))."""
    elements = _elements(s, x)
    return bool(elements) and all(e is not None and (e == ("dim", i) or (e[0] == "const" and e[1] != 0))
                                  for i, e in enumerate(elements))


@converts("Flatten")
def flatten(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    axis = int(node.attr("axis", 1))
    if not -rank <= axis <= rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    shape = cx.shape(x) or [None] * rank
    sides = [None if None in part else math.prod(part) for part in (shape[:axis], shape[axis:])]
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    if reshape_known(cx, xt, sides, out):
        return
    head = emit_new(cx, "REDUCE_PROD", [dims_at(cx, x, list(range(axis))), const(cx, [0], DType.INT32)],
                    DType.INT32, [1], ReducerOptions(keep_dims=True))
    target = emit_new(cx, "CONCATENATION", [head, const(cx, [-1], DType.INT32)], DType.INT32, [2],
                      ConcatenationOptions(axis=0))
    cx.emit("RESHAPE", [xt, target], [out], ReshapeOptions())


def _axes(cx: Context, node: Node) -> np.ndarray | Tensor | None:
    """Squeeze's and Unsqueeze's axes: attribute before opset 13, input after."""
    return param(cx, node, 1, "axes", 13)


@converts("Squeeze")
def squeeze(cx: Context, node: Node) -> None:
    x = node.input(0)
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    axes = _axes(cx, node)
    if isinstance(axes, Tensor):
        if not reshape_known(cx, xt, cx.shape(node.outputs[0]), out):
            raise Unsupported("axes computed at run time, and the output shape is not known at import")
        return
    dims = []
    if axes is not None:
        rank = cx.need_rank(node, x)
        dims = sorted({axis_of(node, int(a), rank) for a in axes.reshape(-1)})
    cx.emit("SQUEEZE", [xt], [out], SqueezeOptions(squeeze_dims=dims))


@converts("Unsqueeze")
def unsqueeze(cx: Context, node: Node) -> None:
    x = node.input(0)
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    axes = _axes(cx, node)
    if axes is None:
        raise Unsupported("axes are missing")
    if (isinstance(axes, Tensor) or axes.size > 1) and reshape_known(cx, xt, cx.shape(node.outputs[0]), out):
        return
    if isinstance(axes, Tensor):
        raise Unsupported("axes computed at run time, and the output shape is not known at import")
    values = [int(a) for a in axes.reshape(-1)]
    rank = cx.need_rank(node, x) + len(values) if min(values) < 0 else max(values) + 1
    dims = sorted({axis_of(node, a, rank) for a in values})
    for i, axis in enumerate(dims):
        last = i == len(dims) - 1
        xt = emit_new(cx, "EXPAND_DIMS", [xt, const(cx, axis, DType.INT32)], xt.dtype,
                      out=out if last else cx.temp(f"{x}_unsqueeze", xt.dtype))


@converts("Concat")
def concat(cx: Context, node: Node) -> None:
    names = [n for n in node.inputs if n]
    axis = int(node.attr("axis", 1 if node.opset < 4 else 0))
    if axis < 0:
        axis = axis_of(node, axis, cx.need_rank(node, names[0]))
    out = cx.output(node.outputs[0], cx.dtype(names[0]))
    cx.emit("CONCATENATION", [cx.tensor(n) for n in names], [out], ConcatenationOptions(axis=axis))


@converts("Split")
def split(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    axis = axis_of(node, int(node.attr("axis", 0)), rank)
    n = len(node.outputs)
    sizes = param(cx, node, 1, "split", 13)
    size = (cx.shape(x) or [None] * rank)[axis]
    if sizes is None and node.attr("num_outputs") is not None and size is not None:
        chunk = -(-size // n)
        sizes = np.array([chunk] * (n - 1) + [size - chunk * (n - 1)])
    outs = [cx.output(o, cx.dtype(x)) for o in node.outputs]
    xt, axis_t = cx.tensor(x), const(cx, axis, DType.INT32)
    if sizes is None or (isinstance(sizes, np.ndarray) and size is not None and len(set(sizes.tolist())) == 1
                         and sizes[0] * n == size):
        cx.emit("SPLIT", [axis_t, xt], outs, SplitOptions(num_splits=n))
    else:
        cx.emit("SPLIT_V", [xt, as_tensor(cx, sizes, DType.INT32), axis_t], outs, SplitVOptions(num_splits=n))


@converts("Expand")
def expand(cx: Context, node: Node) -> None:
    x = node.input(0)
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    target = param(cx, node, 1)
    known = cx.static_shape(node.outputs[0])
    if known is None and isinstance(target, np.ndarray) and cx.shape(x) is not None:
        shape = broadcast_shape(cx.shape(x) or [], target.tolist())
        known = None if None in shape else tuple(shape)  # type: ignore[arg-type]
    if known is not None:
        cx.emit("BROADCAST_TO", [xt, const(cx, known, DType.INT32)], [out], BroadcastToOptions())
        return
    if target is None:
        raise Unsupported("the shape is missing")
    s = as_tensor(cx, target, DType.INT32)
    n, rank = (tensor_shape(s) or [None])[0], cx.need_rank(node, x)
    if n is None:
        raise Unsupported("the length of the shape is unknown at import")
    width = max(n, rank)
    if n < width:
        s = emit_new(cx, "CONCATENATION", [const(cx, [1] * (width - n), DType.INT32), s], DType.INT32, [width],
                     ConcatenationOptions(axis=0))
    xs = shape_vector(cx, x)
    if rank < width:
        xs = emit_new(cx, "CONCATENATION", [const(cx, [1] * (width - rank), DType.INT32), xs], DType.INT32, [width],
                      ConcatenationOptions(axis=0))
    one = emit_new(cx, "EQUAL", [xs, const(cx, 1, DType.INT32)], DType.BOOL, [width])
    s = emit_new(cx, "SELECT_V2", [one, s, xs], DType.INT32, [width])
    cx.emit("BROADCAST_TO", [xt, s], [out], BroadcastToOptions())


@converts("Tile")
def tile(cx: Context, node: Node) -> None:
    x = node.input(0)
    repeats = required_param(cx, node, 1, "repeats are missing")
    cx.emit("TILE", [cx.tensor(x), as_tensor(cx, repeats, DType.INT32)], [cx.output(node.outputs[0], cx.dtype(x))],
            TileOptions())


@converts("Shape")
def shape(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    start, end = (int(v) for v in (node.attr("start", 0), node.attr("end", rank)))
    start, end = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))
    dims = (cx.shape(x) or [None] * rank)[start:end]
    if None not in dims:
        cx.set_const(node.outputs[0], np.array(dims, np.int64))
        return
    out = cx.output(node.outputs[0], DType.INT64, [len(dims)])
    if (start, end) == (0, rank):
        cx.emit("SHAPE", [cx.tensor(x)], [out], ShapeOptions(out_type=DType.INT64))
    else:
        cx.emit("GATHER", [shape_vector(cx, x, DType.INT64), const(cx, list(range(start, end)), DType.INT32)], [out],
                GatherOptions())


@converts("Size")
def size(cx: Context, node: Node) -> None:
    x = node.input(0)
    shape = cx.static_shape(x)
    if shape is not None:
        cx.set_const(node.outputs[0], np.array(math.prod(shape), np.int64))
        return
    cx.emit("REDUCE_PROD", [shape_vector(cx, x, DType.INT64), const(cx, [0], DType.INT32)],
            [cx.output(node.outputs[0], DType.INT64, [])], ReducerOptions(keep_dims=False))


@converts("ConstantOfShape")
def constant_of_shape(cx: Context, node: Node) -> None:
    value = node.attr("value")
    fill = onnx.numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
    dims = required_param(cx, node, 0, "the shape is missing")
    fill_t = cx.constant(np.asarray(fill), "value")
    cx.emit("FILL", [as_tensor(cx, dims, DType.INT32), fill_t], [cx.output(node.outputs[0], fill_t.dtype)],
            FillOptions())


@converts("Range")
def range_(cx: Context, node: Node) -> None:
    ins = [cx.tensor(n) for n in node.inputs[:3]]
    cx.emit("RANGE", ins, [cx.output(node.outputs[0], ins[0].dtype)], RangeOptions())
