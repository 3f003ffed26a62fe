"""Pattern helpers shared by the passes of this plugin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType, FullyConnectedOptionsWeightsFormat
from one_core.passes.rewrite import constant, is_float, signature, single_reader

NONE = ActivationFunctionType.NONE


def activation(op: Operator) -> ActivationFunctionType | None:
    """The operator's fused activation, None when it has no such option."""
    options = op.options
    if options is None or not hasattr(options, "fused_activation_function"):
        return None
    return ActivationFunctionType(options.fused_activation_function)


def with_options(op: Operator, **changes: Any) -> None:
    """Replace fields of `op.options` (a copy: options objects may be shared)."""
    from dataclasses import replace

    op.options = replace(op.options, **changes)


def plain_weights(op: Operator) -> bool:
    """False for a FULLY_CONNECTED whose weights are stored in another order than [O, I]
    (weights_format other than DEFAULT, such as circle's SHUFFLED16x1FLOAT32): a pass reading
    them as a matrix would compute something else."""
    return op.type != "FULLY_CONNECTED" or op.options is None or \
        op.options.weights_format == FullyConnectedOptionsWeightsFormat.DEFAULT


def other_operand(op: Operator, t: Tensor) -> Tensor | None:
    """For a binary operator reading `t`, its other input (None if `t` is not one of them or
    it reads `t` twice)."""
    a, b = op.input(0), op.input(1)
    if a is t and b is not t:
        return b
    if b is t and a is not t:
        return a
    return None


def split_const(op: Operator) -> tuple[Tensor, Tensor] | None:
    """For a binary operator with exactly one dense constant input: (variable, constant)."""
    a, b = op.input(0), op.input(1)
    if a is None or b is None or len(op.inputs) != 2:
        return None
    ca, cb = constant(a) is not None, constant(b) is not None
    if cb and not ca:
        return a, b
    if ca and not cb:
        return b, a
    return None


def channel_vector(t: Tensor | None, channels: int, out: Tensor) -> np.ndarray | None:
    """A float32 constant that, broadcast against `out` (..., channels), multiplies or adds
    per last-axis channel: a scalar, [channels] or [1, ..., 1, channels] (rank no more than
    `out`'s). Returns it as a float32 vector of `channels` values, else None."""
    value = constant(t)
    if value is None or not is_float(t) or value.dtype != np.float32:
        return None
    shape = value.shape
    if len(shape) > len(out.shape):
        return None
    if value.size == 1:
        return np.full(channels, value.reshape(-1)[0], np.float32)
    if not shape or shape[-1] != channels or any(d != 1 for d in shape[:-1]):
        return None
    if not out.shape or out.shape[-1] != channels:
        return None
    return value.reshape(channels).astype(np.float32, copy=False)


def same_quantization(a: Tensor, b: Tensor) -> bool:
    qa, qb = a.quantization, b.quantization
    if qa is None or qa.scale is None or qa.scale.size == 0:
        return qb is None or qb.scale is None or qb.scale.size == 0
    if qb is None or qb.scale is None:
        return False
    return (np.array_equal(qa.scale, qb.scale) and _same(qa.zero_point, qb.zero_point)
            and qa.quantized_dimension == qb.quantized_dimension)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)


def same_encoding(a: Tensor, b: Tensor) -> bool:
    """Same element type and quantization: a value of one is a value of the other."""
    return a.dtype == b.dtype and same_quantization(a, b)


def same_signature(a: Tensor, b: Tensor) -> bool:
    """Same shape and the same dynamic dimensions."""
    return tuple(a.shape) == tuple(b.shape) and tuple(signature(a)) == tuple(signature(b))


def producer_in(sg: Subgraph, t: Tensor | None, *types: str) -> Operator | None:
    """The operator of `sg` producing `t` when its type is one of `types`."""
    if t is None:
        return None
    op = t.producer
    if op is None or op.subgraph is not sg or (types and op.type not in types):
        return None
    return op


@dataclass
class ChannelwiseAffine:
    """ADD(MUL(x, gamma), beta) with per-channel constants (see `channelwise_affine`)."""

    mul: Operator
    x: Tensor
    gamma_t: Tensor
    gamma: np.ndarray
    beta: np.ndarray


def channelwise_affine(sg: Subgraph, add: Operator) -> ChannelwiseAffine | None:
    """`add` = ADD(MUL(x, gamma), beta) of float x with gamma and beta constants of one value
    per channel (last axis), the MUL without activation and read by `add` alone, x of the
    result's shape signature; None otherwise."""
    out = add.outputs[0]
    pair = split_const(add)
    if pair is None or not is_float(out) or not out.shape:
        return None
    scaled, beta_t = pair
    mul = producer_in(sg, scaled, "MUL")
    if mul is None or single_reader(sg, scaled) is not add or activation(mul) != NONE:
        return None
    inner = split_const(mul)
    if inner is None:
        return None
    x, gamma_t = inner
    channels = out.shape[-1]
    gamma, beta = channel_vector(gamma_t, channels, out), channel_vector(beta_t, channels, out)
    if gamma is None or beta is None or not is_float(x) or not same_signature(x, out):
        return None
    return ChannelwiseAffine(mul, x, gamma_t, gamma, beta)
