"""Circle's own operators (negative codes): INSTANCE_NORM, RMS_NORM, ROPE (float32)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.errors import UnsupportedOperatorError

from .base import OpContext, apply_activation, kernel


def _float_only(ctx: OpContext) -> None:
    if ctx.inputs[0].dtype.numpy != np.float32:
        raise UnsupportedOperatorError(
            f"{ctx.op.name}: only float32 is supported, got {ctx.inputs[0].dtype.name}", [ctx.op.name]
        )


@kernel("INSTANCE_NORM")
def instance_norm(ctx: OpContext):
    """Normalizes each channel of each batch item over the spatial axes (NHWC: all axes but
    the first and last), then scales by gamma and shifts by beta per channel."""
    _float_only(ctx)
    epsilon = np.float32(ctx.options.epsilon)
    activation = int(ctx.options.fused_activation_function)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x, gamma, beta = inputs[0], inputs[1], inputs[2]
        axes = tuple(range(1, x.ndim - 1))
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float32)
        centered = x - mean
        var = np.square(centered).mean(axis=axes, keepdims=True, dtype=np.float32)
        y = centered / np.sqrt(var + epsilon)
        if gamma is not None:
            y *= gamma
        if beta is not None:
            y += beta
        return [apply_activation(y, activation)]

    return run


@kernel("RMS_NORM")
def rms_norm(ctx: OpContext):
    """x / sqrt(mean(x^2 over the last axis) + epsilon) * gamma (+ beta when given)."""
    _float_only(ctx)
    epsilon = np.float32(ctx.options.epsilon)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        ms = np.square(x).mean(axis=-1, keepdims=True, dtype=np.float32)
        y = x / np.sqrt(ms + epsilon)
        if len(inputs) > 1 and inputs[1] is not None:
            y *= inputs[1]
        if len(inputs) > 2 and inputs[2] is not None:
            y += inputs[2]
        return [y]

    return run


@kernel("ROPE")
def rope(ctx: OpContext):
    """Rotary position embedding: x * cos + rotate(x) * sin over the last axis. GPT_NEOX
    rotates halves ([-x2, x1]); GPT_J rotates interleaved pairs ([-x1, x0, -x3, x2, ...])."""
    _float_only(ctx)
    neox = int(ctx.options.mode) == 0

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x, sin, cos = inputs[0], inputs[1], inputs[2]
        if neox:
            half = x.shape[-1] // 2
            rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        else:
            pairs = x.reshape(*x.shape[:-1], -1, 2)
            rotated = np.stack([-pairs[..., 1], pairs[..., 0]], axis=-1).reshape(x.shape)
        return [(x * cos + rotated * sin).astype(np.float32, copy=False)]

    return run
