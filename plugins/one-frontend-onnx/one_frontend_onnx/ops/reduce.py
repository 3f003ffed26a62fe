"""Reductions (ReduceSum, ReduceMean, ReduceMax, ..., ReduceLogSumExp) as circle's MEAN, SUM,
REDUCE_* operators, with the elementwise steps some of them need around the reduction; the
global pools, reductions over the spatial axes in ONNX's own layout.

Also the helpers the other neural-network converters compose with: an operator emitted on
tensors whose result shape follows from its inputs' shapes (computed at import when they are
constants), reshapes, casts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    AbsOptions,
    AddOptions,
    CastOptions,
    DivOptions,
    ExpandDimsOptions,
    ExpOptions,
    MaximumMinimumOptions,
    MulOptions,
    PowOptions,
    ReducerOptions,
    ReshapeOptions,
    ShapeOptions,
    SquareOptions,
    SqueezeOptions,
    SubOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import broadcast_shape, tensor_shape

# circle operators emitted by `unary` / `binary`, with their options
OPTIONS = {"ADD": AddOptions, "SUB": SubOptions, "MUL": MulOptions, "DIV": DivOptions, "POW": PowOptions,
           "MAXIMUM": MaximumMinimumOptions, "MINIMUM": MaximumMinimumOptions, "ABS": AbsOptions,
           "SQUARE": SquareOptions, "EXP": ExpOptions}


# operators computed at import on constants, rather than emitted (integers: only the exact ones)
FOLD = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide, "POW": np.power,
        "MAXIMUM": np.maximum, "MINIMUM": np.minimum, "ABS": np.abs, "SQUARE": np.square, "EXP": np.exp,
        "LOG": np.log, "SQRT": np.sqrt, "RSQRT": lambda v: 1 / np.sqrt(v)}
INT_FOLD = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "ABS", "SQUARE"}
REDUCE_FOLD = {"SUM": np.sum, "MEAN": np.mean, "REDUCE_MAX": np.max, "REDUCE_MIN": np.min, "REDUCE_PROD": np.prod}


def _folded(cx: Context, op: str, args: Sequence[Tensor]) -> Tensor | None:
    """op on constant arguments, computed now (None when it must be emitted)."""
    if op not in FOLD or not all(a.is_constant for a in args):
        return None
    if np.dtype(args[0].dtype.numpy).kind != "f" and op not in INT_FOLD:
        return None
    with np.errstate(all="ignore"):
        value = np.asarray(FOLD[op](*(a.data for a in args))).astype(args[0].dtype.numpy)
    return cx.constant(value, f"{args[0].name}_{op.lower()}")


def unary(cx: Context, op: str, x: Tensor, out: Tensor | None = None) -> Tensor:
    """op(x), into `out` or a new tensor shaped like x (computed now for a float constant)."""
    folded = None if out is not None else _folded(cx, op, [x])
    if folded is not None:
        return folded
    if out is None:
        out = cx.temp(f"{x.name}_{op.lower()}", x.dtype, tensor_shape(x))
    options = OPTIONS.get(op)
    cx.emit(op, [x], [out], options() if options else None)
    return out


def binary(cx: Context, op: str, a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """op(a, b) with numpy broadcasting, into `out` or a new tensor (computed now for float
    constants)."""
    folded = None if out is not None else _folded(cx, op, [a, b])
    if folded is not None:
        return folded
    if out is None:
        out = cx.temp(f"{a.name}_{op.lower()}", a.dtype, broadcast_shape(tensor_shape(a), tensor_shape(b)))
    cx.emit(op, [a, b], [out], OPTIONS[op]())
    return out


def scalar(cx: Context, value: float, dtype: DType) -> Tensor:
    """A scalar constant of `dtype`."""
    return cx.constant(np.array(value, dtype=dtype.numpy), "scalar")


def cast(cx: Context, x: Tensor, dtype: DType) -> Tensor:
    """x converted to `dtype` (x itself when it has that type)."""
    if x.dtype == dtype:
        return x
    if x.is_constant:
        return cx.constant(x.data.astype(dtype.numpy), x.name + "_cast")
    out = cx.temp(f"{x.name}_{dtype.name.lower()}", dtype, tensor_shape(x))
    cx.emit("CAST", [x], [out], CastOptions(in_data_type=x.dtype, out_data_type=dtype))
    return out


def reshape_to(cx: Context, x: Tensor, shape: Sequence[int], out: Tensor | None = None) -> Tensor:
    """x reshaped to `shape` (one -1 allowed); constants are reshaped here."""
    shape = [int(d) for d in shape]
    if x.is_constant and out is None:
        return cx.constant(x.data.reshape(shape), x.name + "_r")
    if out is None:
        out = cx.temp(x.name + "_r", x.dtype, [None if d < 0 else d for d in shape])
    cx.emit("RESHAPE", [x, cx.constant(np.array(shape, np.int32), "shape")], [out], ReshapeOptions(new_shape=shape))
    return out


def reshape_like(cx: Context, x: Tensor, like: Tensor, out: Tensor) -> Tensor:
    """x reshaped to the shape of `like`, read at run time when not fully known."""
    shape = tensor_shape(like)
    if shape is not None and sum(d is None for d in shape) <= 1:
        return reshape_to(cx, x, [-1 if d is None else d for d in shape], out)
    shape_t = cx.temp(like.name + "_shape", DType.INT32, [like.rank] if shape is not None else None)
    cx.emit("SHAPE", [like], [shape_t], ShapeOptions(out_type=DType.INT32))
    cx.emit("RESHAPE", [x, shape_t], [out], ReshapeOptions())
    return out


def insert_axis(cx: Context, x: Tensor, axis: int) -> Tensor:
    """x with a new axis of size 1 at `axis` (a RESHAPE when at most one dimension is unknown)."""
    shape = tensor_shape(x)
    target = [*shape[:axis], 1, *shape[axis:]]
    if sum(d is None for d in target) <= 1:
        return reshape_to(cx, x, [-1 if d is None else d for d in target])
    out = cx.temp(x.name + "_expand", x.dtype, target)
    cx.emit("EXPAND_DIMS", [x, cx.constant(np.array(axis, np.int32), "axis")], [out], ExpandDimsOptions())
    return out


def remove_axis(cx: Context, x: Tensor, axis: int, out: Tensor | None = None) -> Tensor:
    """x without its axis `axis` of size 1."""
    shape = tensor_shape(x)
    target = shape[:axis] + shape[axis + 1 :]
    if sum(d is None for d in target) <= 1:
        return reshape_to(cx, x, [-1 if d is None else d for d in target], out)
    out = out or cx.temp(x.name + "_squeeze", x.dtype, target)
    cx.emit("SQUEEZE", [x], [out], SqueezeOptions(squeeze_dims=[axis]))
    return out


Axes = list[int] | Tensor  # axes known at import (non-negative, sorted), or an int32 tensor


def reduce(cx: Context, op: str, x: Tensor, axes: Axes, keep: bool, out: Tensor | None = None) -> Tensor:
    """A circle reduction (MEAN, SUM, REDUCE_MAX, ...) of x over `axes`."""
    if out is None and x.is_constant and not isinstance(axes, Tensor) and op in REDUCE_FOLD:
        value = REDUCE_FOLD[op](x.data, axis=tuple(axes), keepdims=keep)
        return cx.constant(np.asarray(value).astype(x.dtype.numpy), f"{x.name}_{op.lower()}")
    if isinstance(axes, Tensor):
        axes_t = axes
    else:
        axes_t = cx.constant(np.array(axes, np.int32), "axes")
    if out is None:
        shape = tensor_shape(x)
        if shape is not None and isinstance(axes, Tensor):
            shape = [None] * len(shape) if keep else None
        elif shape is not None:
            shape = [1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes]
        out = cx.temp(f"{x.name}_{op.lower()}", x.dtype, shape)
    cx.emit(op, [x, axes_t], [out], ReducerOptions(keep_dims=keep))
    return out


# --- ONNX reductions -----------------------------------------------------------------------------

# op type -> (elementwise op before, circle reduction, elementwise op after)
REDUCTIONS: dict[str, tuple[str | None, str, str | None]] = {
    "ReduceSum": (None, "SUM", None),
    "ReduceMean": (None, "MEAN", None),
    "ReduceMax": (None, "REDUCE_MAX", None),
    "ReduceMin": (None, "REDUCE_MIN", None),
    "ReduceProd": (None, "REDUCE_PROD", None),
    "ReduceL1": ("ABS", "SUM", None),
    "ReduceL2": ("SQUARE", "SUM", "SQRT"),
    "ReduceSumSquare": ("SQUARE", "SUM", None),
    "ReduceLogSum": (None, "SUM", "LOG"),
}
BOOL_REDUCTIONS = {"ReduceMax": "REDUCE_ANY", "ReduceMin": "REDUCE_ALL"}
# the opset from which `axes` is an input rather than an attribute
AXES_INPUT_SINCE = {"ReduceSum": 13}


def reduction_axes(cx: Context, node: Node) -> Axes | None:
    """The axes a Reduce* node reduces: a sorted list, an int32 tensor computed at run time, or
    None when it reduces nothing (empty axes with noop_with_empty_axes)."""
    noop = bool(node.attr("noop_with_empty_axes", 0))
    x = node.input(0)
    if node.opset >= AXES_INPUT_SINCE.get(node.op_type, 18):
        name = node.input(1)
        value = cx.const(name) if name else np.zeros(0, np.int64)
        if value is None:
            shape = cx.shape(name)
            count = shape[0] if shape else None
            if count is None and not noop:
                raise Unsupported(f"axes '{name}' are computed at run time and may be empty "
                                  "(reduce everything) while circle would then reduce nothing")
            if count != 0:
                return cast(cx, cx.tensor(name), DType.INT32)
            value = np.zeros(0, np.int64)
        axes = [int(a) for a in np.asarray(value).reshape(-1)]
    else:
        axes = [int(a) for a in node.attr("axes", [])]
    if not axes:
        return None if noop else list(range(cx.need_rank(node, x)))
    rank = cx.need_rank(node, x)
    if any(not -rank <= a < rank for a in axes):
        raise Unsupported(f"axes {axes} are out of range for rank {rank}")
    return sorted({a % rank for a in axes})


@converts(*REDUCTIONS)
def reduction(cx: Context, node: Node) -> None:
    before, op, after = REDUCTIONS[node.op_type]
    x = cx.tensor(node.input(0))
    if x.dtype == DType.BOOL:
        if node.op_type not in BOOL_REDUCTIONS:
            raise Unsupported(f"{node.op_type} of booleans")
        op = BOOL_REDUCTIONS[node.op_type]
    axes = reduction_axes(cx, node)
    if axes is None and not before and not after:  # nothing reduced: the input itself
        cx.values[node.outputs[0]] = x
        return
    out = cx.output(node.outputs[0], x.dtype)
    if before:
        x = unary(cx, before, x, out if axes is None and after is None else None)
    if axes is not None:
        x = reduce(cx, op, x, axes, bool(node.attr("keepdims", 1)), None if after else out)
    if after:
        unary(cx, after, x, out)


@converts("ReduceLogSumExp")
def reduce_log_sum_exp(cx: Context, node: Node) -> None:
    """log(sum(exp(x - m))) + m with m the maximum, so large inputs do not overflow."""
    x = cx.tensor(node.input(0))
    axes = reduction_axes(cx, node)
    out = cx.output(node.outputs[0], x.dtype)
    if axes is None:  # log(exp(x))
        unary(cx, "LOG", unary(cx, "EXP", x), out)
        return
    keep = bool(node.attr("keepdims", 1))
    peak = reduce(cx, "REDUCE_MAX", x, axes, True)
    total = reduce(cx, "SUM", unary(cx, "EXP", binary(cx, "SUB", x, peak)), axes, keep)
    binary(cx, "ADD", unary(cx, "LOG", total), peak if keep else reduce(cx, "REDUCE_MAX", x, axes, False), out)


def spatial_axes(rank: int) -> list[int]:
    return list(range(2, rank))


GLOBAL_POOLS = {"GlobalAveragePool": "MEAN", "GlobalMaxPool": "REDUCE_MAX"}


@converts(*GLOBAL_POOLS)
def global_pool(cx: Context, node: Node) -> None:
    """A reduction over the spatial axes, in ONNX's layout (no transposes needed)."""
    x = cx.tensor(node.input(0))
    axes = spatial_axes(cx.need_rank(node, node.input(0)))
    reduce(cx, GLOBAL_POOLS[node.op_type], x, axes, True, cx.output(node.outputs[0], x.dtype))


@converts("GlobalLpPool")
def global_lp_pool(cx: Context, node: Node) -> None:
    x = cx.tensor(node.input(0))
    axes = spatial_axes(cx.need_rank(node, node.input(0)))
    out = cx.output(node.outputs[0], x.dtype)
    lp_norm(cx, x, axes, float(node.attr("p", 2)), out)


def lp_norm(cx: Context, x: Tensor, axes: Sequence[int], p: float, out: Tensor | None = None) -> Tensor:
    """(sum |x|^p over `axes`)^(1/p), dimensions kept."""
    if p == 2:
        return unary(cx, "SQRT", reduce(cx, "SUM", unary(cx, "SQUARE", x), list(axes), True), out)
    powered = unary(cx, "ABS", x)
    if p != 1:
        powered = binary(cx, "POW", powered, scalar(cx, p, x.dtype))
    total = reduce(cx, "SUM", powered, list(axes), True, out if p == 1 else None)
    return total if p == 1 else binary(cx, "POW", total, scalar(cx, 1.0 / p, x.dtype), out)
