"""Activations (Relu, Sigmoid, Elu, Gelu, Mish, ...), the softmax family (Softmax, LogSoftmax,
Hardmax) and Dropout, as circle operators or compositions of them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ArgMaxOptions,
    GeluOptions,
    LeakyReluOptions,
    OneHotOptions,
    ReshapeOptions,
    ShapeOptions,
    SoftmaxOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import axis_of, reshape, tensor_shape
from .elementwise import Emitter, alias, is_float, lower, register, unary


def _relu(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    x = xs[0]
    assert x is not None
    if is_float(x):
        e("RELU", x, out=out)
    else:  # circle's RELU is for floats and quantized integers
        e("MAXIMUM", x, e.const(0, x), out=out)


def _elu_like(alpha: float, scale: float = 1.0, beta: float = 1.0) -> Callable[[Emitter, Tensor, Tensor], None]:
    """scale * (x if x > 0 else alpha * (exp(x / beta) - 1)): Elu, Selu and Celu."""

    def recipe(e: Emitter, x: Tensor, out: Tensor) -> None:
        if (alpha, scale, beta) == (1.0, 1.0, 1.0):
            e("ELU", x, out=out)
            return
        t = e("MINIMUM", x, e.const(0, x))
        if beta != 1.0:
            t = e("DIV", t, e.const(beta, x))
        negative = e("MUL", e("SUB", e("EXP", t), e.const(1, x)), e.const(alpha, x))
        y = e("ADD", e("RELU", x), negative, out=out if scale == 1.0 else None)
        if scale != 1.0:
            e("MUL", y, e.const(scale, x), out=out)

    return recipe


def _elu(e: Emitter, x: Tensor, out: Tensor) -> None:
    _elu_like(e.node.attr("alpha", 1.0))(e, x, out)


def _selu(e: Emitter, x: Tensor, out: Tensor) -> None:
    _elu_like(e.node.attr("alpha", 1.67326319217681884765625), e.node.attr("gamma", 1.05070102214813232421875))(
        e, x, out)


def _celu(e: Emitter, x: Tensor, out: Tensor) -> None:
    alpha = e.node.attr("alpha", 1.0)
    _elu_like(alpha, beta=alpha)(e, x, out)


def _softplus(e: Emitter, x: Tensor, out: Tensor | None = None) -> Tensor:
    """log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)), which does not overflow."""
    tail = e("LOG", e("ADD", e("EXP", e("NEG", e("ABS", x))), e.const(1, x)))
    return e("ADD", e("RELU", x), tail, out=out)


def _hard_sigmoid(e: Emitter, x: Tensor, out: Tensor) -> None:
    alpha, beta = e.node.attr("alpha", 0.2), e.node.attr("beta", 0.5)
    e("RELU_0_TO_1", e("ADD", e("MUL", x, e.const(alpha, x)), e.const(beta, x)), out=out)


def _thresholded_relu(e: Emitter, x: Tensor, out: Tensor) -> None:
    above = e("GREATER", x, e.const(e.node.attr("alpha", 1.0), x))
    e("SELECT_V2", above, x, e.const(0, x), out=out)


def _shrink(e: Emitter, x: Tensor, out: Tensor) -> None:
    """x - bias above lambd, x + bias below -lambd, 0 between."""
    lambd, bias = e.node.attr("lambd", 0.5), e.node.attr("bias", 0.0)
    low = e("SELECT_V2", e("LESS", x, e.const(-lambd, x)), e("ADD", x, e.const(bias, x)), e.const(0, x))
    e("SELECT_V2", e("GREATER", x, e.const(lambd, x)), e("SUB", x, e.const(bias, x)), low, out=out)


ACTIVATIONS: dict[str, Callable[[Emitter, Tensor, Tensor], object]] = {
    "LeakyRelu": lambda e, x, out: e("LEAKY_RELU", x, options=LeakyReluOptions(alpha=e.node.attr("alpha", 0.01)),
                                     out=out),
    "Gelu": lambda e, x, out: e("GELU", x, options=GeluOptions(approximate=e.node.attr("approximate") == "tanh"),
                                out=out),
    "Elu": _elu,
    "Selu": _selu,
    "Celu": _celu,
    "HardSigmoid": _hard_sigmoid,
    "Softplus": _softplus,
    "Softsign": lambda e, x, out: e("DIV", x, e("ADD", e("ABS", x), e.const(1, x)), out=out),
    "Mish": lambda e, x, out: e("MUL", x, e("TANH", _softplus(e, x)), out=out),
    "ThresholdedRelu": _thresholded_relu,
    "Shrink": _shrink,
}

register({"Relu": _relu, "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
          **{op: unary(fn) for op, fn in ACTIVATIONS.items()}})


@converts("PRelu")
def prelu(cx: Context, node: Node) -> None:
    """PRELU; before opset 7 a 1-d slope of the channel count applies along axis 1 (later opsets
    broadcast it numpy-style, along the last axis)."""
    rank, slope_shape = cx.rank(node.input(0)), cx.shape(node.input(1))
    per_channel = node.opset < 7 and rank is not None and rank > 2 and slope_shape is not None \
        and len(slope_shape) == 1 and slope_shape[0] != 1

    def recipe(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
        x, slope = xs[0], xs[1]
        if per_channel:
            shape = [-1] + [1] * (rank - 2)
            slope = e("RESHAPE", slope, e.const(shape, DType.INT32), options=ReshapeOptions(new_shape=shape),
                      out=e.temp("slope", slope.dtype, [slope_shape[0]] + [1] * (rank - 2)))
        e("PRELU", x, slope, out=out)

    lower(cx, node, recipe)


# --- Softmax, LogSoftmax, Hardmax --------------------------------------------------------------------


def _hardmax_last(e: Emitter, x: Tensor, out: Tensor) -> None:
    """One-hot of the first maximum along the last axis."""
    shape = tensor_shape(x)
    assert shape is not None and shape[-1] is not None  # checked by _along_axis
    last = len(shape) - 1
    index = e("ARG_MAX", x, e.const(last, DType.INT32), options=ArgMaxOptions(output_type=DType.INT32),
              out=e.temp("argmax", DType.INT32, shape[:-1]))
    e("ONE_HOT", index, e.const(shape[-1], DType.INT32), e.const(1, x), e.const(0, x),
      options=OneHotOptions(axis=-1), out=out)


LAST_AXIS: dict[str, Callable[[Emitter, Tensor, Tensor], object]] = {
    "Softmax": lambda e, x, out: e("SOFTMAX", x, options=SoftmaxOptions(beta=1.0), out=out),
    "LogSoftmax": lambda e, x, out: e("LOG_SOFTMAX", x, out=out),
    "Hardmax": _hardmax_last,
}


def _along_axis(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """The circle operator works on the last axis. From opset 13 ONNX's `axis` (default -1) is moved
    there and back by Transposes; before, the input is coerced to 2-D [prod(:axis), prod(axis:)]
    (default axis 1) and the result reshaped back."""
    x, node, cx = xs[0], e.node, e.cx
    assert x is not None
    fn = LAST_AXIS[node.op_type]
    shape = tensor_shape(x)
    if shape is None:
        raise Unsupported(f"the rank of '{node.input(0)}' is unknown at import (give --input_shapes)")
    rank = len(shape)
    axis = axis_of(node, node.attr("axis", -1 if node.opset >= 13 else 1), rank)
    if node.op_type == "Hardmax" and (shape[axis] if node.opset >= 13 else _product(shape[axis:])) is None:
        raise Unsupported("Hardmax over an axis whose size is unknown at import")
    if axis == rank - 1:
        fn(e, x, out)
    elif node.opset >= 13:
        perm = list(range(rank))
        perm[axis], perm[-1] = rank - 1, axis
        y = e.temp("last", out.dtype, [shape[p] for p in perm])
        fn(e, cx.transpose(x, perm), y)
        cx.transpose(y, perm, out)
    else:
        outer, inner = _product(shape[:axis]), _product(shape[axis:])
        if outer is None and inner is None:
            raise Unsupported(f"coercing to 2-D at axis {axis} needs the dimensions on one side known at import")
        y = e.temp("2d", out.dtype, [outer, inner])
        fn(e, reshape(cx, x, [-1 if outer is None else outer, -1 if inner is None else inner]), y)
        if None not in shape:
            reshape(cx, y, shape, out)  # type: ignore[arg-type]
        else:
            e("RESHAPE", y, _shape_tensor(e, x), options=ReshapeOptions(), out=out)


def _shape_tensor(e: Emitter, x: Tensor) -> Tensor:
    """x's shape as an int32 tensor: a constant when known at import, else computed by SHAPE."""
    shape = tensor_shape(x)
    if shape is None:
        raise Unsupported(f"the rank of '{e.node.input(0)}' is unknown at import (give --input_shapes)")
    if None not in shape:
        return e.const(shape, DType.INT32)
    return e("SHAPE", x, options=ShapeOptions(out_type=DType.INT32), out=e.temp("shape", DType.INT32, [len(shape)]))


