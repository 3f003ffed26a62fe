"""Transformer building blocks: RMSNormalization (circle's RMS_NORM over the last axis, else
composed), RotaryEmbedding, Swish, and CausalConvWithState (a depthwise causal convolution with a
carried state), computed in float32 like the attention converters.

RotaryEmbedding is composed of elementwise operators rather than circle's ROPE, whose runtimes
apply one row of sine and cosine to every position (a single decoding step) and rotate halves
only. The interleaved form gathers the even then the odd features, rotates halves, and gathers
them back.
"""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    GatherOptions,
    PadOptions,
    RmsNormOptions,
    SplitVOptions,
    StridedSliceOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .attention import F32, as_float32, emit_output, reshape
from .common import Emitter, axis_of, value_shape
from .conv import concat
from .elementwise import Emitter as NodeEmitter
from .elementwise import register, unary
from .index import bind
from .quant import _delegate as delegate
from .reduce import binary, insert_axis, reduce, scalar
from .reduce import unary as apply


def _output_type(cx: Context, node: Node, default: DType) -> DType:
    return cx.graph.types.get(node.outputs[0], (None, None))[0] or default


# --- RMSNormalization ----------------------------------------------------------------------------------


@converts("RMSNormalization")
def rms_normalization(cx: Context, node: Node) -> None:
    """x / sqrt(mean(x^2 over the axes from `axis`) + epsilon) * scale, in float32 whatever
    stash_type asks (float32 is ONNX's default and only defined one)."""
    x_name, scale_name = node.input(0), node.input(1)
    rank = cx.need_rank(node, x_name)
    axis = axis_of(node, int(node.attr("axis", -1)), rank)
    epsilon = float(node.attr("epsilon", 1e-5))
    e = Emitter(cx, node.outputs[0] + "_rms")
    x, scale = as_float32(e, x_name), as_float32(e, scale_name)
    gamma = _gamma(cx, x, scale) if axis == rank - 1 and rank in (3, 4) else None
    if gamma is not None:
        y = e.op("RMS_NORM", [x, gamma], F32, value_shape(x), RmsNormOptions(epsilon=epsilon))
    else:
        mean_square = reduce(cx, "MEAN", apply(cx, "SQUARE", x), list(range(axis, rank)), True)
        inverse = apply(cx, "RSQRT", binary(cx, "ADD", mean_square, scalar(cx, epsilon, F32)))
        y = binary(cx, "MUL", binary(cx, "MUL", x, inverse), scale)
    emit_output(cx, node, 0, y, _output_type(cx, node, cx.dtype(scale_name)))


def _gamma(cx: Context, x: Tensor, scale: Tensor) -> Tensor | None:
    """scale as RMS_NORM's gamma (one value, or one per feature of the last axis), or None when it
    scales along other axes too."""
    shape, features = value_shape(scale), value_shape(x)[-1]
    if any(d != 1 for d in shape[:-1]) or not shape or shape[-1] not in (1, features) or features is None:
        return None
    return reshape(cx, scale, [shape[-1]])


# --- RotaryEmbedding -----------------------------------------------------------------------------------


