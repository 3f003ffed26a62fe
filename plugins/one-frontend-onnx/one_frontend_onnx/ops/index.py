"""Index-shaped operators: Slice, Pad, DepthToSpace, SpaceToDepth, Trilu, EyeLike, ReverseSequence,
CumSum, TopK, ArgMax, ArgMin."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ArgMaxOptions, ArgMinOptions, ConcatenationOptions, CumsumOptions, DepthToSpaceOptions, GatherOptions,
    MirrorPadMode, MirrorPadOptions, PadOptions, PadV2Options, ReshapeOptions, ReverseV2Options, SpaceToDepthOptions,
    StridedSliceOptions, TopKV2Options,
)

from ..context import Context, Node, Unsupported, onnx_dtype
from . import converts
from .common import axis_of, tensor_shape
from .shape import INT32_MAX, as_tensor, cast, const, dim_at, dims_at, emit_new, param, required_param, to_int32


def bind(cx: Context, name: str, t: Tensor) -> None:
    """Make `t` the value of ONNX output `name` (a constant when it was folded)."""
    if t.is_constant:
        cx.set_const(name, np.asarray(t.data))
    else:
        cx.values[name] = t


def _length(value: np.ndarray | Tensor) -> int:
    if isinstance(value, np.ndarray):
        return value.size
    shape = tensor_shape(value)
    if not shape or shape[0] is None:
        raise Unsupported(f"the length of '{value.name}' is unknown at import")
    return int(shape[0])


# --- Slice ------------------------------------------------------------------------------------


class _Spread:
    """Puts per-axis values given for `axes` (a list, or an int32 tensor computed at run time) into
    a vector over all `rank` dimensions, with a default for the others."""

    def __init__(self, cx: Context, axes: list[int] | Tensor, rank: int) -> None:
        self.cx, self.axes, self.rank = cx, axes, rank
        if isinstance(axes, Tensor):
            k = _length(axes)
            self.index = emit_new(cx, "RESHAPE", [axes, const(cx, [k, 1], DType.INT32)], DType.INT32, [k, 1],
                                  ReshapeOptions(new_shape=[k, 1]))
            hits = self._scatter(const(cx, np.ones(k), DType.INT32))
            self.mask = emit_new(cx, "NOT_EQUAL", [hits, const(cx, 0, DType.INT32)], DType.BOOL, [rank])

    def _scatter(self, v: Tensor) -> Tensor:
        return emit_new(self.cx, "SCATTER_ND", [self.index, v, const(self.cx, [self.rank], DType.INT32)], v.dtype,
                        [self.rank])

    def __call__(self, v: Tensor, default: int) -> Tensor:
        cx, rank = self.cx, self.rank
        if isinstance(self.axes, Tensor):
            fallback = const(cx, default, v.dtype)
            return emit_new(cx, "SELECT_V2", [self.mask, self._scatter(v), fallback], v.dtype, [rank])
        k = len(self.axes)
        table = emit_new(cx, "CONCATENATION", [v, const(cx, [default], v.dtype)], v.dtype, [k + 1],
                         ConcatenationOptions(axis=0))
        where = [self.axes.index(i) if i in self.axes else k for i in range(rank)]
        return emit_new(cx, "GATHER", [table, const(cx, where, DType.INT32)], v.dtype, [rank], GatherOptions())


@converts("Slice")
def slice_(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    starts, ends = param(cx, node, 1, "starts", 10), param(cx, node, 2, "ends", 10)
    axes, steps = param(cx, node, 3, "axes", 10), param(cx, node, 4)
    if starts is None or ends is None:
        raise Unsupported("starts or ends are missing")
    k = _length(starts)
    axes = np.arange(k) if axes is None else axes
    steps = np.ones(k, np.int64) if steps is None else steps
    if isinstance(axes, np.ndarray):
        ax: list[int] | Tensor = [axis_of(node, int(a), rank) for a in axes.reshape(-1)]
    else:
        ax = emit_new(cx, "FLOOR_MOD", [to_int32(cx, axes), const(cx, rank, DType.INT32)], DType.INT32, [k])
    begin = as_tensor(cx, starts, DType.INT32, saturate=True)
    # ONNX clamps a start below -dim to 0 for either direction; TFLite's STRIDED_SLICE takes it as
    # 'before the first element' for a negative stride: raise the start to -dim first.
    if not (isinstance(starts, np.ndarray) and isinstance(steps, np.ndarray)
            and all(st > 0 or s >= -1 for s, st in zip(starts.reshape(-1), steps.reshape(-1)))):
        lowest = emit_new(cx, "NEG", [dims_at(cx, x, ax)], DType.INT32, [k])
        begin = emit_new(cx, "MAXIMUM", [begin, lowest], DType.INT32, [k])
    spread = _Spread(cx, ax, rank)
    vectors = [spread(begin, 0), spread(as_tensor(cx, ends, DType.INT32, saturate=True), INT32_MAX),
               spread(as_tensor(cx, steps, DType.INT32, saturate=True), 1)]
    cx.emit("STRIDED_SLICE", [cx.tensor(x), *vectors], [cx.output(node.outputs[0], cx.dtype(x))],
            StridedSliceOptions())


# --- Pad --------------------------------------------------------------------------------------


@converts("Pad")
def pad(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    dtype = cx.dtype(x)
    mode = node.attr("mode", "constant")
    if node.opset < 11:
        pads = np.asarray(node.attr("pads" if node.opset >= 2 else "paddings"), np.int64)
        value: np.ndarray | Tensor | None = np.asarray(node.attr("value", 0.0), dtype.numpy)
        axes = None
    else:
        pads, value, axes = param(cx, node, 1), param(cx, node, 2), param(cx, node, 3)
    if pads is None:
        raise Unsupported("pads are missing")
    p = _full_pads(cx, node, as_tensor(cx, pads, DType.INT32), axes, rank)
    name = node.outputs[0]
    if p.is_constant and not p.data.any():
        cx.values[name] = cx.tensor(x)
    elif mode in ("edge", "wrap"):
        bind(cx, name, _gather_pad(cx, x, p, rank, mode))
    elif mode in ("constant", "reflect"):
        _pad(cx, node, p, value, rank, reflect=mode == "reflect")
    else:
        raise Unsupported(f"mode '{mode}'")


def _full_pads(cx: Context, node: Node, pads: Tensor, axes: np.ndarray | Tensor | None, rank: int) -> Tensor:
    """pads over all dimensions (begins then ends), from pads given for `axes`."""
    if axes is None:
        return pads
    k = _length(axes)
    if isinstance(axes, np.ndarray):
        ax = [axis_of(node, int(a), rank) for a in axes.reshape(-1)]
        index: Tensor = const(cx, [[a] for a in ax] + [[a + rank] for a in ax], DType.INT32)
    else:
        ax_t = emit_new(cx, "FLOOR_MOD", [to_int32(cx, axes), const(cx, rank, DType.INT32)], DType.INT32, [k])
        ends = emit_new(cx, "ADD", [ax_t, const(cx, rank, DType.INT32)], DType.INT32, [k])
        both = emit_new(cx, "CONCATENATION", [ax_t, ends], DType.INT32, [2 * k], ConcatenationOptions(axis=0))
        index = emit_new(cx, "RESHAPE", [both, const(cx, [2 * k, 1], DType.INT32)], DType.INT32, [2 * k, 1],
                         ReshapeOptions(new_shape=[2 * k, 1]))
    return emit_new(cx, "SCATTER_ND", [index, pads, const(cx, [2 * rank], DType.INT32)], DType.INT32, [2 * rank])


def _pad(cx: Context, node: Node, p: Tensor, value: np.ndarray | Tensor | None, rank: int, reflect: bool) -> None:
    """Padding with `value` (None: 0) or by reflection: PAD, PADV2 or MIRROR_PAD; negative padding
    known at import crops with a STRIDED_SLICE afterwards."""
    x = node.input(0)
    xt, out = cx.tensor(x), cx.output(node.outputs[0], cx.dtype(x))
    crop = None
    if p.is_constant:
        crop = np.maximum(-p.data, 0)
        p = const(cx, np.maximum(p.data, 0), DType.INT32)
    pairs = emit_new(cx, "RESHAPE", [p, const(cx, [2, rank], DType.INT32)], DType.INT32, [2, rank],
                     ReshapeOptions(new_shape=[2, rank]))
    pairs = emit_new(cx, "TRANSPOSE", [pairs, const(cx, [1, 0], DType.INT32)], DType.INT32, [rank, 2])
    cropping = crop is not None and crop.any()
    if pairs.is_constant and not pairs.data.any():
        padded = xt  # only cropping
    else:
        padded = cx.temp(f"{x}_padded", xt.dtype) if cropping else out
        if reflect:
            cx.emit("MIRROR_PAD", [xt, pairs], [padded], MirrorPadOptions(mode=MirrorPadMode.REFLECT))
        elif value is None or isinstance(value, np.ndarray) and not value.any():
            cx.emit("PAD", [xt, pairs], [padded], PadOptions())
        else:
            cx.emit("PADV2", [xt, pairs, as_tensor(cx, value, xt.dtype)], [padded], PadV2Options())
    if cropping:
        assert crop is not None
        end_mask = sum(1 << i for i in range(rank) if not crop[rank + i])
        cx.emit("STRIDED_SLICE", [padded, const(cx, crop[:rank], DType.INT32), const(cx, -crop[rank:], DType.INT32),
                                  const(cx, [1] * rank, DType.INT32)], [out], StridedSliceOptions(end_mask=end_mask))


def _gather_pad(cx: Context, x: str, p: Tensor, rank: int, mode: str) -> Tensor:
    """Edge or wrap padding: per padded dimension, a GATHER of the indices -begin .. dim+end-1
    clamped into the dimension (edge) or taken modulo it (wrap)."""
    y = cx.tensor(x)
    i32 = DType.INT32
    for i in range(rank):
        if p.is_constant and not (p.data[i] or p.data[rank + i]):
            continue
        d = dim_at(cx, x, i)
        lo = emit_new(cx, "NEG", [emit_new(cx, "GATHER", [p, const(cx, i, i32)], i32, [], GatherOptions())], i32, [])
        hi = emit_new(cx, "ADD", [d, emit_new(cx, "GATHER", [p, const(cx, rank + i, i32)], i32, [], GatherOptions())],
                      i32, [])
        idx = emit_new(cx, "RANGE", [lo, hi, const(cx, 1, i32)], i32, [None])
        if mode == "edge":
            last = emit_new(cx, "SUB", [d, const(cx, 1, i32)], i32, [])
            idx = emit_new(cx, "MINIMUM", [emit_new(cx, "MAXIMUM", [idx, const(cx, 0, i32)], i32, [None]), last],
                           i32, [None])
        else:
            idx = emit_new(cx, "FLOOR_MOD", [idx, d], i32, [None])
        shape = tensor_shape(y)
        if shape is not None:
            shape[i] = (tensor_shape(idx) or [None])[0]
        y = emit_new(cx, "GATHER", [y, idx], y.dtype, shape, GatherOptions(axis=i))
    return y


# --- DepthToSpace, SpaceToDepth ------------------------------------------------------------------


@converts("DepthToSpace", "SpaceToDepth")
def depth_space(cx: Context, node: Node) -> None:
    """circle's DEPTH_TO_SPACE and SPACE_TO_DEPTH are channels-last and order the depth as ONNX's
    DCR mode does; CRD mode permutes the channels with a GATHER."""
    x = node.input(0)
    if cx.need_rank(node, x) != 4:
        raise Unsupported("only 4-d inputs")
    b = int(node.attr("blocksize"))
    crd = node.attr("mode", "DCR") == "CRD"
    channels = (cx.shape(x) or [None] * 4)[1]
    if crd and channels is None:
        raise Unsupported("CRD mode needs the channel count known at import")
    out = cx.output(node.outputs[0], cx.dtype(x))
    xl = cx.to_channels_last(cx.tensor(x), 4)
    yl = cx.channels_last_like(out)
    if node.op_type == "DepthToSpace":
        if crd:
            perm = np.arange(channels).reshape(-1, b, b).transpose(1, 2, 0).reshape(-1)
            xl = emit_new(cx, "GATHER", [xl, const(cx, perm, DType.INT32)], xl.dtype, tensor_shape(xl),
                          GatherOptions(axis=3))
        cx.emit("DEPTH_TO_SPACE", [xl], [yl], DepthToSpaceOptions(block_size=b))
    elif crd:
        dcr = emit_new(cx, "SPACE_TO_DEPTH", [xl], xl.dtype, tensor_shape(yl), SpaceToDepthOptions(block_size=b))
        perm = np.arange(channels * b * b).reshape(b, b, -1).transpose(2, 0, 1).reshape(-1)
        emit_new(cx, "GATHER", [dcr, const(cx, perm, DType.INT32)], xl.dtype, options=GatherOptions(axis=3), out=yl)
    else:
        cx.emit("SPACE_TO_DEPTH", [xl], [yl], SpaceToDepthOptions(block_size=b))
    cx.from_channels_last(yl, 4, out)


# --- Trilu, EyeLike -------------------------------------------------------------------------------


def _diagonal_offsets(cx: Context, name: str) -> Tensor:
    """column - row for every element of the last two dimensions of `name` (int64, [rows, cols])."""
    rank = cx.rank(name) or 2
    i64 = DType.INT64
    vectors = []
    for axis, shape in ((rank - 2, [-1, 1]), (rank - 1, [1, -1])):
        n = dim_at(cx, name, axis, i64)
        r = emit_new(cx, "RANGE", [const(cx, 0, i64), n, const(cx, 1, i64)], i64, [None])
        vectors.append(emit_new(cx, "RESHAPE", [r, const(cx, shape, DType.INT32)], i64, None,
                                ReshapeOptions(new_shape=shape)))
    return emit_new(cx, "SUB", [vectors[1], vectors[0]], i64)


@converts("Trilu")
def trilu(cx: Context, node: Node) -> None:
    x = node.input(0)
    if cx.need_rank(node, x) < 2:
        raise Unsupported("the input has rank below 2")
    k = param(cx, node, 1)
    k_t = as_tensor(cx, np.int64(0) if k is None else k, DType.INT64)
    keep = emit_new(cx, "GREATER_EQUAL" if node.attr("upper", 1) else "LESS_EQUAL", [_diagonal_offsets(cx, x), k_t],
                    DType.BOOL)
    xt = cx.tensor(x)
    emit_new(cx, "SELECT_V2", [keep, xt, const(cx, 0, xt.dtype)], xt.dtype,
             out=cx.output(node.outputs[0], xt.dtype))


@converts("EyeLike")
def eye_like(cx: Context, node: Node) -> None:
    x = node.input(0)
    if cx.need_rank(node, x) != 2:
        raise Unsupported("the input is not 2-d")
    dtype = cx.dtype(x) if node.attr("dtype") is None else onnx_dtype(node.attr("dtype"), f"{node}")
    diagonal = emit_new(cx, "EQUAL", [_diagonal_offsets(cx, x), const(cx, int(node.attr("k", 0)), DType.INT64)],
                        DType.BOOL)
    bind(cx, node.outputs[0], cast(cx, diagonal, dtype))


# --- ReverseSequence ---------------------------------------------------------------------------


@converts("ReverseSequence")
def reverse_sequence(cx: Context, node: Node) -> None:
    """A GATHER with batch_dims 1 of per-sequence indices len-1-t (t < len) or t (t >= len)."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    batch_axis, time_axis = int(node.attr("batch_axis", 1)), int(node.attr("time_axis", 0))
    i64 = DType.INT64
    xt = cx.tensor(x)
    perm = [1, 0, *range(2, rank)]
    if batch_axis == 1:
        xt = cx.transpose(xt, perm)
    t = emit_new(cx, "RANGE", [const(cx, 0, i64), dim_at(cx, x, time_axis, i64), const(cx, 1, i64)], i64, [None])
    lengths = emit_new(cx, "RESHAPE", [cast(cx, cx.tensor(node.input(1)), i64), const(cx, [-1, 1], DType.INT32)],
                       i64, [None, 1], ReshapeOptions(new_shape=[-1, 1]))
    reversed_t = emit_new(cx, "SUB", [emit_new(cx, "SUB", [lengths, const(cx, 1, i64)], i64), t], i64)
    index = emit_new(cx, "SELECT_V2", [emit_new(cx, "LESS", [t, lengths], DType.BOOL), reversed_t, t], i64)
    y = emit_new(cx, "GATHER", [xt, index], xt.dtype, tensor_shape(xt), GatherOptions(axis=1, batch_dims=1))
    bind(cx, node.outputs[0], cx.transpose(y, perm) if batch_axis == 1 else y)


