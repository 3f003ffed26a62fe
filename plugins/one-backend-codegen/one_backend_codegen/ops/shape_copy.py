"""Operators that only move elements, for any element type (shape_ops.c): PAD, PADV2,
CONCATENATION, PACK, UNPACK, TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V and
RESIZE_NEAREST_NEIGHBOR. Every parameter must be known at generation time.

Each one is a few strided box copies: placing an input into a box of the output (PAD,
CONCATENATION, PACK) or reading a strided box of the input (slices, splits), with merged
dimensions and contiguous runs as long as the layouts allow."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from one_core.ir import Operator, Tensor
from one_backend_runtime.kernels.resize import _nearest_axis
from one_backend_runtime.kernels.shape_ops import strided_slice_plan

from ..emit import Known, OpEmit, register
from .common import activation
from .layout import MAX_RANK, axis_of, byte_ptr, contiguous, copy_box, itemsize, known_inputs, same_dtype


def _ints(e: OpEmit, index: int) -> list[int]:
    return [int(v) for v in np.asarray(e.value(e.input(index))).reshape(-1)]


def _quant(t: Tensor) -> tuple:
    q = t.quantization
    if q is None or q.scale is None or not np.asarray(q.scale).size:
        return ()
    return tuple(np.asarray(q.scale, np.float32).ravel()), tuple(np.asarray(q.zero_point).ravel())


def _place(e: OpEmit, x: Tensor, x_shape: Sequence[int], y: Tensor, begin: Sequence[int]) -> None:
    """Copy all of contiguous x (viewed as x_shape) into y at index `begin`."""
    size = itemsize(y)
    dst = contiguous(e.shape(y), size)
    copy_box(e, x_shape, byte_ptr(e, x), contiguous(x_shape, size), byte_ptr(e, y, int(np.dot(begin, dst))), dst, size)


def _take(e: OpEmit, x: Tensor, x_shape: Sequence[int], y: Tensor, start: Sequence[int], step: Sequence[int],
          box: Sequence[int]) -> None:
    """Copy the box of x (viewed as x_shape) from index `start` by `step` into all of y."""
    size = itemsize(y)
    src = [s * k for s, k in zip(contiguous(x_shape, size), step)]
    copy_box(e, box, byte_ptr(e, x, int(np.dot(start, contiguous(x_shape, size)))), src, byte_ptr(e, y),
             contiguous(box, size), size)


def _split(e: OpEmit, x: Tensor, axis: int, sizes: Sequence[int]) -> None:
    """Output i is the next sizes[i] entries of x along `axis`."""
    shape = e.shape(x)
    start = 0
    for i, n in enumerate(sizes):
        begin = [0] * len(shape)
        begin[axis] = start
        box = list(shape)
        box[axis] = n
        _take(e, x, shape, e.output(i), begin, [1] * len(shape), box)
        start += n


# PAD, PADV2 ----------------------------------------------------------------------------------
def check_pad(op: Operator, known: Known) -> bool:
    return same_dtype(op) and known_inputs(op, known, 1) and (
        op.name == "PAD" or len(op.inputs) < 3 or op.inputs[2] is None or known(op.inputs[2]))


def emit_pad(e: OpEmit) -> None:
    """Fill the output with the padding value, then place the input."""
    x, y = e.input(0), e.output()
    dtype = np.dtype(y.dtype.numpy)
    pads = np.asarray(e.value(e.input(1))).reshape(-1, 2).astype(int).tolist()
    assert min(min(p) for p in pads or [[0]]) >= 0, f"negative paddings {pads}"
    value_t = e.input(2) if e.op.name == "PADV2" and len(e.op.inputs) > 2 else None
    if value_t is not None:
        value = np.asarray(e.value(value_t)).reshape(-1)[0]
    else:
        q = _quant(y)
        value = q[1][0] if q else 0
    count = int(np.prod(e.shape(y)))
    if count and any(a or b for a, b in pads):
        e.use("shape_ops")
        fill = e.weights(np.array([value]).astype(dtype))
        e.call(f"one_fill({byte_ptr(e, y)}, {count}, {fill}, {dtype.itemsize});")
    pads += [[0, 0]] * (len(e.shape(y)) - len(pads))
    _place(e, x, e.shape(x), y, [b for b, _ in pads])


# CONCATENATION, PACK, UNPACK ----------------------------------------------------------------
def check_concat(op: Operator, known: Known) -> bool:
    ins = [t for t in op.inputs if t is not None]
    out = op.outputs[0]
    return (activation(op) == 0 and all(t.dtype == out.dtype and _quant(t) == _quant(out) for t in ins)
            and len(out.shape) <= MAX_RANK)


def emit_concat(e: OpEmit) -> None:
    y = e.output()
    rank = len(e.shape(y))
    axis = axis_of(int(e.options.axis), rank)
    pack = e.op.name == "PACK"
    offset = 0
    for x in (t for t in e.op.inputs if t is not None):
        shape = list(e.shape(x))
        if pack:
            shape.insert(axis, 1)
        begin = [0] * rank
        begin[axis] = offset
        _place(e, x, shape, y, begin)
        offset += shape[axis]


def emit_unpack(e: OpEmit) -> None:
    x = e.input(0)
    axis = axis_of(int(e.options.axis), len(e.shape(x)))
    _split(e, x, axis, [1] * e.shape(x)[axis])


# SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, TRANSPOSE ---------------------------------------------
def emit_split(e: OpEmit) -> None:
    """SPLIT (axis, x) and SPLIT_V (x, sizes, axis): the outputs' shapes give the sizes."""
    data, axis_at = (1, 0) if e.op.name == "SPLIT" else (0, 2)
    x = e.input(data)
    axis = axis_of(_ints(e, axis_at)[0], len(e.shape(x)))
    _split(e, x, axis, [e.shape(t)[axis] for t in e.op.outputs])


