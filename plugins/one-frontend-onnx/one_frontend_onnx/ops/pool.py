"""Pooling: MaxPool, AveragePool and LpPool on channels-last tensors.

1-d and 2-d windows without dilation are one MAX_POOL_2D / AVERAGE_POOL_2D: SAME padding when
circle's equals ONNX's (for averages only when the padding is left out of the count, as circle
does), else VALID on an input padded explicitly (-inf for maxima, 0 for sums, the ceil_mode
extension included). 3-d and dilated windows are separable: one 2-d pool per axis on a reshaped
tensor, or, dilated, one strided slice per tap. Averages then multiply by a constant that turns
the pool's divisor into ONNX's (count_include_pad, ceil_mode); LpPool is (sum |x|^p)^(1/p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import Padding, Pool2DOptions, StridedSliceOptions

from ..context import Context, Node, Unsupported
from . import converts
from .common import circle_padding, pad_channels_last, spatial_pads, tensor_shape
from .reduce import binary, insert_axis, remove_axis, reshape_to, scalar, unary

POOL_2D = {"MaxPool": "MAX_POOL_2D", "AveragePool": "AVERAGE_POOL_2D", "LpPool": "AVERAGE_POOL_2D"}


@dataclass
class Window:
    """The pooling window along one spatial axis; `end` includes the ceil_mode extension."""

    size: int | None
    kernel: int
    stride: int
    dilation: int
    begin: int
    end: int
    out: int | None
    extension: int = 0
    same: bool = False  # circle's SAME padding, for SAME_UPPER on a size unknown at import

    @property
    def span(self) -> int:
        return (self.kernel - 1) * self.dilation + 1

    def taken(self, tap: int) -> tuple[int, int, int]:
        """(begin, end, stride) of the padded cells tap `tap` reads over all outputs."""
        return tap * self.dilation, tap * self.dilation + (self.out - 1) * self.stride + 1, self.stride

    def counts(self, lo: int, hi: int) -> np.ndarray:
        """How many taps of each output's window fall in [lo, hi) of the padded axis."""
        starts = np.arange(self.out)[:, None] * self.stride + np.arange(self.kernel)[None, :] * self.dilation
        return ((starts >= lo) & (starts < hi)).sum(axis=1)