# --- CumSum, TopK, ArgMax, ArgMin --------------------------------------------------------------


@converts("CumSum")
def cumsum(cx: Context, node: Node) -> None:
    x = node.input(0)
    axis = required_param(cx, node, 1, "the axis is missing")
    if isinstance(axis, np.ndarray):
        axis = np.int32(axis_of(node, int(axis.reshape(-1)[0]), cx.need_rank(node, x)))
    options = CumsumOptions(exclusive=bool(node.attr("exclusive", 0)), reverse=bool(node.attr("reverse", 0)))
    cx.emit("CUMSUM", [cx.tensor(x), as_tensor(cx, axis, DType.INT32)], [cx.output(node.outputs[0], cx.dtype(x))],
            options)


def _order_reversed(cx: Context, t: Tensor) -> Tensor:
    """An order-reversing involution: -x for floats, -1-x for signed and max-x for unsigned integers
    (neither overflows)."""
    if t.dtype in (DType.FLOAT32, DType.FLOAT16):
        return emit_new(cx, "NEG", [t], t.dtype, tensor_shape(t))
    top = np.iinfo(t.dtype.numpy).max if t.dtype == DType.UINT8 else -1
    return emit_new(cx, "SUB", [const(cx, top, t.dtype), t], t.dtype, tensor_shape(t))


