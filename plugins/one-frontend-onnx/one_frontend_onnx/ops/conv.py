"""Convolutions: ONNX's channels-first Conv as circle's channels-last CONV_2D (grouped too),
DEPTHWISE_CONV_2D and CONV_3D, and ConvTranspose as TRANSPOSE_CONV / CONV_3D_TRANSPOSE, wrapped
in the Transposes that layout propagation later cancels. 1-d convolutions are 2-d ones of height 1.

ConvTranspose: circle's transposed convolutions take the output shape, but require it to be one
a forward convolution maps back to the input's size, so ONNX's padding is applied by choosing
SAME when circle's SAME crops exactly as ONNX does, else by computing the VALID (uncropped)
result and slicing or padding it. Groups are split and concatenated; 2-d dilations are zeros
inserted into constant weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ConcatenationOptions,
    Conv2DOptions,
    Conv3DOptions,
    DepthwiseConv2DOptions,
    Padding,
    PadOptions,
    ShapeOptions,
    SliceOptions,
    SplitOptions,
    StridedSliceOptions,
    TransposeConvOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import circle_padding, pad_channels_last, spatial_pads, tensor_shape
from .reduce import binary, insert_axis, remove_axis, reshape_to


def _weights_2d(cx: Context, w: Tensor) -> Tensor:
    """1-d weights (O, I, k) as 2-d ones (O, I, 1, k)."""
    if w.is_constant:
        return cx.constant(np.expand_dims(w.data, 2), w.name + "_2d")
    shape = tensor_shape(w)
    return reshape_to(cx, w, [*shape[:2], 1, shape[2]])


def split(cx: Context, t: Tensor, axis: int, parts: int) -> list[Tensor]:
    """t cut into `parts` equal pieces along `axis` (constants cut here)."""
    if parts == 1:
        return [t]
    if t.is_constant:
        pieces = np.split(t.data, parts, axis)
        return [cx.constant(np.ascontiguousarray(p), f"{t.name}_{i}") for i, p in enumerate(pieces)]
    shape = tensor_shape(t)
    axis %= len(shape)
    piece = [d // parts if i == axis and d is not None else d for i, d in enumerate(shape)]
    outs = [cx.temp(f"{t.name}_{i}", t.dtype, piece) for i in range(parts)]
    cx.emit("SPLIT", [cx.constant(np.array(axis, np.int32), "axis"), t], outs, SplitOptions(num_splits=parts))
    return outs


def concat(cx: Context, parts: list[Tensor], axis: int, out: Tensor | None = None) -> Tensor:
    """The parts joined along `axis`, into `out` or a new tensor (a single part: itself)."""
    if len(parts) == 1 and out is None:
        return parts[0]
    if out is None:
        shapes = [tensor_shape(p) for p in parts]
        shape = None if None in shapes else list(shapes[0])
        if shape is not None:
            sizes = [s[axis] for s in shapes]
            shape[axis] = None if None in sizes else sum(sizes)
        out = cx.temp(parts[0].name + "_concat", parts[0].dtype, shape)
    cx.emit("CONCATENATION", parts, [out], ConcatenationOptions(axis=axis))
    return out


# --- Conv ------------------------------------------------------------------------------------------


@converts("Conv")
def conv(cx: Context, node: Node) -> None:
    x_name, w_name = node.input(0), node.input(1)
    rank = cx.need_rank(node, x_name)
    n = rank - 2
    w_shape = cx.static_shape(w_name)
    if w_shape is None or len(w_shape) != rank:
        raise Unsupported("the weight shape must be known at import")
    if n not in (1, 2, 3):
        raise Unsupported(f"{n}-d convolution (circle has 1-d via 2-d, 2-d and 3-d)")
    kernel = [int(k) for k in node.attr("kernel_shape", w_shape[2:])]
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    group = int(node.attr("group", 1))
    x_shape = cx.shape(x_name) or [None] * rank
    out = cx.output(node.outputs[0], cx.dtype(x_name))
    x = cx.to_channels_last(cx.tensor(x_name), rank)
    w, b = cx.tensor(w_name), cx.optional(node.input(2))
    spatial = list(x_shape[2:])
    dynamic_same = node.attr("auto_pad", "NOTSET") == "SAME_UPPER" and None in spatial
    pads = [] if dynamic_same else spatial_pads(cx, node, spatial, kernel, strides, dilations)
    if n == 1:  # as a 2-d convolution of height 1
        x = insert_axis(cx, x, 1)
        w = _weights_2d(cx, w)
        kernel, strides, dilations, spatial = [1, *kernel], [1, *strides], [1, *dilations], [1, *spatial]
        pads = [(0, 0), *pads]
    if dynamic_same:
        padding = Padding.SAME  # circle's SAME is ONNX's SAME_UPPER, whatever the input size
    else:
        padding = circle_padding(pads, spatial, kernel, strides, dilations)
        if padding is None:
            x = pad_channels_last(cx, x, pads)
            padding = Padding.VALID
    y_last = y_out = cx.channels_last_like(out)
    if n == 1:  # written with the height axis, removed into y_out
        shape = tensor_shape(y_out) or [None] * 3
        y_last = cx.temp(y_out.name + "_2d", out.dtype, [shape[0], 1, *shape[1:]])
    _convolve(cx, x, w, b, group, padding, strides, dilations, y_last)
    if n == 1:
        remove_axis(cx, y_last, 1, y_out)
    cx.from_channels_last(y_out, rank, out)


def _convolve(cx: Context, x: Tensor, w: Tensor, b: Tensor | None, group: int, padding: Padding,
              strides: list[int], dilations: list[int], out: Tensor) -> None:
    """The circle convolution of channels-last x by ONNX-layout weights: CONV_3D (per group),
    DEPTHWISE_CONV_2D (constant weights, one input channel per group) or CONV_2D (grouped when
    the weights' input channels are a part of the input's)."""
    if len(strides) == 3:
        if group == 1:
            _conv_3d(cx, x, w, b, padding, strides, dilations, out)
            return
        parts = [_conv_3d(cx, xg, wg, bg, padding, strides, dilations, None)
                 for xg, wg, bg in zip(split(cx, x, -1, group), split(cx, w, 0, group), _split_bias(cx, b, group))]
        concat(cx, parts, -1, out)
    elif group > 1 and tensor_shape(w)[1] == 1 and w.is_constant and (b is None or b.is_constant):
        cx.emit("DEPTHWISE_CONV_2D", [x, cx.transpose(w, [1, 2, 3, 0]), b], [out], DepthwiseConv2DOptions(
            padding=padding, stride_h=strides[0], stride_w=strides[1], depth_multiplier=tensor_shape(w)[0] // group,
            dilation_h_factor=dilations[0], dilation_w_factor=dilations[1]))
    else:
        cx.emit("CONV_2D", [x, cx.transpose(w, [0, 2, 3, 1]), b], [out], Conv2DOptions(
            padding=padding, stride_h=strides[0], stride_w=strides[1],
            dilation_h_factor=dilations[0], dilation_w_factor=dilations[1]))


def _split_bias(cx: Context, b: Tensor | None, group: int) -> list[Tensor | None]:
    return [None] * group if b is None else split(cx, b, 0, group)


def _conv_3d(cx: Context, x: Tensor, w: Tensor, b: Tensor | None, padding: Padding, strides: list[int],
             dilations: list[int], out: Tensor | None) -> Tensor:
    if out is None:
        out = cx.temp(x.name + "_conv", x.dtype)
    cx.emit("CONV_3D", [x, cx.transpose(w, [2, 3, 4, 1, 0]), b], [out], Conv3DOptions(
        padding=padding, stride_d=strides[0], stride_h=strides[1], stride_w=strides[2],
        dilation_d_factor=dilations[0], dilation_h_factor=dilations[1], dilation_w_factor=dilations[2]))
    return out


# --- ConvTranspose ---------------------------------------------------------------------------------


def transpose_geometry(node: Node, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                       dilations: Sequence[int]) -> list[tuple[int, int]]:
    """Per spatial axis, (begin, size) of ONNX's output within the full (unpadded) transposed
    convolution, from pads, output_padding, output_shape and auto_pad."""
    n = len(kernel)
    extra = [int(p) for p in node.attr("output_padding", [0] * n)]
    full = [(i - 1) * s + (k - 1) * d + 1 for i, k, s, d in zip(sizes, kernel, strides, dilations)]
    auto = node.attr("auto_pad", "NOTSET")
    target = [int(d) for d in node.attr("output_shape", [])][-n:]
    if target or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = target or [i * s for i, s in zip(sizes, strides)]
        totals = [f + e - t for f, e, t in zip(full, extra, target)]
        begins = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        return list(zip(begins, target))
    pads = [0] * 2 * n if auto == "VALID" else [int(p) for p in node.attr("pads", [0] * 2 * n)]
    return [(pads[i], f + e - pads[i] - pads[i + n]) for i, (f, e) in enumerate(zip(full, extra))]


@converts("ConvTranspose")
def conv_transpose(cx: Context, node: Node) -> None:
    x_name, w_name = node.input(0), node.input(1)
    rank = cx.need_rank(node, x_name)
    n = rank - 2
    w_shape, x_shape = cx.static_shape(w_name), cx.shape(x_name)
    if w_shape is None or len(w_shape) != rank:
        raise Unsupported("the weight shape must be known at import")
    if n not in (1, 2, 3):
        raise Unsupported(f"{n}-d transposed convolution")
    if x_shape is None or any(d is None for d in x_shape[1:]):
        raise Unsupported("ConvTranspose needs the input's dimensions (but the batch) known at import")
    kernel = [int(k) for k in node.attr("kernel_shape", w_shape[2:])]
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    group = int(node.attr("group", 1))
    geometry = transpose_geometry(node, x_shape[2:], kernel, strides, dilations)
    out = cx.output(node.outputs[0], cx.dtype(x_name))
    x = cx.to_channels_last(cx.tensor(x_name), rank)
    w, b = cx.tensor(w_name), cx.optional(node.input(2))
    sizes = list(x_shape[2:])
    if n == 1:
        x = insert_axis(cx, x, 1)
        w = _weights_2d(cx, w)
        kernel, strides, dilations, sizes, geometry = [1, *kernel], [1, *strides], [1, *dilations], [1, *sizes], \
            [(0, 1), *geometry]
    if n < 3 and any(d > 1 for d in dilations):
        w = _dilated(cx, w, dilations)
        kernel, dilations = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)], [1] * len(kernel)
    plan = _Plan(sizes, kernel, strides, dilations, geometry)
    fuse_bias = b is None or (b.is_constant and not plan.pads)
    parts = [plan.emit(cx, xg, wg, bg if fuse_bias else None)
             for xg, wg, bg in zip(split(cx, x, -1, group), split(cx, w, 0, group), _split_bias(cx, b, group))]
    y = plan.crop(cx, concat(cx, parts, -1))
    if not fuse_bias:
        y = binary(cx, "ADD", y, b)
    if n == 1:
        y = remove_axis(cx, y, 1)
    cx.from_channels_last(y, rank, out)


def _dilated(cx: Context, w: Tensor, dilations: Sequence[int]) -> Tensor:
    """(I, O, k...) weights with dilation - 1 zeros between taps: each tap given a trailing axis
    padded to the dilation, merged, and the zeros after the last tap cut."""
    shape = tensor_shape(w)
    kernel = shape[2:]
    spread = [*shape[:2], *(v for k in kernel for v in (k, 1))]
    pads = [(0, 0), (0, 0), *((0, 0) if i % 2 == 0 else (0, d - 1) for d in dilations for i in range(2))]
    size = [*shape[:2], *((k - 1) * d + 1 for k, d in zip(kernel, dilations))]
    if w.is_constant:
        padded = np.pad(w.data.reshape(spread), pads).reshape([*shape[:2], *(k * d for k, d in zip(kernel, dilations))])
        return cx.constant(np.ascontiguousarray(padded[tuple(slice(0, s) for s in size)]), w.name + "_dilated")
    padded = cx.temp(w.name + "_spread", w.dtype, [*shape[:2], *(v for k, d in zip(kernel, dilations) for v in (k, d))])
    cx.emit("PAD", [reshape_to(cx, w, spread), cx.constant(np.array(pads, np.int32), "paddings")], [padded],
            PadOptions())
    merged = reshape_to(cx, padded, [*shape[:2], *(k * d for k, d in zip(kernel, dilations))])
    out = cx.temp(w.name + "_dilated", w.dtype, size)
    cx.emit("SLICE", [merged, cx.constant(np.zeros(len(size), np.int32), "begin"),
                      cx.constant(np.array(size, np.int32), "size")], [out], SliceOptions())
    return out


class _Plan:
    """How one transposed convolution of circle gives ONNX's output: its padding mode, the
    spatial size it computes, and the padding and slice that follow (channels-last)."""

    def __init__(self, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], geometry: Sequence[tuple[int, int]]) -> None:
        self.strides, self.dilations, self.geometry = list(strides), list(dilations), list(geometry)
        full = [(i - 1) * s + (k - 1) * d + 1 for i, k, s, d in zip(sizes, kernel, strides, dilations)]
        same = all(-(-size // s) == i and begin == max(f - size, 0) // 2
                   for i, s, f, (begin, size) in zip(sizes, strides, full, geometry))
        self.padding = Padding.SAME if same else Padding.VALID
        # circle's output must map back to the input: a VALID one is between full and full + stride - 1
        self.dims = [size for _, size in geometry] if same else \
            [min(max(begin + size, f), f + s - 1) for (begin, size), f, s in zip(geometry, full, strides)]
        self.pads = [] if same else [(max(-begin, 0), max(begin + size - d, 0))
                                     for (begin, size), d in zip(geometry, self.dims)]
        if not any(p != (0, 0) for p in self.pads):
            self.pads = []

    def emit(self, cx: Context, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        shape = tensor_shape(x)
        cout = tensor_shape(w)[1]
        out = cx.temp(x.name + "_convt", x.dtype, [shape[0], *self.dims, cout])
        shape_t = _shape_tensor(cx, x, [*self.dims, cout])
        if len(self.dims) == 2:
            cx.emit("TRANSPOSE_CONV", [shape_t, cx.transpose(w, [1, 2, 3, 0]), x, b], [out], TransposeConvOptions(
                padding=self.padding, stride_h=self.strides[0], stride_w=self.strides[1]))
        else:
            s, d = self.strides, self.dilations
            cx.emit("CONV_3D_TRANSPOSE", [shape_t, cx.transpose(w, [2, 3, 4, 1, 0]), x, b], [out], Conv3DOptions(
                padding=self.padding, stride_d=s[0], stride_h=s[1], stride_w=s[2],
                dilation_d_factor=d[0], dilation_h_factor=d[1], dilation_w_factor=d[2]))
        return out

    def crop(self, cx: Context, y: Tensor) -> Tensor:
        """circle's result cut (and zero-extended) to ONNX's output window."""
        if self.padding == Padding.SAME:
            return y
        if self.pads:
            y = pad_channels_last(cx, y, self.pads)
        begins = [begin + lo for (begin, _), (lo, _) in zip(self.geometry, self.pads or [(0, 0)] * len(self.dims))]
        sizes = [size for _, size in self.geometry]
        if begins == [0] * len(sizes) and sizes == tensor_shape(y)[1:-1]:
            return y
        shape = tensor_shape(y)
        out = cx.temp(y.name + "_crop", y.dtype, [shape[0], *sizes, shape[-1]])
        cx.emit("SLICE", [y, cx.constant(np.array([0, *begins, 0], np.int32), "begin"),
                          cx.constant(np.array([-1, *sizes, -1], np.int32), "size")], [out], SliceOptions())
        return out


def _shape_tensor(cx: Context, x: Tensor, dims: list[int]) -> Tensor:
    """The int32 output shape [N, *dims] of a transposed convolution of x (N read at run time
    when unknown)."""
    batch = tensor_shape(x)[0]
    if batch is not None:
        return cx.constant(np.array([batch, *dims], np.int32), "output_shape")
    full = cx.temp(x.name + "_shape", DType.INT32, [len(dims) + 1])
    cx.emit("SHAPE", [x], [full], ShapeOptions(out_type=DType.INT32))
    n = cx.temp(x.name + "_batch", DType.INT32, [1])
    cx.emit("STRIDED_SLICE", [full, *(cx.constant(np.array([v], np.int32), "slice") for v in (0, 1, 1))], [n],
            StridedSliceOptions())
    out = cx.temp(x.name + "_out_shape", DType.INT32, [len(dims) + 1])
    return concat(cx, [n, cx.constant(np.array(dims, np.int32), "dims")], 0, out)
