"""Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, ConvInteger,
QLinearConv.

With scales and zero points known at import (per tensor or per axis), QuantizeLinear becomes
circle's QUANTIZE and DequantizeLinear DEQUANTIZE, their parameters on the quantized tensor.
QUANTIZE rounds halves away from zero where ONNX rounds them to even, so its input is first
rounded the ONNX way: ROUND(x / scale) * scale, which QUANTIZE maps back to that exact integer.
Run-time or blocked parameters take the arithmetic itself (DIV, ROUND, ADD, clamp, CAST).

Integer products follow ONNX's integer accumulation: QLinearMatMul goes through MatMulInteger's
converter, convolutions through Conv's on integer-valued floats, exact while every partial sum
stays below 2**24 (checked at import). Requantization multiplies in float32 and rounds halves to
even, as onnxruntime does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from one_core.ir import DType, Quantization, Tensor
from one_core.ir.options import DequantizeOptions, GatherOptions, QuantizeOptions, ReducerOptions

from ..context import Context, Node, Unsupported
from . import converter_for, converts
from .common import Emitter, Value, axis_of, int32_const, reshape, value_shape

F32 = DType.FLOAT32
QUANTIZED = (DType.INT8, DType.UINT8, DType.INT16)  # what circle's QUANTIZE and DEQUANTIZE take
EXACT = 1 << 24  # float32 holds every integer up to this


@converts("QuantizeLinear")
def quantize_linear(cx: Context, node: Node) -> None:
    x = node.input(0)
    if cx.dtype(x) != F32 or node.attr("precision", 0) not in (0, onnx.TensorProto.FLOAT):
        raise Unsupported(f"QuantizeLinear of {cx.dtype(x).name} (float32 only)")
    zero_name = node.input(2)
    dtype = cx.dtype(zero_name) if zero_name else _onnx_type(node.attr("output_dtype", onnx.TensorProto.UINT8))
    e = Emitter(cx, node.outputs[0] + "_q")
    scale, flat_scale = _parameter(cx, node, node.input(1))
    zero, flat_zero = _parameter(cx, node, zero_name)
    out = cx.output(node.outputs[0], dtype)
    rounded = e.unary("ROUND", e.div(cx.tensor(x), scale))  # type: ignore[arg-type]
    if flat_scale is not None and (flat_zero is not None or not zero_name) and dtype in QUANTIZED:
        out.quantization = _quantization(cx, node, flat_scale, flat_zero)
        cx.emit("QUANTIZE", [e.tensor(e.mul(rounded, scale))], [out], QuantizeOptions())
        return
    _saturate(e, rounded if zero is None else e.add(rounded, zero), out)


@converts("DequantizeLinear")
def dequantize_linear(cx: Context, node: Node) -> None:
    x_name = node.input(0)
    x = cx.tensor(x_name)
    scale_type = _onnx_type(node.attr("output_dtype")) if node.attr("output_dtype") else cx.dtype(node.input(1))
    if scale_type not in (F32, DType.FLOAT16) or np.dtype(x.dtype.numpy).kind not in "iu":
        raise Unsupported(f"DequantizeLinear of {x.dtype.name} to {scale_type.name}")
    scale, flat_scale = _parameter(cx, node, node.input(1))
    zero, flat_zero = _parameter(cx, node, node.input(2))
    e = Emitter(cx, node.outputs[0] + "_dq")
    params = None
    known = flat_scale is not None and (flat_zero is not None or not node.input(2))
    if known and x.dtype in (*QUANTIZED, DType.INT32):
        params = _quantization(cx, node, flat_scale, flat_zero)  # type: ignore[arg-type]
    if params is not None and (x.quantization is None or _same(x.quantization, params)):
        x.quantization = params
        y = cx.output(node.outputs[0], F32) if scale_type == F32 else cx.temp(e.hint, F32, value_shape(x))
        cx.emit("DEQUANTIZE", [x], [y], DequantizeOptions())
    else:
        shifted = e.cast(x, F32) if zero is None else e.sub(e.cast(x, F32), zero)
        y = e.tensor(e.mul(shifted, scale))
    _result(cx, node.outputs[0], y, scale_type)


@converts("DynamicQuantizeLinear")
def dynamic_quantize_linear(cx: Context, node: Node) -> None:
    """scale = (max(x, 0) - min(x, 0)) / 255 (1 when that is 0, as onnxruntime), zero point =
    round(clamp(-min / scale, 0, 255)), y = clamp(round(x / scale) + zero point, 0, 255), uint8."""
    x_name = node.input(0)
    rank = cx.need_rank(node, x_name)
    if not rank:
        raise Unsupported("DynamicQuantizeLinear of a scalar")
    x = cx.tensor(x_name)
    e = Emitter(cx, node.outputs[0] + "_dq")
    axes = int32_const(cx, list(range(rank)), "axes")
    extremes = [e.binary(fn, e.op(op, [x, axes], F32, [1] * rank, ReducerOptions(keep_dims=True)), 0.0)
                for op, fn in (("REDUCE_MAX", "MAXIMUM"), ("REDUCE_MIN", "MINIMUM"))]
    span = e.sub(*extremes)
    scale = e.select(e.binary("EQUAL", span, 0.0), 1.0, e.div(span, 255.0))
    zero = e.unary("ROUND", e.clamp(e.sub(0.0, e.div(extremes[1], scale)), 0.0, 255.0))  # type: ignore[arg-type]
    _saturate(e, e.add(e.unary("ROUND", e.div(x, scale)), zero), cx.output(node.outputs[0], DType.UINT8))
    names = [*node.outputs, "", ""]
    if names[1]:
        reshape(cx, e.tensor(scale), [], cx.output(names[1], F32, []))
    if names[2]:
        cx.emit("CAST", [reshape(cx, zero, [])], [cx.output(names[2], DType.UINT8, [])])


@converts("QLinearMatMul")
def qlinear_matmul(cx: Context, node: Node) -> None:
    """MatMulInteger(a, b, a_zero_point, b_zero_point), requantized."""
    a, _, a_zero, b, _, b_zero, _, y_zero = [node.input(i) for i in range(8)]
    shape = cx.shape(node.outputs[0])
    acc = _delegate(cx, node, "MatMulInteger", [a, b, a_zero, b_zero], DType.INT32, shape)
    _requantize(cx, node, acc, (-2, -1, -2))  # a and y per row, b per column


@converts("ConvInteger", "QLinearConv")
def conv_integer(cx: Context, node: Node) -> None:
    """(x - x_zero_point) convolved with (w - w_zero_point) (plus the int32 bias of QLinearConv)
    by Conv's converter on float32 integers, then cast to int32 or requantized."""
    linear = node.op_type == "QLinearConv"
    x_name, x_zero, w_name, w_zero, bias = ([node.input(i) for i in (0, 2, 3, 5, 8)] if linear else
                                           [node.input(i) for i in (0, 2, 1, 3)] + [""])
    w_shape = cx.static_shape(w_name)
    if w_shape is None:
        raise Unsupported("the weight shape must be known at import")
    e = Emitter(cx, node.outputs[0] + "_conv")
    rank = len(w_shape)
    x = _centered(e, cx.tensor(x_name), _parameter_like(cx, x_zero, rank, None))
    w_value = cx.const(w_name)
    w = _centered(e, w_value if w_value is not None else cx.tensor(w_name), _parameter_like(cx, w_zero, rank, 0))
    values = [x, w]
    b = cx.const(bias) if bias else None
    if bias:
        values.append(e.cast(cx.tensor(bias), F32) if b is None else b.astype(np.float32))
    _check_exact(cx, x_name, x_zero, w, cx.dtype(w_name), b)
    names = [f"{node.outputs[0]}::{part}" for part in ("x", "w", "b")][:len(values)]
    for name, value in zip(names, values):
        _bind(cx, name, value)
    attrs = {k: v for k, v in node.attrs.items() if k in ("auto_pad", "dilations", "group", "kernel_shape", "pads",
                                                         "strides")}
    acc = _delegate(cx, node, "Conv", names, F32, cx.shape(node.outputs[0]), **attrs)
    if linear:
        _requantize(cx, node, acc, (None, 1, None))  # w per output channel
    else:
        cx.emit("CAST", [acc], [cx.output(node.outputs[0], DType.INT32)])


