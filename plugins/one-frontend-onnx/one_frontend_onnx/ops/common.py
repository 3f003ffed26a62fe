"""Helpers several converters share: axes, padding, activation-free options, constant inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir import options as circle_options
from one_core.ir.options import PadOptions, Padding, PadV2Options, ReshapeOptions

from ..context import Context, Node, Shape, Unsupported


def axis_of(node: Node, axis: int, rank: int) -> int:
    """`axis` made non-negative, checked against `rank`."""
    if not -rank <= axis < max(rank, 1):
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def tensor_shape(t: Tensor) -> Shape | None:
    """What is known of a circle tensor's shape: None for a dimension unknown at import, None for
    the whole when not even the rank is known. A constant's shape is its value's."""
    if t.is_constant:
        return list(t.data.shape)
    if not t.shape and not t.has_rank:
        return None
    sig = t.shape_signature or t.shape
    return [None if d < 0 else int(d) for d in sig]


@overload
def broadcast_shape(*shapes: Sequence[int | None]) -> Shape: ...


@overload
def broadcast_shape(*shapes: Sequence[int | None] | None) -> Shape | None: ...


def broadcast_shape(*shapes: Sequence[int | None] | None) -> Shape | None:
    """numpy's broadcasting of `shapes` (any number of them), with None for dimensions unknown at
    import; None when the rank of one of them is unknown (a None shape). Where known sizes other
    than 1 disagree (shapes numpy refuses to broadcast) the result has the largest."""
    known = [s for s in shapes if s is not None]
    if len(known) < len(shapes):
        return None
    rank = max((len(s) for s in known), default=0)
    out: Shape = []
    for column in zip(*[[1] * (rank - len(s)) + list(s) for s in known]):
        sizes = [d for d in column if d is not None and d != 1]
        out.append(max(sizes) if sizes else None if None in column else 1)
    return out


def const_input(cx: Context, node: Node, index: int, what: str) -> np.ndarray | None:
    """Input `index` as an import-time value (None when omitted); Unsupported when it is computed
    at run time and circle needs it fixed."""
    name = node.input(index)
    if not name:
        return None
    value = cx.const(name)
    if value is None:
        raise Unsupported(f"{what} ('{name}') must be known at import, not computed at run time")
    return value


def int32_const(cx: Context, values: Sequence[int] | np.ndarray, hint: str) -> Tensor:
    return cx.constant(np.asarray(values, dtype=np.int32).reshape(-1) if np.ndim(values) else
                       np.asarray(values, np.int32), hint)


def reshape(cx: Context, x: Tensor, shape: Sequence[int], out: Tensor | None = None) -> Tensor:
    """x reshaped to `shape` (one -1 allowed)."""
    shape = [int(d) for d in shape]
    if out is None:
        out = cx.temp(x.name + "_r", x.dtype, [None if d < 0 else d for d in shape])
    cx.emit("RESHAPE", [x, int32_const(cx, shape, "shape")], [out], ReshapeOptions(new_shape=shape))
    return out


def spatial_pads(cx: Context, node: Node, in_spatial: Sequence[int | None], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int]) -> list[tuple[int, int]]:
    """Explicit (begin, end) padding per spatial dimension, resolving `auto_pad`."""
    n = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(node.attr("pads", [0] * (2 * n)))
        if len(pads) != 2 * n:
            raise Unsupported(f"pads has {len(pads)} values for {n} spatial dimensions")
        return [(int(pads[i]), int(pads[i + n])) for i in range(n)]
    if auto == "VALID":
        return [(0, 0)] * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad '{auto}' is not an ONNX padding mode")
    out = []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations):
        if size is None:
            raise Unsupported(f"auto_pad {auto} needs static spatial dimensions (give --input_shapes)")
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return out


def circle_padding(pads: Sequence[tuple[int, int]], in_spatial: Sequence[int | None], kernel: Sequence[int],
                   strides: Sequence[int], dilations: Sequence[int]) -> Padding | None:
    """The circle padding mode that equals `pads`, or None when only an explicit PAD can."""
    if all(p == (0, 0) for p in pads):
        return Padding.VALID
    if any(size is None for size in in_spatial):
        return None
    same = []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)  # type: ignore[operator]
        same.append((total // 2, total - total // 2))
    return Padding.SAME if list(pads) == same else None


def pad_channels_last(cx: Context, x: Tensor, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """x (N, spatial..., C) padded on its spatial dimensions."""
    paddings = np.array([(0, 0), *pads, (0, 0)], np.int32)
    sig = x.shape_signature or x.shape
    shape = [None if sig[0] < 0 else x.shape[0]]
    shape += [None if sig[i + 1] < 0 else x.shape[i + 1] + b + e for i, (b, e) in enumerate(pads)]
    shape += [None if sig[-1] < 0 else x.shape[-1]]
    out = cx.temp(x.name + "_pad", x.dtype, shape)
    if value == 0.0:
        cx.emit("PAD", [x, cx.constant(paddings, "paddings")], [out], PadOptions())
    else:
        fill = cx.constant(np.array(value, dtype=x.dtype.numpy), "pad_value")
        cx.emit("PADV2", [x, cx.constant(paddings, "paddings"), fill], [out], PadV2Options())
    return out


def same_dtype(cx: Context, node: Node, names: Sequence[str]) -> DType:
    dtypes = {cx.dtype(n) for n in names if n}
    if len(dtypes) != 1:
        raise Unsupported(f"inputs have different element types {sorted(d.name for d in dtypes)}")
    return dtypes.pop()


# --- compositions of several circle operators (recurrent, quantization, detection converters) -------

Value = Tensor | np.ndarray  # a run-time tensor, or an import-time constant still in numpy

_BINARY = {  # circle operator: (options class, numpy equivalent for constant operands)
    "ADD": (circle_options.AddOptions, np.add), "SUB": (circle_options.SubOptions, np.subtract),
    "MUL": (circle_options.MulOptions, np.multiply), "DIV": (circle_options.DivOptions, np.divide),
    "MAXIMUM": (circle_options.MaximumMinimumOptions, np.maximum),
    "MINIMUM": (circle_options.MaximumMinimumOptions, np.minimum),
    "LESS": (circle_options.LessOptions, np.less), "GREATER": (circle_options.GreaterOptions, np.greater),
    "EQUAL": (circle_options.EqualOptions, np.equal), "LOGICAL_AND": (circle_options.LogicalAndOptions, np.logical_and),
}
_PREDICATES = {"LESS", "GREATER", "EQUAL", "LOGICAL_AND"}


def value_shape(v: Value) -> Shape:
    """The shape of a tensor (None for unknown dimensions; [] when not even its rank is known) or
    of a numpy constant."""
    if isinstance(v, np.ndarray):
        return list(v.shape)
    return tensor_shape(v) or []


class Emitter:
    """Builds a composition of circle operators in a context. Operands are tensors, numpy constants
    or Python numbers (constants of the other operand's type); operations on constants only are
    computed at import instead of emitted."""

    def __init__(self, cx: Context, hint: str) -> None:
        self.cx = cx
        self.hint = hint

    def tensor(self, v: Value) -> Tensor:
        return v if isinstance(v, Tensor) else self.cx.constant(np.asarray(v), self.hint + "_c")

    def op(self, op_type: str, inputs: Sequence[Value | None], dtype: DType, shape: Sequence[int | None] | None,
           options: object = None) -> Tensor:
        """One operator with one new output."""
        out = self.cx.temp(self.hint, dtype, shape)
        self.cx.emit(op_type, [None if v is None else self.tensor(v) for v in inputs], [out], options)
        return out

    def unary(self, op_type: str, x: Tensor, options: object = None) -> Tensor:
        return self.op(op_type, [x], x.dtype, value_shape(x), options)

    def binary(self, op_type: str, a: Value | float, b: Value | float) -> Value:
        """An elementwise ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, LESS, GREATER, EQUAL or LOGICAL_AND."""
        options, fn = _BINARY[op_type]
        a, b = self._operand(a, b), self._operand(b, a)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            with np.errstate(all="ignore"):
                return np.asarray(fn(a, b)).astype(np.bool_ if op_type in _PREDICATES else a.dtype)
        dtype = DType.BOOL if op_type in _PREDICATES else (a if isinstance(a, Tensor) else b).dtype
        return self.op(op_type, [a, b], dtype, broadcast_shape(value_shape(a), value_shape(b)), options())

    def add(self, a: Value | float, b: Value | float) -> Value:
        return self.binary("ADD", a, b)

    def sub(self, a: Value | float, b: Value | float) -> Value:
        return self.binary("SUB", a, b)

    def mul(self, a: Value | float, b: Value | float) -> Value:
        return self.binary("MUL", a, b)

    def div(self, a: Value | float, b: Value | float) -> Value:
        return self.binary("DIV", a, b)

    def clamp(self, x: Value, low: float, high: float) -> Value:
        return self.binary("MINIMUM", self.binary("MAXIMUM", x, low), high)

    def select(self, cond: Value, a: Value | float, b: Value | float) -> Tensor:
        a, b = self._operand(a, b), self._operand(b, a)
        shape = broadcast_shape(value_shape(cond), value_shape(a), value_shape(b))
        dtype = a.dtype if isinstance(a, Tensor) else DType.from_numpy(a.dtype)
        return self.op("SELECT_V2", [cond, a, b], dtype, shape, circle_options.SelectV2Options())

    def cast(self, x: Tensor, dtype: DType) -> Tensor:
        if x.dtype == dtype:
            return x
        return self.op("CAST", [x], dtype, value_shape(x), circle_options.CastOptions(x.dtype, dtype))

    def _operand(self, v: Value | float, other: Value | float) -> Value:
        if isinstance(v, (Tensor, np.ndarray)):
            return v
        like = other.dtype.numpy if isinstance(other, Tensor) else getattr(other, "dtype", np.float32)
        return np.asarray(v, like)
