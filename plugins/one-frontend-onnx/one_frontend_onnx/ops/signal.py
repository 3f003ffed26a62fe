"""Signal processing generators: HannWindow, HammingWindow, BlackmanWindow and MelWeightMatrix, whose
sizes may be given at run time (RANGE and elementwise math; a size known at import folds the whole
result into a constant)."""

from __future__ import annotations

import math
from collections.abc import Callable

from one_core.ir import DType

from ..context import Context, Node, Unsupported, onnx_dtype
from . import converts
from .common import Value
from .misc import Calc, bind


def _scalar(c: Calc, node: Node, index: int, dtype: DType) -> Value:
    return c.reshape(c.cast(c.value(node.input(index)), dtype), [])


def _result_type(node: Node) -> DType:
    dtype = onnx_dtype(int(node.attr("output_datatype", 1)), f"{node}")
    if dtype not in (DType.FLOAT32, DType.FLOAT16, DType.INT32, DType.INT64, DType.UINT8, DType.INT8, DType.INT16):
        raise Unsupported(f"output_datatype {dtype.name}")
    return dtype


def _hann(c: Calc, n: Value, period: Value) -> Value:
    s = c.apply("SIN", c.div(c.mul(n, math.pi), period))
    return c.mul(s, s)


def _hamming(c: Calc, n: Value, period: Value) -> Value:
    alpha = 25.0 / 46.0
    return c.sub(alpha, c.mul(c.apply("COS", c.div(c.mul(n, 2 * math.pi), period)), 1.0 - alpha))


def _blackman(c: Calc, n: Value, period: Value) -> Value:
    first = c.mul(c.apply("COS", c.div(c.mul(n, 2 * math.pi), period)), -0.5)
    second = c.mul(c.apply("COS", c.div(c.mul(n, 4 * math.pi), period)), 0.08)
    return c.add(c.add(first, second), 0.42)


WINDOWS: dict[str, Callable[[Calc, Value, Value], Value]] = {
    "HannWindow": _hann, "HammingWindow": _hamming, "BlackmanWindow": _blackman}


@converts(*WINDOWS)
def window(cx: Context, node: Node) -> None:
    """w[n] for n < size, over a period of size (periodic) or size - 1 (symmetric), in float32."""
    c = Calc(cx, node)
    size = _scalar(c, node, 0, DType.INT32)
    n = c.cast(c.range(size), DType.FLOAT32)
    period = c.cast(size if node.attr("periodic", 1) else c.sub(size, 1), DType.FLOAT32)
    bind(cx, node.outputs[0], c.cast(WINDOWS[node.op_type](c, n, period), _result_type(node)))


def _hertz_to_mel(c: Calc, hertz: Value) -> Value:
    return c.div(c.mul(c.apply("LOG", c.add(c.div(hertz, 700.0), 1.0)), 2595.0), math.log(10))


@converts("MelWeightMatrix")
def mel_weight_matrix(cx: Context, node: Node) -> None:
    """Triangular filters between spectrogram bins spaced evenly in mel: bins[i] for i < mel bins + 2,
    and for filter i weights rising from bins[i] to 1 at bins[i + 1], falling to bins[i + 2]."""
    c = Calc(cx, node)
    bins, length, rate = (_scalar(c, node, i, DType.INT32) for i in range(3))
    low, high = (_hertz_to_mel(c, _scalar(c, node, i, DType.FLOAT32)) for i in (3, 4))
    edges = c.add(bins, 2)
    step = c.div(c.sub(high, low), c.cast(edges, DType.FLOAT32))
    mel = c.add(c.mul(c.cast(c.range(edges), DType.FLOAT32), step), low)
    hertz = c.mul(c.sub(c.apply("EXP", c.mul(c.div(mel, 2595.0), math.log(10))), 1.0), 700.0)
    points = c.binary("FLOOR_DIV", c.mul(c.cast(c.add(length, 1), DType.FLOAT32), hertz), c.cast(rate, DType.FLOAT32))
    left, centre, right = (c.reshape(c.slice(points, [i], [bins]), [1, -1]) for i in range(3))
    j = c.reshape(c.cast(c.range(c.add(c.binary("FLOOR_DIV", length, 2), 1)), DType.FLOAT32), [-1, 1])
    rising = c.logical_and(c.binary("LESS_EQUAL", left, j), c.binary("LESS", j, centre))
    falling = c.logical_and(c.binary("LESS", centre, j), c.binary("LESS", j, right))
    up = c.div(c.sub(j, left), c.sub(centre, left))
    down = c.div(c.sub(right, j), c.sub(right, centre))
    weights = c.select(c.binary("EQUAL", j, centre), 1.0, c.select(rising, up, c.select(falling, down, 0.0)))
    bind(cx, node.outputs[0], c.cast(weights, _result_type(node)))