def _check_exact(cx: Context, x_name: str, x_zero: str, w: Value, w_type: DType, bias: np.ndarray | None) -> None:
    """Unsupported when a float32 accumulation of the convolution might round."""
    x_range = _distance(cx.dtype(x_name), cx.const(x_zero))
    if isinstance(w, np.ndarray):
        weight_sums = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).sum(axis=1)
    else:
        weight_sums = np.full(1, np.prod(value_shape(w)[1:]) * _distance(w_type, None))  # type: ignore[arg-type]
    worst = x_range * weight_sums + (0 if bias is None else np.abs(bias.astype(np.float64)).reshape(-1))
    if worst.max() >= EXACT:
        raise Unsupported("its sums could exceed 2**24, beyond float32's exact integers")


def _distance(dtype: DType, zero: np.ndarray | None) -> float:
    """The largest |q - zero point| of an integer type."""
    info = np.iinfo(dtype.numpy)
    if zero is None:
        return float(info.max - info.min)
    z = np.asarray(zero, np.float64)
    return float(max(np.max(info.max - z), np.max(z - info.min)))


def _centered(e: Emitter, q: Value, zero: Value | None) -> Value:
    """q - zero point, as float32."""
    f = q.astype(np.float32) if isinstance(q, np.ndarray) else e.cast(q, F32)
    return f if zero is None else e.sub(f, zero)


