"""Normalizations: BatchNormalization (folded into MUL + ADD), InstanceNormalization (circle's
INSTANCE_NORM, channels-last), LRN (LOCAL_RESPONSE_NORMALIZATION, channels-last), and the others
composed of reductions and arithmetic."""

from __future__ import annotations

import numpy as np

from one_core.ir import Tensor
from one_core.ir.options import (
    FullyConnectedOptions,
    InstanceNormOptions,
    LocalResponseNormalizationOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import axis_of, tensor_shape
from .reduce import binary, lp_norm, reduce, reshape_like, reshape_to, scalar, unary


def per_channel(cx: Context, t: Tensor, rank: int) -> Tensor:
    """A per-channel parameter [C] shaped [C, 1, ...] to broadcast against an NC... tensor."""
    shape = tensor_shape(t)
    if shape is not None and len(shape) == rank - 1 > 1:  # already [C, D1, ...] (BatchNormalization spatial=0)
        return t
    return reshape_to(cx, t, [-1] + [1] * (rank - 2))


def normalize(cx: Context, x: Tensor, axes: list[int], epsilon: float, mean: Tensor | None = None,
              inv_std: Tensor | None = None) -> Tensor:
    """(x - mean) / sqrt(var + epsilon) over `axes`; the mean and 1 / sqrt(var + epsilon) go to
    `mean` and `inv_std` when given (dimensions kept)."""
    mean = reduce(cx, "MEAN", x, axes, True, mean)
    centered = binary(cx, "SUB", x, mean)
    var = reduce(cx, "MEAN", unary(cx, "SQUARE", centered), axes, True)
    inv_std = unary(cx, "RSQRT", binary(cx, "ADD", var, scalar(cx, epsilon, x.dtype)), inv_std)
    return binary(cx, "MUL", centered, inv_std)


def _output(cx: Context, node: Node, index: int) -> Tensor | None:
    name = node.outputs[index] if index < len(node.outputs) else ""
    return cx.output(name) if name else None


def _affine(cx: Context, y: Tensor, scale: Tensor | None, bias: Tensor | None, out: Tensor | None) -> Tensor:
    """y * scale + bias, the last step into `out`."""
    if scale is not None:
        y = binary(cx, "MUL", y, scale, out if bias is None else None)
    return binary(cx, "ADD", y, bias, out) if bias is not None else y


@converts("BatchNormalization")
def batch_normalization(cx: Context, node: Node) -> None:
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    x = cx.tensor(x_name)
    scale, bias, mean, var = (cx.tensor(node.input(i)) for i in range(1, 5))
    eps = scalar(cx, float(node.attr("epsilon", 1e-5)), x.dtype)
    out = cx.output(node.outputs[0], x.dtype)
    if node.opset >= 14 and node.attr("training_mode", 0):
        _batch_norm_training(cx, node, x, rank, scale, bias, mean, var, eps, out)
        return
    if len([o for o in node.outputs if o]) > 1:
        raise Unsupported("the training outputs (running mean and variance) of BatchNormalization before opset 14")
    if node.opset < 9 and not node.attr("spatial", 1) and scale.rank == 1 and rank > 2:
        raise Unsupported("spatial=0 with per-channel parameters")
    mul = binary(cx, "MUL", scale, unary(cx, "RSQRT", binary(cx, "ADD", var, eps)))
    add = binary(cx, "SUB", bias, binary(cx, "MUL", mean, mul))
    _affine(cx, x, per_channel(cx, mul, rank), per_channel(cx, add, rank), out)


def _batch_norm_training(cx: Context, node: Node, x: Tensor, rank: int, scale: Tensor, bias: Tensor,
                         mean: Tensor, var: Tensor, eps: Tensor, out: Tensor) -> None:
    """Normalized by the batch's statistics; the running statistics move towards them by 1 - momentum."""
    axes = [0, *range(2, rank)]
    batch_mean = reduce(cx, "MEAN", x, axes, False)
    centered = binary(cx, "SUB", x, per_channel(cx, batch_mean, rank))
    batch_var = reduce(cx, "MEAN", unary(cx, "SQUARE", centered), axes, False)
    mul = binary(cx, "MUL", scale, unary(cx, "RSQRT", binary(cx, "ADD", batch_var, eps)))
    _affine(cx, centered, per_channel(cx, mul, rank), per_channel(cx, bias, rank), out)
    momentum = float(node.attr("momentum", 0.9))
    for index, (running, batch) in enumerate(((mean, batch_mean), (var, batch_var)), start=1):
        target = _output(cx, node, index)
        if target is not None:
            kept = binary(cx, "MUL", running, scalar(cx, momentum, x.dtype))
            moved = binary(cx, "MUL", batch, scalar(cx, 1 - momentum, x.dtype))
            binary(cx, "ADD", kept, moved, target)


@converts("InstanceNormalization")
def instance_normalization(cx: Context, node: Node) -> None:
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    if rank < 3:
        raise Unsupported(f"rank {rank} input (InstanceNormalization needs spatial dimensions)")
    out = cx.output(node.outputs[0], cx.dtype(x_name))
    x_last = cx.to_channels_last(cx.tensor(x_name), rank)
    y_last = cx.channels_last_like(out)
    gamma, beta = cx.tensor(node.input(1)), cx.tensor(node.input(2))
    cx.emit("INSTANCE_NORM", [x_last, gamma, beta], [y_last],
            InstanceNormOptions(epsilon=float(node.attr("epsilon", 1e-5))))
    cx.from_channels_last(y_last, rank, out)


@converts("LayerNormalization")
def layer_normalization(cx: Context, node: Node) -> None:
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    axis = axis_of(node, int(node.attr("axis", -1)), rank)
    x = cx.tensor(x_name)
    y = normalize(cx, x, list(range(axis, rank)), float(node.attr("epsilon", 1e-5)), _output(cx, node, 1),
                  _output(cx, node, 2))
    _affine(cx, y, cx.tensor(node.input(1)), cx.optional(node.input(2)), cx.output(node.outputs[0], x.dtype))


@converts("GroupNormalization")
def group_normalization(cx: Context, node: Node) -> None:
    """Normalized over groups of channels: x reshaped to (N, groups, rest); the scale and bias are
    per group before opset 21 and per channel since."""
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    shape = cx.shape(x_name) or [None] * rank
    groups = int(node.attr("num_groups"))
    x = cx.tensor(x_name)
    if shape[0] is not None:
        grouped_shape = [shape[0], groups, -1]
    elif all(d is not None for d in shape[1:]):
        grouped_shape = [-1, groups, int(np.prod(shape[1:])) // groups]
    else:
        raise Unsupported("GroupNormalization with a dynamic batch and other dynamic dimensions")
    y = normalize(cx, reshape_to(cx, x, grouped_shape), [2], float(node.attr("epsilon", 1e-5)))
    scale, bias = cx.tensor(node.input(1)), cx.tensor(node.input(2))
    out = cx.output(node.outputs[0], x.dtype)
    if node.opset < 21:
        y = _affine(cx, y, reshape_to(cx, scale, [-1, 1]), reshape_to(cx, bias, [-1, 1]), None)
        reshape_like(cx, y, x, out)
    else:
        y = reshape_like(cx, y, x, cx.temp(x.name + "_norm", x.dtype, shape))
        _affine(cx, y, per_channel(cx, scale, rank), per_channel(cx, bias, rank), out)


@converts("MeanVarianceNormalization")
def mean_variance_normalization(cx: Context, node: Node) -> None:
    """(x - mean) / (std + 1e-9) over `axes`, as ONNX's function defines it."""
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    axes = sorted({axis_of(node, int(a), rank) for a in node.attr("axes", [0, 2, 3])})
    x = cx.tensor(x_name)
    centered = binary(cx, "SUB", x, reduce(cx, "MEAN", x, axes, True))
    std = unary(cx, "SQRT", reduce(cx, "MEAN", unary(cx, "SQUARE", centered), axes, True))
    denominator = binary(cx, "ADD", std, scalar(cx, 1e-9, x.dtype))
    binary(cx, "DIV", centered, denominator, cx.output(node.outputs[0], x.dtype))


@converts("LpNormalization")
def lp_normalization(cx: Context, node: Node) -> None:
    """x / ||x||_p along `axis`; a zero norm gives 0 (ONNX's reference), not NaN."""
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    axis = axis_of(node, int(node.attr("axis", -1)), rank)
    p = int(node.attr("p", 2))
    if p not in (1, 2):
        raise Unsupported(f"p={p} (LpNormalization defines p 1 and 2)")
    x = cx.tensor(x_name)
    norm = lp_norm(cx, x, [axis], p)
    tiny = scalar(cx, float(np.finfo(x.dtype.numpy).tiny), x.dtype)
    binary(cx, "DIV", x, binary(cx, "MAXIMUM", norm, tiny), cx.output(node.outputs[0], x.dtype))


@converts("LRN")
def lrn(cx: Context, node: Node) -> None:
    """x / (bias + alpha / size * sum of x^2 over the channel window)^beta. An odd window is
    circle's LOCAL_RESPONSE_NORMALIZATION (4-d, channels-last; its alpha is not divided by the
    size); an even one, not centred, sums the squares with a banded matrix product."""
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    shape = cx.shape(x_name) or [None] * rank
    size = int(node.attr("size"))
    alpha, beta, bias = float(node.attr("alpha", 1e-4)), float(node.attr("beta", 0.75)), float(node.attr("bias", 1.0))
    out = cx.output(node.outputs[0], cx.dtype(x_name))
    x_last = cx.to_channels_last(cx.tensor(x_name), rank)
    y_last = cx.channels_last_like(out)
    if size % 2 and rank == 4:
        cx.emit("LOCAL_RESPONSE_NORMALIZATION", [x_last], [y_last], LocalResponseNormalizationOptions(
            radius=(size - 1) // 2, bias=bias, alpha=alpha / size, beta=beta))
    else:
        channels = shape[1]
        if channels is None:
            raise Unsupported("LRN over a number of channels unknown at import")
        lo, hi = (size - 1) // 2, size // 2  # window [c - lo, c + hi]
        c = np.arange(channels)
        band = ((c[None, :] >= c[:, None] - lo) & (c[None, :] <= c[:, None] + hi)).astype(x_last.dtype.numpy)
        sums = cx.temp(x_last.name + "_sqsum", x_last.dtype, tensor_shape(x_last))
        cx.emit("FULLY_CONNECTED", [unary(cx, "SQUARE", x_last), cx.constant(band, "lrn_band"), None], [sums],
                FullyConnectedOptions(keep_num_dims=True))
        scaled = binary(cx, "ADD", binary(cx, "MUL", sums, scalar(cx, alpha / size, x_last.dtype)),
                        scalar(cx, bias, x_last.dtype))
        binary(cx, "DIV", x_last, binary(cx, "POW", scaled, scalar(cx, beta, x_last.dtype)), y_last)
    cx.from_channels_last(y_last, rank, out)
