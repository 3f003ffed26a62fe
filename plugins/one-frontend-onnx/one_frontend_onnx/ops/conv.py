"""Convolutions: ONNX's channels-first Conv as circle's channels-last CONV_2D, DEPTHWISE_CONV_2D
and CONV_3D, wrapped in the Transposes that layout propagation later cancels."""

from __future__ import annotations

import numpy as np

from one_core.ir.options import Conv2DOptions, Conv3DOptions, DepthwiseConv2DOptions, Padding

from ..context import Context, Node, Unsupported
from . import converts
from .common import circle_padding, pad_channels_last, reshape, spatial_pads


@converts("Conv")
def conv(cx: Context, node: Node) -> None:
    x_name, w_name = node.input(0), node.input(1)
    rank = cx.need_rank(node, x_name)
    w_shape = cx.static_shape(w_name)
    if w_shape is None or len(w_shape) != rank:
        raise Unsupported("the weight shape must be known at import")
    n = rank - 2
    if n not in (1, 2, 3):
        raise Unsupported(f"{n}-d convolution (circle has 1-d via 2-d, 2-d and 3-d)")
    kernel = list(node.attr("kernel_shape", w_shape[2:]))
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    group = int(node.attr("group", 1))
    x_shape = cx.shape(x_name) or [None] * rank
    pads = spatial_pads(cx, node, x_shape[2:], kernel, strides, dilations)
    out = cx.output(node.outputs[0], cx.dtype(x_name))
    x = cx.to_channels_last(cx.tensor(x_name), rank)
    w = cx.tensor(w_name)
    b = cx.optional(node.input(2))
    if n == 1:  # as a 2-d convolution of height 1
        x = reshape(cx, x, [-1 if x_shape[0] is None else x_shape[0], 1, -1 if x_shape[2] is None else x_shape[2],
                            -1 if x_shape[1] is None else x_shape[1]])
        w = _unsqueeze_const(cx, w, 2)
        kernel, strides, dilations, pads = [1, *kernel], [1, *strides], [1, *dilations], [(0, 0), *pads]
        x_spatial = [1, x_shape[2]]
    else:
        x_spatial = list(x_shape[2:])
    padding = circle_padding(pads, x_spatial, kernel, strides, dilations)
    if padding is None:
        x = pad_channels_last(cx, x, pads)
        padding = Padding.VALID
    y_last = cx.channels_last_like(out) if n > 1 else cx.temp(out.name + "_nhwc", out.dtype)
    channels = w_shape[1] * group
    if n == 3:
        if group != 1:
            raise Unsupported("grouped 3-d convolution")
        w_dhwio = cx.transpose(w, [2, 3, 4, 1, 0])
        cx.emit("CONV_3D", [x, w_dhwio, b], [y_last], Conv3DOptions(
            padding=padding, stride_d=strides[0], stride_h=strides[1], stride_w=strides[2],
            dilation_d_factor=dilations[0], dilation_h_factor=dilations[1], dilation_w_factor=dilations[2]))
    elif group != 1 and group == channels and w_shape[1] == 1:
        w_1hwm = cx.transpose(w, [1, 2, 3, 0])  # (M, 1, kh, kw) -> (1, kh, kw, M)
        cx.emit("DEPTHWISE_CONV_2D", [x, w_1hwm, b], [y_last], DepthwiseConv2DOptions(
            padding=padding, stride_h=strides[0], stride_w=strides[1], depth_multiplier=w_shape[0] // group,
            dilation_h_factor=dilations[0], dilation_w_factor=dilations[1]))
    else:
        w_ohwi = cx.transpose(w, [0, 2, 3, 1])
        cx.emit("CONV_2D", [x, w_ohwi, b], [y_last], Conv2DOptions(
            padding=padding, stride_h=strides[0], stride_w=strides[1],
            dilation_h_factor=dilations[0], dilation_w_factor=dilations[1]))
    if n == 1:
        y_last = reshape(cx, y_last, [-1 if x_shape[0] is None else x_shape[0], -1, w_shape[0]])
    cx.from_channels_last(y_last, rank, out)


def _unsqueeze_const(cx: Context, w, axis: int):
    if w.is_constant:
        return cx.constant(np.expand_dims(w.data, axis), w.name + "_2d")
    shape = list(w.shape)
    return reshape(cx, w, shape[:axis] + [1] + shape[axis:])