def _product(shape: list[int | None]) -> int | None:
    return None if None in shape else math.prod(shape)  # type: ignore[arg-type]


register(dict.fromkeys(LAST_AXIS, _along_axis))


# --- Dropout ---------------------------------------------------------------------------------------


@converts("Dropout")
def dropout(cx: Context, node: Node) -> None:
    """Inference: the output is the input, the optional mask all ones. A Dropout in training mode
    (training_mode true with a ratio above 0) is random and not converted."""
    training = node.input(2)
    if training:
        mode, ratio = cx.const(training), cx.const(node.input(1)) if node.input(1) else np.array(0.5)
        if mode is None:
            raise Unsupported("training_mode is computed at run time")
        if bool(mode) and (ratio is None or float(ratio) != 0.0):
            raise Unsupported("training_mode is true: the dropout is random")
    if len(node.outputs) > 1 and node.outputs[1]:
        e = Emitter(cx, node)
        shape = _shape_tensor(e, cx.tensor(node.input(0)))
        inferred = cx.graph.types.get(node.outputs[1], (None, None))[0]
        mask = cx.output(node.outputs[1], inferred or (DType.BOOL if node.opset >= 10 else cx.dtype(node.input(0))))
        e("FILL", shape, e.const(1, mask), out=mask)
    alias(cx, node, node.input(0))