def emit_slice(e: OpEmit) -> None:
    x = e.input(0)
    shape = e.shape(x)
    begin, size = _ints(e, 1), _ints(e, 2)
    box = [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)]
    _take(e, x, shape, e.output(), begin, [1] * len(shape), box)


def emit_strided_slice(e: OpEmit) -> None:
    o = e.options
    x = e.input(0)
    eff_shape, index, _ = strided_slice_plan(
        e.shape(x), _ints(e, 1), _ints(e, 2), _ints(e, 3), int(o.begin_mask), int(o.end_mask), int(o.ellipsis_mask),
        int(o.new_axis_mask), int(o.shrink_axis_mask), bool(o.offset))
    start, step, box = [], [], []
    for d, ix in zip(eff_shape, index):
        if isinstance(ix, slice):
            r = range(*ix.indices(d))
            start.append(r.start if len(r) else 0)
            step.append(r.step)
            box.append(len(r))
        else:
            start.append(int(ix))
            step.append(1)
            box.append(1)
    _take(e, x, eff_shape, e.output(), start, step, box)


def emit_transpose(e: OpEmit) -> None:
    x, y = e.input(0), e.output()
    perm = [axis_of(p, len(e.shape(x))) for p in _ints(e, 1)]
    size = itemsize(y)
    src = contiguous(e.shape(x), size)
    copy_box(e, e.shape(y), byte_ptr(e, x), [src[p] for p in perm], byte_ptr(e, y), contiguous(e.shape(y), size),
             size)


def emit_resize_nearest(e: OpEmit) -> None:
    x, y = e.input(0), e.output()
    align, half = bool(e.options.align_corners), bool(e.options.half_pixel_centers)
    n, h, w, c = e.shape(x)
    _, oh, ow, _ = e.shape(y)
    iy = e.array("int", _nearest_axis(h, oh, align, half).tolist())
    ix = e.array("int", _nearest_axis(w, ow, align, half).tolist())
    e.use("shape_ops")
    e.call(f"one_resize_nearest({n}, {h}, {w}, {oh}, {ow}, {c * itemsize(y)}, {iy}, {ix}, {byte_ptr(e, x)}, "
           f"{byte_ptr(e, y)});")


def _moves(*params: int, rank4: bool = False) -> Callable[[Operator, Known], bool]:
    """A check: one element type, the parameter inputs known, ranks the kernel handles."""

    def check(op: Operator, known: Known) -> bool:
        data = op.inputs[1] if op.name == "SPLIT" else op.inputs[0]
        ranks = [len(t.shape) for t in (data, *op.outputs)]
        return (all(t.dtype == data.dtype for t in op.outputs) and known_inputs(op, known, *params)
                and max(ranks) <= MAX_RANK and (not rank4 or ranks[0] == 4))

    return check


for _name in ("PAD", "PADV2"):
    register(_name, check_pad, emit_pad)
for _name in ("CONCATENATION", "PACK"):
    register(_name, check_concat, emit_concat)
register("UNPACK", _moves(), emit_unpack)
register("SPLIT", _moves(0), emit_split)
register("SPLIT_V", _moves(1, 2), emit_split)
register("SLICE", _moves(1, 2), emit_slice)
register("STRIDED_SLICE", _moves(1, 2, 3), emit_strided_slice)
register("TRANSPOSE", _moves(1), emit_transpose)
register("RESIZE_NEAREST_NEIGHBOR", _moves(1, rank4=True), emit_resize_nearest)
