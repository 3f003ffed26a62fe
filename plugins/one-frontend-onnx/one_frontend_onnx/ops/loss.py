"""SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss: the log-probability of each sample's
target class picked by a one-hot product (ONE_HOT, MUL, SUM), weighted, and reduced.

Inputs [N, C, d1, ...] are flattened to [N, C, D] first. A target equal to ignore_index is moved
out of the class range, so its one-hot row, hence its loss and weight, is zero; the weight of a
sample is the one-hot product with the class weights (1 per counted sample without weights), and
'mean' divides the weighted sum by the weights' sum, as ONNX defines it.
"""

from __future__ import annotations

import math

import numpy as np

from one_core.ir import Tensor
from one_core.ir.options import LogSoftmaxOptions, OneHotOptions

from ..context import Context, Node, Unsupported
from . import converts
from .attention import F32, as_float32, emit_output, reshape
from .common import Emitter, value_shape
from .reduce import reduce, reshape_like

REDUCTIONS = ("none", "sum", "mean")


@converts("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss")
def loss(cx: Context, node: Node) -> None:
    x_name, target_name, weight_name = node.input(0), node.input(1), node.input(2)
    reduction = node.attr("reduction", "mean")
    if reduction not in REDUCTIONS:
        raise Unsupported(f"reduction '{reduction}'")
    rank = cx.need_rank(node, x_name)
    e = Emitter(cx, node.outputs[0] + "_loss")
    x = as_float32(e, x_name)
    shape = value_shape(x)
    classes = shape[1] if rank >= 2 else None
    if classes is None:
        raise Unsupported("the input must be [N, C, ...] with C known at import")
    spatial = None if None in shape[2:] else math.prod(shape[2:])  # type: ignore[arg-type]
    flat = reshape(cx, x, [shape[0], classes, spatial], {0: 0}) if rank > 3 else x
    labels = cx.tensor(target_name)
    target = reshape(cx, labels, [shape[0], spatial], {0: 0}) if rank > 3 else labels
    scores, axis = flat, 1
    if node.op_type == "SoftmaxCrossEntropyLoss":
        scores, axis = _log_softmax(cx, e, flat), len(value_shape(flat)) - 1
        if len(node.outputs) > 1 and node.outputs[1]:
            log_prob = cx.transpose(scores, [0, 2, 1]) if rank > 2 else scores
            emit_output(cx, node, 1, _unflatten(cx, log_prob, x), cx.dtype(x_name))
    hot = _one_hot(cx, node, e, target, classes, axis)
    picked = reduce(cx, "SUM", e.tensor(e.mul(hot, scores)), [axis], False)
    weights = None  # per sample, when they are not all 1
    if weight_name:
        along = [classes if i == axis else 1 for i in range(1, len(value_shape(hot)))]
        weights = reduce(cx, "SUM", e.tensor(e.mul(hot, reshape(cx, as_float32(e, weight_name), along))), [axis],
                         False)
        picked = e.tensor(e.mul(picked, weights))
    elif node.attr("ignore_index") is not None and reduction == "mean":
        weights = reduce(cx, "SUM", hot, [axis], False)
    every = list(range(len(value_shape(picked))))
    if reduction == "none":
        result = e.unary("NEG", _unflatten(cx, picked, labels))
    elif reduction == "mean" and weights is None:
        result = e.unary("NEG", reduce(cx, "MEAN", picked, every, False))
    else:
        result = e.unary("NEG", reduce(cx, "SUM", picked, every, False))
        if reduction == "mean":
            result = e.tensor(e.div(result, reduce(cx, "SUM", weights, every, False)))
    emit_output(cx, node, 0, result, cx.dtype(x_name))


def _unflatten(cx: Context, x: Tensor, like: Tensor) -> Tensor:
    """x (flattened) in the shape of `like`."""
    if value_shape(x) == value_shape(like):
        return x
    return reshape_like(cx, x, like, cx.temp(x.name + "_r", x.dtype, value_shape(like)))


def _log_softmax(cx: Context, e: Emitter, x: Tensor) -> Tensor:
    """log_softmax over the classes, which end up on the last axis ([N, C] or [N, D, C])."""
    if len(value_shape(x)) == 3:
        x = cx.transpose(x, [0, 2, 1])
    return e.op("LOG_SOFTMAX", [x], F32, value_shape(x), LogSoftmaxOptions())


def _one_hot(cx: Context, node: Node, e: Emitter, target: Tensor, classes: int, axis: int) -> Tensor:
    """1.0 at each sample's target class along `axis`; a target equal to ignore_index (or out of
    the class range) gives a row of zeros."""
    if np.dtype(target.dtype.numpy).kind not in "iu":
        raise Unsupported(f"target of type {target.dtype.name}")
    ignore = node.attr("ignore_index")
    if ignore is not None and 0 <= ignore < classes:
        target = e.select(e.binary("EQUAL", target, ignore), -1, target)
    shape = value_shape(target)
    shape.insert(axis, classes)
    return e.op("ONE_HOT", [target, np.array(classes, np.int32), np.float32(1), np.float32(0)], F32, shape,
                OneHotOptions(axis=axis))