def _requantize(cx: Context, node: Node, acc: Tensor, axes: tuple[int | None, int | None, int | None]) -> None:
    """y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zero_point); the scales of
    QLinearMatMul (a, b, y) and QLinearConv (x, w, y) are inputs 1, 4, 6, each per tensor or along
    its axis of `axes`; the scale product is rounded to their type, as ONNX computes it."""
    e = Emitter(cx, node.outputs[0] + "_rq")
    rank = len(value_shape(acc))
    scales = [_parameter_like(cx, node.input(i), rank, axis) for i, axis in zip((1, 4, 6), axes)]
    dtype = cx.dtype(node.input(1))
    multiplier = _round_to(e, e.div(_round_to(e, e.mul(scales[0], scales[1]), dtype), scales[2]), dtype)
    y_zero = node.input(7)
    out_type = cx.dtype(y_zero) if y_zero else cx.dtype(node.input(0))
    y = e.unary("ROUND", e.mul(e.cast(acc, F32), multiplier))  # type: ignore[arg-type]
    zero = _parameter_like(cx, y_zero, rank, axes[2])
    _saturate(e, y if zero is None else e.add(y, zero), cx.output(node.outputs[0], out_type))


def _round_to(e: Emitter, v: Value, dtype: DType) -> Value:
    """v (float32) rounded to float16 when the scales are float16 (exact for a product or quotient
    of two float16 numbers: float32 has more than twice their precision)."""
    if dtype != DType.FLOAT16:
        return v
    if isinstance(v, np.ndarray):
        return v.astype(np.float16).astype(np.float32)
    return e.cast(e.cast(v, DType.FLOAT16), F32)


def _parameter_like(cx: Context, name: str, rank: int, axis: int | None) -> Value | None:
    """A scale or zero point as float32 shaped to broadcast on a rank-`rank` value: one value, or
    one per index of `axis`."""
    if not name:
        return None
    value = cx.const(name)
    if value is not None:
        value = np.asarray(value).astype(np.float32)
        if value.size > 1 and axis is None:
            raise Unsupported(f"'{name}' has {value.size} values where ONNX allows one")
        return value.reshape(()) if value.size == 1 else value.reshape(_along(rank, axis, -1))  # type: ignore[arg-type]
    t = Emitter(cx, name + "_f32").cast(cx.tensor(name), F32)
    shape = cx.shape(name)
    if shape is not None and all(d == 1 for d in shape):
        return t
    if axis is None:
        raise Unsupported(f"'{name}' must be a single value")
    return reshape(cx, t, _along(rank, axis, -1))


