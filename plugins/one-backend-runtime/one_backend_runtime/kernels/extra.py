"""UNIQUE and BITCAST.

UNIQUE (TFLite): the distinct values of a 1-D tensor in the order of their first occurrence, and
for every element the position of its value among them (int32 or int64, `idx_out_type`).

BITCAST (TFLite): the bytes of the input read as the output type. Equal element sizes keep the
shape; a wider input gains a last dimension (width ratio), a narrower one loses its last
dimension, which must be the ratio."""

from __future__ import annotations

import numpy as np

from one_core.errors import InvalidModelError

from .base import KernelFn, OpContext, kernel
from .shape_ops import Inputs, out_dtype, where


@kernel("UNIQUE")
def unique(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    index_dtype = out_dtype(ctx, 1)

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = np.asarray(inputs[0])
        if x.ndim != 1:
            raise InvalidModelError(f"{what}: the input has rank {x.ndim}, UNIQUE takes a vector")
        values, first, inverse = np.unique(x, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # distinct values by first occurrence
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        return [values[order], position[inverse.reshape(-1)].astype(index_dtype)]

    return run


@kernel("BITCAST")
def bitcast(ctx: OpContext) -> KernelFn:
    what = where(ctx)
    dtype = np.dtype(out_dtype(ctx))

    def run(inputs: Inputs) -> list[np.ndarray]:
        x = np.asarray(inputs[0], order="C")
        wide, narrow = x.dtype.itemsize, dtype.itemsize
        if wide < narrow and (x.ndim == 0 or x.shape[-1] * wide != narrow):
            raise InvalidModelError(f"{what}: the last dimension of {x.shape} does not make one {dtype} element")
        shape = x.shape if wide == narrow else (*x.shape, wide // narrow) if wide > narrow else x.shape[:-1]
        return [x.reshape(-1).view(dtype).reshape(shape)]

    return run