def windows(cx: Context, node: Node, spatial: list[int | None]) -> list[Window]:
    n = len(spatial)
    kernel = [int(k) for k in node.attr("kernel_shape")]
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    if len(kernel) != n:
        raise Unsupported(f"kernel_shape {kernel} for {n} spatial dimensions")
    same = node.attr("auto_pad", "NOTSET") == "SAME_UPPER" and None in spatial
    # SAME padding ignores dilations, as onnxruntime does
    pads = [(0, 0)] * n if same else spatial_pads(cx, node, spatial, kernel, strides, [1] * n)
    ceil = bool(node.attr("ceil_mode", 0))
    out = []
    for size, k, s, d, (b, e) in zip(spatial, kernel, strides, dilations, pads):
        w = Window(size, k, s, d, b, e, None, same=same)
        if size is not None:
            room = size + b + e - w.span
            w.out = (-(-room // s) if ceil else room // s) + 1
            if ceil and (w.out - 1) * s >= size + b:  # the last window must start inside the input
                w.out -= 1
            w.extension = max((w.out - 1) * s + w.span - (size + b + e), 0)
        elif ceil:
            raise Unsupported("ceil_mode with spatial dimensions unknown at import")
        out.append(w)
    return out


@converts("MaxPool", "AveragePool", "LpPool")
def pool(cx: Context, node: Node) -> None:
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    n = rank - 2
    if n not in (1, 2, 3):
        raise Unsupported(f"{n}-d pooling")
    x_shape = cx.shape(x_name) or [None] * rank
    axes = windows(cx, node, list(x_shape[2:]))
    kind = node.op_type
    x = cx.tensor(x_name)
    if len(node.outputs) > 1 and node.outputs[1]:
        _max_with_indices(cx, node, x, axes)
        return
    if kind != "MaxPool" and np.dtype(x.dtype.numpy).kind != "f":
        raise Unsupported(f"{kind} of {x.dtype.name}")
    out = cx.output(node.outputs[0], x.dtype)
    p = float(node.attr("p", 2))
    if kind == "LpPool":
        x = unary(cx, "SQUARE", x) if p == 2 else unary(cx, "ABS", x)
        if p not in (1, 2):
            x = binary(cx, "POW", x, scalar(cx, p, x.dtype))
    x = cx.to_channels_last(x, rank)
    exclude_pads = kind == "AveragePool" and not node.attr("count_include_pad", 0)
    y, divisor = _pool_channels_last(cx, x, axes, POOL_2D[kind], exclude_pads or kind == "MaxPool")
    if kind == "AveragePool" and divisor is not None:
        y = _rescale(cx, y, divisor, axes, exclude_pads)
    elif kind == "LpPool":
        if divisor is not None and divisor != 1:
            y = binary(cx, "MUL", y, scalar(cx, divisor, y.dtype))
        if p != 1:
            y = unary(cx, "SQRT", y) if p == 2 else binary(cx, "POW", y, scalar(cx, 1 / p, y.dtype))
    cx.from_channels_last(y, rank, out)


def _rescale(cx: Context, y: Tensor, divisor: int, axes: list[Window], exclude_pads: bool) -> Tensor:
    """An average over `divisor` cells made ONNX's: over the window's cells inside the input (or
    inside the explicit padding with count_include_pad), a constant per output position."""
    count: np.ndarray | int = int(np.prod([w.kernel for w in axes]))
    if any(w.extension for w in axes) or exclude_pads and any(w.begin or w.end for w in axes):
        if any(w.size is None for w in axes):
            raise Unsupported("averages over explicit padding need spatial dimensions known at import")
        for i, w in enumerate(axes):
            lo, hi = (w.begin, w.begin + w.size) if exclude_pads else (0, w.begin + w.size + w.end)
            count = w.counts(lo, hi) if i == 0 else np.multiply.outer(count, w.counts(lo, hi))
    if np.all(count == divisor):
        return y
    factor = (divisor / np.maximum(count, 1)).astype(y.dtype.numpy)
    return binary(cx, "MUL", y, cx.constant(factor.reshape(1, *np.shape(count), 1) if np.ndim(count) else factor,
                                            "pool_divisor"))


def _pool_channels_last(cx: Context, x: Tensor, axes: list[Window], op: str,
                        same_ok: bool) -> tuple[Tensor, int | None]:
    """The pooled channels-last tensor, and the number of cells its averages divided by (None:
    circle's SAME padding already divided as ONNX does)."""
    fill = _fill(x.dtype) if op == "MAX_POOL_2D" else 0.0
    n = len(axes)
    native = n <= 2 and all(w.dilation == 1 for w in axes)
    if any(w.same for w in axes):
        if not (native and same_ok):
            raise Unsupported("auto_pad SAME_UPPER with spatial dimensions unknown at import (give input_shapes)")
        return _pool_2d(cx, x, axes, op, Padding.SAME), None
    if native and same_ok and not any(w.extension for w in axes):
        kernel, strides = [w.kernel for w in axes], [w.stride for w in axes]
        padding = circle_padding([(w.begin, w.end) for w in axes], [w.size for w in axes], kernel, strides, [1] * n)
        if padding == Padding.SAME and any(w.begin or w.end for w in axes):
            return _pool_2d(cx, x, axes, op, Padding.SAME), None
    pads = [(w.begin, w.end + w.extension) for w in axes]
    if any(b or e for b, e in pads):
        x = pad_channels_last(cx, x, pads, fill)
    if native:
        return _pool_2d(cx, x, axes, op, Padding.VALID), int(np.prod([w.kernel for w in axes]))
    divisor = 1
    for i, w in enumerate(axes):
        if w.kernel == 1 and w.stride == 1:
            continue
        if w.dilation == 1:
            x = _pool_axis(cx, x, i + 1, w, op)
            divisor *= w.kernel
        else:
            x = _taps_axis(cx, x, i + 1, w, "MAXIMUM" if op == "MAX_POOL_2D" else "ADD")
    return x, divisor


def _fill(dtype: DType) -> float:
    """The padding value a maximum never picks."""
    np_type = np.dtype(dtype.numpy)
    return float("-inf") if np_type.kind == "f" else int(np.iinfo(np_type).min)


def _pool_2d(cx: Context, x: Tensor, axes: list[Window], op: str, padding: Padding) -> Tensor:
    """One circle 2-d pool over the 1 or 2 spatial axes of channels-last x."""
    shape = tensor_shape(x)
    if len(axes) == 1:  # (N, L, C) as (N, 1, L, C)
        x = insert_axis(cx, x, 1)
        axes = [Window(1, 1, 1, 1, 0, 0, 1), *axes]
    outs = [w.out if padding == Padding.VALID or w.size is None else -(-w.size // w.stride) for w in axes]
    y = cx.temp(x.name + "_pool", x.dtype, [shape[0], *outs, shape[-1]])
    cx.emit(op, [x], [y], Pool2DOptions(padding=padding, stride_h=axes[0].stride, stride_w=axes[1].stride,
                                        filter_height=axes[0].kernel, filter_width=axes[1].kernel))
    if len(shape) == 3:
        y = remove_axis(cx, y, 1)
    return y


def _static(x: Tensor, what: str) -> list[int]:
    shape = tensor_shape(x)
    if shape is None or any(d is None for d in shape[1:]):
        raise Unsupported(f"{what} needs the input's dimensions (but the batch) known at import")
    return shape


def _pool_axis(cx: Context, x: Tensor, axis: int, w: Window, op: str) -> Tensor:
    """A pool along one axis of x, as a 2-d pool of a (k, 1) window over x reshaped to
    (before, axis, after, C)."""
    shape = _static(x, "3-d pooling")
    before = -1 if shape[0] is None else int(np.prod(shape[:axis]))
    after = int(np.prod(shape[axis + 1 : -1]))
    y = cx.temp(x.name + "_pool", x.dtype, [None if before < 0 else before, w.out, after, shape[-1]])
    cx.emit(op, [reshape_to(cx, x, [before, shape[axis], after, shape[-1]])], [y], Pool2DOptions(
        padding=Padding.VALID, stride_h=w.stride, stride_w=1, filter_height=w.kernel, filter_width=1))
    return reshape_to(cx, y, [-1 if shape[0] is None else shape[0], *shape[1:axis], w.out, *shape[axis + 1 :]])


def _taps_axis(cx: Context, x: Tensor, axis: int, w: Window, combine: str) -> Tensor:
    """A dilated window along one axis: one strided slice per tap, combined by `combine`."""
    result = None
    for tap in range(w.kernel):
        part = _strided(cx, x, {axis: w.taken(tap)})
        result = part if result is None else binary(cx, combine, result, part)
    return result


def _strided(cx: Context, x: Tensor, slices: dict[int, tuple[int, int, int]]) -> Tensor:
    """x sliced along the axes of `slices` ((begin, end, stride) each), the other axes whole."""
    shape = tensor_shape(x)
    rank = len(shape)
    whole = sum(1 << i for i in range(rank) if i not in slices)
    bounds = [slices.get(i, (0, 0, 1)) for i in range(rank)]
    out = cx.temp(x.name + "_tap", x.dtype, [-(-(e - b) // s) if i in slices else shape[i]
                                              for i, (b, e, s) in enumerate(bounds)])
    cx.emit("STRIDED_SLICE", [x] + [cx.constant(np.array(v, np.int32), "slice") for v in zip(*bounds)], [out],
            StridedSliceOptions(begin_mask=whole, end_mask=whole))
    return out

def _max_with_indices(cx: Context, node: Node, x: Tensor, axes: list[Window]) -> None:
    """MaxPool with its Indices output: the window's taps one by one (strided slices of the padded
    input), each replacing the maximum where strictly greater, as ONNX Runtime scans; the index
    of a tap is a constant of the output position, plus (n * C + c) * spatial size."""
    shape = tensor_shape(x)
    if shape is None or None in shape:
        raise Unsupported("the Indices output of MaxPool needs the input shape known at import")
    rank, spatial = len(shape), shape[2:]
    x_last = pad_channels_last(cx, cx.to_channels_last(x, rank), [(w.begin, w.end + w.extension) for w in axes],
                               _fill(x.dtype))
    strides, step = [0] * len(axes), 1  # of the flattened spatial index; column-major with storage_order
    for axis in (range(len(axes)) if node.attr("storage_order", 0) else reversed(range(len(axes)))):
        strides[axis], step = step, step * spatial[axis]
    outs = [w.out for w in axes]
    best = index = None
    for taps in np.ndindex(*(w.kernel for w in axes)):
        value = _strided(cx, x_last, {i + 1: w.taken(t) for i, (w, t) in enumerate(zip(axes, taps))})
        positions = [np.arange(w.out) * w.stride + t * w.dilation - w.begin for w, t in zip(axes, taps)]
        flat = sum(np.reshape(p, [-1 if i == j else 1 for j in range(len(axes))]) * strides[i]
                   for i, p in enumerate(positions))
        tap_index = cx.constant(np.reshape(flat, [1, *outs, 1]).astype(np.int64), "pool_index")
        if best is None:
            best, index = value, tap_index
            continue
        greater = cx.temp(value.name + "_gt", DType.BOOL, tensor_shape(value))
        cx.emit("GREATER", [value, best], [greater])
        best = binary(cx, "MAXIMUM", best, value)
        chosen = cx.temp(value.name + "_idx", DType.INT64, tensor_shape(value))
        cx.emit("SELECT_V2", [greater, tap_index, index], [chosen])
        index = chosen
    offsets = (np.arange(shape[0])[:, None] * shape[1] + np.arange(shape[1])[None, :]) * int(np.prod(spatial))
    offsets = cx.constant(offsets.reshape(shape[0], *[1] * len(axes), shape[1]).astype(np.int64), "pool_offset")
    values_out = cx.output(node.outputs[0], x.dtype)
    indices_out = cx.output(node.outputs[1], DType.INT64)
    cx.from_channels_last(best, rank, values_out)
    cx.from_channels_last(binary(cx, "ADD", index, offsets), rank, indices_out)