def _along(rank: int, axis: int, size: int) -> list[int]:
    """The shape putting `size` values along `axis` of a rank-`rank` value."""
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return [size if i == axis % rank else 1 for i in range(rank)]


def _parameter(cx: Context, node: Node, name: str) -> tuple[Value | None, np.ndarray | None]:
    """The scale or zero point `name` of a QuantizeLinear or DequantizeLinear as a float32 value
    broadcasting on x, and, when circle's per-tensor or per-axis quantization can carry it, its
    flat values."""
    if not name:
        return None, None
    x = node.input(0)
    rank = cx.need_rank(node, x)
    block = int(node.attr("block_size", 0))
    value = cx.const(name)
    if value is not None and value.size == 1:
        return value.reshape(()).astype(np.float32), value.reshape(1)
    if not block:
        return _parameter_like(cx, name, rank, int(node.attr("axis", 1))), None if value is None else value.reshape(-1)
    axis = _axis(cx, node)
    size = (cx.shape(x) or [None] * rank)[axis]
    if size is None:
        raise Unsupported("blocked quantization along a dimension unknown at import")
    index = np.arange(size) // block  # element i of the axis takes the parameters of block i // block_size
    if value is not None:
        return np.take(value, index, axis=axis).astype(np.float32), None
    e = Emitter(cx, name + "_blocks")
    t = e.cast(cx.tensor(name), F32)
    shape = value_shape(t)
    shape[axis] = size
    return e.op("GATHER", [t, index.astype(np.int32)], F32, shape, GatherOptions(axis=axis)), None


def _axis(cx: Context, node: Node) -> int:
    return axis_of(node, int(node.attr("axis", 1)), cx.need_rank(node, node.input(0)))


def _quantization(cx: Context, node: Node, scale: np.ndarray, zero: np.ndarray | None) -> Quantization:
    """circle's quantization parameters: per tensor, or along the node's axis."""
    zero = np.zeros(scale.size, np.int64) if zero is None else np.broadcast_to(zero.astype(np.int64), scale.shape)
    return Quantization(scale=scale.astype(np.float32), zero_point=np.array(zero, np.int64),
                        quantized_dimension=_axis(cx, node) if scale.size > 1 else 0)


def _same(a: Quantization, b: Quantization) -> bool:
    return (np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)
            and (a.quantized_dimension == b.quantized_dimension or a.scale.size == 1))


def _saturate(e: Emitter, y: Value, out: Tensor) -> None:
    """out = y (float32 integers) clamped to out's integer type and cast."""
    info = np.iinfo(out.dtype.numpy)
    clamped = e.tensor(e.clamp(y, float(info.min), float(info.max)))
    e.cx.emit("CAST", [clamped], [out])


def _result(cx: Context, name: str, t: Tensor, dtype: DType) -> None:
    """ONNX value `name` is t, cast to `dtype` when needed."""
    if name in cx.values:  # already written (by the operator that made t)
        return
    if t.dtype == dtype:
        cx.values[name] = t
    else:
        cx.emit("CAST", [t], [cx.output(name, dtype)])


def _delegate(cx: Context, node: Node, op_type: str, inputs: Sequence[str], dtype: DType,
              shape: Sequence[int | None] | None, **attrs: object) -> Tensor:
    """The output of `op_type`'s converter run on `inputs` (a node made here)."""
    convert = converter_for("", op_type)
    if convert is None:
        raise Unsupported(f"it is converted through {op_type}, which has no converter")
    output = f"{node.outputs[0]}::{op_type}"
    cx.declare(output, dtype, shape)
    convert(cx, Node(onnx.helper.make_node(op_type, list(inputs), [output], **attrs), cx.graph.opsets.get("", 1)))
    return cx.tensor(output)


def _bind(cx: Context, name: str, value: Value) -> None:
    """Make `value` the ONNX value `name` (a constant, or a tensor)."""
    if isinstance(value, np.ndarray):
        cx.set_const(name, value)
    else:
        cx.values[name] = value


def _onnx_type(elem_type: int) -> DType:
    return DType.from_numpy(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