@converts("RotaryEmbedding")
def rotary_embedding(cx: Context, node: Node) -> None:
    x_name, cos_name, sin_name, positions = (node.input(i) for i in range(4))
    rank = cx.need_rank(node, x_name)
    e = Emitter(cx, node.outputs[0] + "_rope")
    x = as_float32(e, x_name)
    shape = value_shape(x)
    head_axis = 1
    if rank == 3:  # [batch, seq, heads * size] as [batch, seq, heads, size]
        heads = int(node.attr("num_heads", 0))
        if not heads or shape[2] is None or shape[2] % heads:
            raise Unsupported(f"num_heads {heads} does not split the hidden size {shape[2]}")
        x, head_axis = reshape(cx, x, [shape[0], shape[1], heads, shape[2] // heads], {0: 0, 1: 1}), 2
    elif rank != 4:
        raise Unsupported(f"rank-{rank} input (3 or 4 expected)")
    size = value_shape(x)[3]
    if size is None:
        raise Unsupported("the head size is not known at import")
    rotated = int(node.attr("rotary_embedding_dim", 0)) or size
    if rotated % 2 or rotated > size:
        raise Unsupported(f"rotary_embedding_dim {rotated} for head size {size}")
    cos, sin = (_table(cx, e, name, positions, head_axis, rotated // 2) for name in (cos_name, sin_name))
    order = [*range(0, rotated, 2), *range(1, rotated, 2), *range(rotated, size)]
    interleaved = bool(node.attr("interleaved", 0)) and rotated > 2
    if interleaved:
        x = _features(e, x, order)
    sizes = [rotated // 2, rotated // 2, size - rotated][: 3 if rotated < size else 2]
    parts = [cx.temp(f"{x.name}_{i}", F32, [*value_shape(x)[:3], n]) for i, n in enumerate(sizes)]
    cx.emit("SPLIT_V", [x, e.tensor(np.array(sizes, np.int32)), e.tensor(np.array(3, np.int32))], parts,
            SplitVOptions(num_splits=len(sizes)))
    first, second = parts[:2]
    real = e.sub(e.mul(first, cos), e.mul(second, sin))
    imaginary = e.add(e.mul(first, sin), e.mul(second, cos))
    y = concat(cx, [e.tensor(real), e.tensor(imaginary), *parts[2:]], 3)
    if interleaved:
        y = _features(e, y, list(np.argsort(order)))
    emit_output(cx, node, 0, reshape(cx, y, shape, {0: 0, 1: 1}), cx.dtype(x_name))


def _table(cx: Context, e: Emitter, name: str, positions: str, head_axis: int, half: int) -> Tensor:
    """The cosine or sine rows of the tokens ([batch, seq, half], picked by position_ids when
    given), with an axis of size 1 for the heads."""
    table = as_float32(e, name)
    if value_shape(table)[-1] != half:
        raise Unsupported(f"'{name}' has {value_shape(table)[-1]} columns where rotary_embedding_dim / 2 = {half}")
    if positions:
        ids = cx.tensor(positions)
        table = e.op("GATHER", [table, ids], F32, [*value_shape(ids), half], GatherOptions(axis=0))
    return insert_axis(cx, table, head_axis)


def _features(e: Emitter, x: Tensor, order: list[int]) -> Tensor:
    """x with its last axis reordered."""
    return e.op("GATHER", [x, np.array(order, np.int32)], F32, value_shape(x), GatherOptions(axis=3))


# --- Swish ---------------------------------------------------------------------------------------------


def _swish(e: NodeEmitter, x: Tensor, out: Tensor) -> None:
    alpha = float(e.node.attr("alpha", 1.0))
    e("MUL", x, e("LOGISTIC", x if alpha == 1 else e("MUL", x, e.const(alpha, x))), out=out)


register({"Swish": unary(_swish)})


# --- CausalConvWithState -------------------------------------------------------------------------------


@converts("CausalConvWithState")
def causal_conv_with_state(cx: Context, node: Node) -> None:
    """The input behind the past state (zeros without one) convolved per channel without padding by
    Conv's converter; the new state is the last k - 1 positions of that sequence."""
    x_name, w_name, bias_name, past_name = (node.input(i) for i in range(4))
    activation = node.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise Unsupported(f"activation '{activation}'")
    w_shape = cx.static_shape(w_name)
    if cx.need_rank(node, x_name) != 3 or w_shape is None or len(w_shape) != 3:
        raise Unsupported("the input must be rank 3 and the weight shape [channels, 1, k] known at import")
    channels, k = w_shape[0], w_shape[2]
    e = Emitter(cx, node.outputs[0] + "_conv")
    x = as_float32(e, x_name)
    batch, _, length = value_shape(x)
    if past_name:
        sequence = concat(cx, [as_float32(e, past_name), x], 2)
    else:
        sequence = e.op("PAD", [x, np.array([[0, 0], [0, 0], [k - 1, 0]], np.int32)], F32,
                        [batch, channels, None if length is None else length + k - 1], PadOptions())
    names = [f"{node.outputs[0]}::{part}" for part in ("x", "w", "b")]
    for name, value in zip(names, (sequence, as_float32(e, w_name), as_float32(e, bias_name) if bias_name else None)):
        if value is not None:
            bind(cx, name, value)
    y = delegate(cx, node, "Conv", names if bias_name else names[:2], F32, value_shape(x), group=channels,
                 kernel_shape=[k])
    if activation != "none":
        y = e.tensor(e.mul(y, e.unary("LOGISTIC", y)))
    dtype = cx.dtype(x_name)
    emit_output(cx, node, 0, y, dtype)
    state = e.op("STRIDED_SLICE", [sequence, np.array([0, 0, 1 - k], np.int32), np.zeros(3, np.int32),
                                   np.ones(3, np.int32)], F32, [batch, channels, k - 1],
                 StridedSliceOptions(begin_mask=0b011, end_mask=0b111 if k > 1 else 0b011))
    emit_output(cx, node, 1, state, dtype)
