"""float32 MEAN, SUM and REDUCE_MAX over constant axes (reduce_f32.c)."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator

from ..emit import Known, OpEmit, register
from .layout import MAX_RANK, axis_of, contiguous, float_io, known_inputs, merge

_OPS = {"MEAN": "MEAN", "SUM": "SUM", "REDUCE_MAX": "MAX"}


def check_reduce_float(op: Operator, known: Known) -> bool:
    return float_io(op) and known_inputs(op, known, 1) and len(op.inputs[0].shape) <= MAX_RANK


def emit_reduce_float(e: OpEmit) -> None:
    """Reduce the constant axes (keep_dims only changes the output's shape, not its layout).
    Empty reductions give what numpy gives: 0, NaN (0 / 0) and -inf."""
    x, y = e.input(0), e.output()
    shape = e.shape(x)
    axes = {axis_of(int(a), len(shape)) for a in np.asarray(e.value(e.input(1))).reshape(-1)}
    kept = [d for i, d in enumerate(shape) if i not in axes]
    kept_strides = iter(contiguous(kept))
    out_strides = [0 if i in axes else next(kept_strides) for i in range(len(shape))]
    count = int(np.prod([shape[i] for i in axes]))
    out_size = int(np.prod(kept))
    if out_size == 0:
        return
    dims, (strides,) = merge(shape, out_strides)
    e.use("reduce_f32")
    e.call(f"one_reduce_f32(ONE_F32_REDUCE_{_OPS[e.op.name]}, {len(dims)}, {e.array('int', dims)}, "
           f"{e.array('int', strides)}, {e.ptr(x)}, {e.ptr(y)}, {out_size}, {count});")


for _name in _OPS:
    register(_name, check_reduce_float, emit_reduce_float)