@converts("TopK")
def top_k(cx: Context, node: Node) -> None:
    """TOPK_V2 works on the last dimension and returns the largest values first, ties by lower
    index as ONNX wants; other axes are transposed there, smallest values found on a reversed order."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    axis = axis_of(node, int(node.attr("axis", -1)), rank)
    k = required_param(cx, node, 1, "k is missing", "k", 10)
    k_t = as_tensor(cx, np.int32(k.reshape(-1)[0]) if isinstance(k, np.ndarray) else k, DType.INT32)
    if not isinstance(k, np.ndarray):
        k_t = emit_new(cx, "RESHAPE", [k_t, const(cx, [], DType.INT32)], DType.INT32, [], ReshapeOptions(new_shape=[]))
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt = cx.tensor(x)
    if axis != rank - 1:
        xt = cx.transpose(xt, perm)
    largest = bool(node.attr("largest", 1))
    if not largest:
        xt = _order_reversed(cx, xt)
    shape = tensor_shape(xt)
    if shape is not None:
        shape[-1] = int(k_t.data) if k_t.is_constant else None
    values = cx.temp(f"{x}_topk", xt.dtype, shape)
    index = cx.temp(f"{x}_topk_index", DType.INT32, shape)
    cx.emit("TOPK_V2", [xt, k_t], [values, index], TopKV2Options())
    if not largest:
        values = _order_reversed(cx, values)
    for name, t in zip(node.outputs, (values, cast(cx, index, DType.INT64))):
        if name:
            bind(cx, name, cx.transpose(t, perm) if axis != rank - 1 else t)


@converts("ArgMax", "ArgMin")
def arg_extreme(cx: Context, node: Node) -> None:
    x = node.input(0)
    rank = cx.need_rank(node, x)
    axis = axis_of(node, int(node.attr("axis", 0)), rank)
    xt = cx.tensor(x)
    axis_t = const(cx, [axis], DType.INT32)
    last = bool(node.attr("select_last_index", 0))
    if last:  # the first extreme of the reversed dimension
        xt = emit_new(cx, "REVERSE_V2", [xt, axis_t], xt.dtype, tensor_shape(xt), ReverseV2Options())
    shape = tensor_shape(xt)
    if shape is not None:
        del shape[axis]
    op, options = ("ARG_MAX", ArgMaxOptions) if node.op_type == "ArgMax" else ("ARG_MIN", ArgMinOptions)
    index = emit_new(cx, op, [xt, axis_t], DType.INT64, shape, options(output_type=DType.INT64))
    if last:
        top = emit_new(cx, "SUB", [dim_at(cx, x, axis, DType.INT64), const(cx, 1, DType.INT64)], DType.INT64, [])
        index = emit_new(cx, "SUB", [top, index], DType.INT64, shape)
    if node.attr("keepdims", 1):
        index = emit_new(cx, "EXPAND_DIMS", [index, const(cx, axis, DType.INT32)], DType.INT64,
                         None if shape is None else [*shape[:axis], 1, *shape[axis:]])
    bind(cx, node.outputs[0], index)
