"""Shape arithmetic shared by the elementwise, reduction and byte-moving emitters: strides,
merging of dimensions a loop nest can walk as one, and strided box copies (shape_ops.c)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.ir import DType, Operator, Tensor

from ..emit import Known, OpEmit

#: Loop-nest dimensions the kernels accept (ONE_*_MAX_RANK).
MAX_RANK = 8


def contiguous(shape: Sequence[int], unit: int = 1) -> list[int]:
    """Row-major strides of `shape`, in multiples of `unit`."""
    strides, step = [], unit
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def broadcast_strides(shape: Sequence[int], out: Sequence[int]) -> list[int]:
    """Element strides of a (right-aligned) operand of `shape` read at every index of `out`:
    0 along broadcast dimensions."""
    padded = [1] * (len(out) - len(shape)) + list(shape)
    return [0 if d == 1 else s for d, s in zip(padded, contiguous(padded))]


def merge(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop unit dimensions and merge each dimension into the next when every stride list walks
    both as one; keeps at least one dimension."""
    dims = [(d, [s[i] for s in strides]) for i, d in enumerate(shape) if d != 1]
    out: list[tuple[int, list[int]]] = []
    for d, st in dims:
        if out and all(ps == s * d for ps, s in zip(out[-1][1], st)):
            out[-1] = (out[-1][0] * d, st)
        else:
            out.append((d, st))
    if not out:
        out = [(1, [0] * len(strides))]
    return [d for d, _ in out], [[st[k] for _, st in out] for k in range(len(strides))]


def axis_of(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def itemsize(t: Tensor) -> int:
    return np.dtype(t.dtype.numpy).itemsize


def same_dtype(op: Operator) -> bool:
    """Input 0 and every output have one element type."""
    return all(t.dtype == op.inputs[0].dtype for t in op.outputs)


def float_io(op: Operator) -> bool:
    """Input 0 and every output are float32 (other inputs are parameters)."""
    return op.inputs[0].dtype == DType.FLOAT32 and same_dtype(op)


def known_inputs(op: Operator, known: Known, *indices: int) -> bool:
    return all(i < len(op.inputs) and known(op.inputs[i]) for i in indices)


def byte_ptr(e: OpEmit, t: Tensor, offset: int = 0) -> str:
    """`(unsigned char *)` pointer `offset` bytes into `t` (const unless an output)."""
    const = "" if t in e.op.outputs else "const "
    return f"(({const}unsigned char *){e.ptr(t)} + {offset})"


def copy_box(e: OpEmit, shape: Sequence[int], src: str, src_strides: Sequence[int], dst: str,
             dst_strides: Sequence[int], size: int) -> None:
    """Emit one_copy_nd of a box of `size`-byte elements (strides in bytes; src, dst: byte pointers)."""
    if int(np.prod(shape)) == 0:
        return
    dims, (ss, ds) = merge(shape, src_strides, dst_strides)
    run = size
    while dims and ss[-1] == run and ds[-1] == run:
        run *= dims.pop()
        ss.pop()
        ds.pop()
    e.use("shape_ops")
    e.call(f"one_copy_nd({len(dims)}, {e.array('int', dims)}, {e.array('ptrdiff_t', ss)}, "
           f"{e.array('ptrdiff_t', ds)}, {run}, {src}, {dst});")
