"""Padding and space/depth/batch rearrangements: PAD, PADV2, MIRROR_PAD, DEPTH_TO_SPACE,
SPACE_TO_DEPTH, BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND.

Quantized tensors keep their integers; padding a quantized tensor writes the output's zero
point (the real value 0), as TFLite does for PAD and SPACE_TO_BATCH_ND; PADV2 writes its
constant's raw value."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from one_core.errors import InvalidModelError

from .base import KernelFn, OpContext, kernel
from .quant import is_quantized, scale_and_zero_point
from .shape_ops import Inputs, ints, option, out_dtype, where


def _pairs(a: np.ndarray | None, what: str) -> list[tuple[int, int]]:
    values = ints(a)
    if len(values) % 2:
        raise InvalidModelError(f"{what}: paddings must have shape [rank, 2]")
    return [(values[2 * i], values[2 * i + 1]) for i in range(len(values) // 2)]


def _zero_value(ctx: OpContext, dtype: np.dtype):
    """What stands for 0 in the output: its zero point when quantized."""
    out = ctx.outputs[0]
    if is_quantized(out):
        return dtype.type(int(scale_and_zero_point(out)[1][0]))
    return dtype.type(0)


def pad_constant(x: np.ndarray, pads: Sequence[tuple[int, int]], value, what: str) -> np.ndarray:
    """x padded with `value`: [before, after] per leading dimension (missing ones get none)."""
    if len(pads) > x.ndim:
        raise InvalidModelError(f"{what}: {len(pads)} padding pairs for a rank-{x.ndim} input")
    pads = list(pads) + [(0, 0)] * (x.ndim - len(pads))
    if any(b < 0 or a < 0 for b, a in pads):
        raise InvalidModelError(f"{what}: negative padding {pads}")
    shape = tuple(d + b + a for d, (b, a) in zip(x.shape, pads))
    y = np.full(shape, value, dtype=x.dtype)
    y[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, pads))] = x
    return y


@kernel("PAD", "PADV2")
def pad(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = out_dtype(ctx)
    fixed = ctx.constant(1)
    fixed_pads = None if fixed is None else _pairs(fixed, what)
    has_value = ctx.op.name == "PADV2" and len(ctx.inputs) > 2 and ctx.inputs[2] is not None
    default = _zero_value(ctx, dtype)

    def run(inputs: Inputs) -> list[np.ndarray]:
        pads = fixed_pads if fixed_pads is not None else _pairs(inputs[1], what)
        value = np.asarray(inputs[2]).reshape(-1)[0] if has_value else default
        return [pad_constant(inputs[0], pads, value, what)]

    return run


@kernel("MIRROR_PAD")
def mirror_pad(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    mode = "symmetric" if int(option(ctx, "mode", 0)) == 1 else "reflect"
    fixed = ctx.constant(1)
    fixed_pads = None if fixed is None else _pairs(fixed, what)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        pads = fixed_pads if fixed_pads is not None else _pairs(inputs[1], what)
        limit = 0 if mode == "symmetric" else 1
        for d, (b, a) in zip(x.shape, pads):
            if b < 0 or a < 0 or max(b, a) > d - limit:
                raise InvalidModelError(f"{what}: padding {(b, a)} too large for dimension {d} ({mode})")
        return [np.pad(x, pads, mode=mode)]

    return run


@kernel("DEPTH_TO_SPACE")
def depth_to_space(ctx: OpContext) -> KernelFn:
    bs = int(option(ctx, "block_size", 0))
    what = where(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        n, h, w, c = x.shape
        if bs < 1 or c % (bs * bs):
            raise InvalidModelError(f"{what}: depth {c} is not a multiple of block size {bs} squared")
        oc = c // (bs * bs)
        y = x.reshape(n, h, w, bs, bs, oc).transpose(0, 1, 3, 2, 4, 5)
        return [y.reshape(n, h * bs, w * bs, oc)]

    return run


@kernel("SPACE_TO_DEPTH")
def space_to_depth(ctx: OpContext) -> KernelFn:
    bs = int(option(ctx, "block_size", 0))
    what = where(ctx)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        n, h, w, c = x.shape
        if bs < 1 or h % bs or w % bs:
            raise InvalidModelError(f"{what}: spatial size {h}x{w} is not a multiple of block size {bs}")
        y = x.reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5)
        return [y.reshape(n, h // bs, w // bs, bs * bs * c)]

    return run


@kernel("BATCH_TO_SPACE_ND")
def batch_to_space_nd(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    fixed_block, fixed_crops = ctx.constant(1), ctx.constant(2)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        block = ints(fixed_block if fixed_block is not None else inputs[1])
        crops = _pairs(fixed_crops if fixed_crops is not None else inputs[2], what)
        m = len(block)
        p = math.prod(block)
        if x.shape[0] % p:
            raise InvalidModelError(f"{what}: batch {x.shape[0]} is not a multiple of the block {block}")
        batch = x.shape[0] // p
        spatial, rest = x.shape[1 : 1 + m], x.shape[1 + m :]
        y = x.reshape(*block, batch, *spatial, *rest)
        perm = [m] + [a for i in range(m) for a in (m + 1 + i, i)] + list(range(2 * m + 1, y.ndim))
        y = y.transpose(perm).reshape(batch, *(s * b for s, b in zip(spatial, block)), *rest)
        index = (slice(None),) + tuple(slice(c0, y.shape[1 + i] - c1) for i, (c0, c1) in enumerate(crops))
        return [np.ascontiguousarray(y[index])]

    return run


@kernel("SPACE_TO_BATCH_ND")
def space_to_batch_nd(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = out_dtype(ctx)
    fixed_block, fixed_pads = ctx.constant(1), ctx.constant(2)
    value = _zero_value(ctx, dtype)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = inputs[0]
        block = ints(fixed_block if fixed_block is not None else inputs[1])
        pads = _pairs(fixed_pads if fixed_pads is not None else inputs[2], what)
        m = len(block)
        y = pad_constant(x, [(0, 0)] + pads, value, what) if any(b or a for b, a in pads) else x
        batch, spatial, rest = y.shape[0], y.shape[1 : 1 + m], y.shape[1 + m :]
        if any(s % b for s, b in zip(spatial, block)):
            raise InvalidModelError(f"{what}: padded spatial shape {spatial} is not a multiple of the block {block}")
        y = y.reshape(batch, *(a for s, b in zip(spatial, block) for a in (s // b, b)), *rest)
        perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + list(range(1 + 2 * m, y.ndim))
        y = y.transpose(perm)
        return [y.reshape(batch * math.prod(block), *(s // b for s, b in zip(spatial, block)), *rest)]

    return run
