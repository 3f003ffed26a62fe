"""Shape operators: Identity, Reshape, Transpose."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import CastOptions, ReshapeOptions

from ..context import Context, Node, Unsupported
from . import converts
from .common import reshape


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
    shape = cx.const(node.input(1))
    if shape is not None:
        shape = [int(d) for d in shape]
        in_shape = cx.shape(x)
        if not node.attr("allowzero", 0) and 0 in shape:
            if in_shape is None or any(in_shape[i] is None for i, d in enumerate(shape) if d == 0):
                raise Unsupported("a 0 in the target shape copies an input dimension unknown at import")
            shape = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
        reshape(cx, cx.tensor(x), shape, cx.output(node.outputs[0], cx.dtype(x)))
        return
    shape_t = cx.tensor(node.input(1))
    cx.emit("RESHAPE", [cx.tensor(x), _as_int32(cx, shape_t)], [cx.output(node.outputs[0], cx.dtype(x))],
            ReshapeOptions())


def _as_int32(cx: Context, t: Tensor) -> Tensor:
    if t.dtype.numpy == np.int32:
        return t
    out = cx.temp(t.name + "_i32", DType.INT32, [t.shape[0]] if t.shape else None)
    cx.emit("CAST", [t], [out], CastOptions(in_data_type=t.dtype, out_data_type=DType.INT32))
    return out
