"""Sequences of tensors (SequenceConstruct, SequenceInsert, SequenceAt, SplitToSequence, ...).

Circle has no sequence type. A sequence whose elements all have one shape is held as one tensor
with the elements stacked along a new first axis, so positions computed at run time still work:
SequenceAt is a Gather, SequenceInsert and SequenceErase are Slices and a Concat, SequenceLength
is the first dimension. Each step is built from the converters of those ONNX operators (nodes
made here and converted like the model's own). Elements of different shapes are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from ..context import Context, Node, Unsupported
from . import converts

EMPTY = "empty sequence"  # fact recorded for a SequenceEmpty value
INT64_MAX = np.iinfo(np.int64).max


def _run(cx: Context, node: Node, op_type: str, inputs: list[str], **attrs: Any) -> str:
    """Convert a made-up ONNX node `op_type(inputs)` in this graph; returns its output's name."""
    base, k = f"{node.outputs[0]}::{op_type.lower()}", 0
    name = base
    while cx.knows(name):
        k += 1
        name = f"{base}{k}"
    cx.graph.convert_node(cx, Node(onnx.helper.make_node(op_type, inputs, [name], **attrs), node.opset))
    if not cx.knows(name):
        raise Unsupported(f"its {op_type} step could not be converted")
    return name


def _const(cx: Context, node: Node, value: Any) -> str:
    name = f"{node.outputs[0]}::c{len(cx.consts)}"
    cx.set_const(name, np.asarray(value))
    return name


def _alias(cx: Context, name: str, value: str) -> None:
    const = cx.const(value)
    if const is not None:
        cx.set_const(name, const)
    else:
        cx.values[name] = cx.tensor(value)


def _axes_op(cx: Context, node: Node, op_type: str, x: str, axes: list[int]) -> str:
    """Squeeze/Unsqueeze `x` at `axes` (an attribute before opset 13, an input since)."""
    if node.opset < 13:
        return _run(cx, node, op_type, [x], axes=axes)
    return _run(cx, node, op_type, [x, _const(cx, node, axes)])


def _element(cx: Context, node: Node, x: str) -> str:
    """x as a sequence of one element (stacked form)."""
    return _axes_op(cx, node, "Unsqueeze", x, [0])


def _is_empty(cx: Context, seq: str) -> bool:
    return cx.facts.get(seq) == EMPTY


@converts("SequenceEmpty")
def sequence_empty(cx: Context, node: Node) -> None:
    cx.facts[node.outputs[0]] = EMPTY
    cx.set_const(node.outputs[0], np.zeros((0,), np.float32))  # placeholder: no element shape yet


@converts("SequenceConstruct")
def sequence_construct(cx: Context, node: Node) -> None:
    shapes = {tuple(cx.shape(x) or ()) for x in node.inputs}
    if len(shapes) > 1 or None in next(iter(shapes)):
        raise Unsupported("sequence elements must have one shape known at import (they are stacked)")
    parts = [_element(cx, node, x) for x in node.inputs]
    _alias(cx, node.outputs[0], _run(cx, node, "Concat", parts, axis=0) if len(parts) > 1 else parts[0])


@converts("SequenceInsert")
def sequence_insert(cx: Context, node: Node) -> None:
    seq, x, pos = node.input(0), node.input(1), node.input(2)
    if not _is_empty(cx, seq):
        _same_element_shape(cx, seq, x)
    item = _element(cx, node, x)
    if _is_empty(cx, seq):
        _alias(cx, node.outputs[0], item)
        return
    if not pos:
        _alias(cx, node.outputs[0], _run(cx, node, "Concat", [seq, item], axis=0))
        return
    where = _run(cx, node, "Reshape", [pos, _const(cx, node, [1])])
    zero, end = _const(cx, node, [0]), _const(cx, node, [INT64_MAX])
    head = _run(cx, node, "Slice", [seq, zero, where])
    tail = _run(cx, node, "Slice", [seq, where, end])
    _alias(cx, node.outputs[0], _run(cx, node, "Concat", [head, item, tail], axis=0))


def _same_element_shape(cx: Context, seq: str, x: str) -> None:
    stacked, item = cx.shape(seq), cx.shape(x)
    if stacked is None or item is None or stacked[1:] != item or None in item:
        raise Unsupported(f"element '{x}' of shape {item} joins elements of shape {None if stacked is None else stacked[1:]}:"
                          " a sequence is held stacked, so its elements need one shape known at import")


@converts("SequenceErase")
def sequence_erase(cx: Context, node: Node) -> None:
    seq, pos = node.input(0), node.input(1)
    length = _run(cx, node, "Shape", [seq], start=0, end=1)
    where = _run(cx, node, "Reshape", [pos, _const(cx, node, [1])]) if pos else \
        _run(cx, node, "Sub", [length, _const(cx, node, [1])])
    where = _run(cx, node, "Mod", [_run(cx, node, "Cast", [where], to=onnx.TensorProto.INT64), length])
    after = _run(cx, node, "Add", [where, _const(cx, node, [1])])
    head = _run(cx, node, "Slice", [seq, _const(cx, node, [0]), where])
    tail = _run(cx, node, "Slice", [seq, after, _const(cx, node, [INT64_MAX])])
    _alias(cx, node.outputs[0], _run(cx, node, "Concat", [head, tail], axis=0))


@converts("SequenceAt")
def sequence_at(cx: Context, node: Node) -> None:
    _alias(cx, node.outputs[0], _run(cx, node, "Gather", [node.input(0), node.input(1)], axis=0))


@converts("SequenceLength")
def sequence_length(cx: Context, node: Node) -> None:
    if _is_empty(cx, node.input(0)):
        cx.set_const(node.outputs[0], np.array(0, np.int64))
        return
    length = _run(cx, node, "Shape", [node.input(0)], start=0, end=1)
    _alias(cx, node.outputs[0], _axes_op(cx, node, "Squeeze", length, [0]))


@converts("ConcatFromSequence")
def concat_from_sequence(cx: Context, node: Node) -> None:
    seq = node.input(0)
    shape = cx.shape(seq)
    if shape is None or shape[0] is None:
        raise Unsupported("the sequence length must be known at import")
    rank = len(shape) - 1  # of an element
    new_axis = int(node.attr("new_axis", 0))
    axis = int(node.attr("axis"))
    axis = axis % (rank + new_axis)
    if new_axis:  # stack: the sequence axis moves to `axis`
        perm = [*range(1, axis + 1), 0, *range(axis + 1, rank + 1)]
        _alias(cx, node.outputs[0], _run(cx, node, "Transpose", [seq], perm=perm))
        return
    parts = _run_split(cx, node, seq, shape[0])
    squeezed = [_axes_op(cx, node, "Squeeze", p, [0]) for p in parts]
    _alias(cx, node.outputs[0], _run(cx, node, "Concat", squeezed, axis=axis) if len(squeezed) > 1 else squeezed[0])


def _run_split(cx: Context, node: Node, seq: str, count: int) -> list[str]:
    if count == 1:
        return [seq]
    names = [f"{node.outputs[0]}::part{i}" for i in range(count)]
    sizes = {"split": [1] * count} if node.opset < 13 else {}
    inputs = [seq] if node.opset < 13 else [seq, _const(cx, node, [1] * count)]
    cx.graph.convert_node(cx, Node(onnx.helper.make_node("Split", inputs, names, axis=0, **sizes), node.opset))
    if not all(cx.knows(n) for n in names):
        raise Unsupported("its Split step could not be converted")
    return names


@converts("SplitToSequence")
def split_to_sequence(cx: Context, node: Node) -> None:
    x = node.input(0)
    shape = cx.shape(x)
    if shape is None:
        raise Unsupported(f"the rank of '{x}' is unknown at import")
    rank = len(shape)
    axis = int(node.attr("axis", 0)) % rank
    split = cx.const(node.input(1)) if node.input(1) else None
    if node.input(1) and split is None:
        raise Unsupported("split sizes computed at run time")
    size = shape[axis]
    chunk = 1 if split is None else int(split) if split.ndim == 0 else None
    if split is not None and split.ndim == 1 and len(set(split.tolist())) == 1:
        chunk = int(split[0])
    if chunk is None or (chunk != 1 and (size is None or size % chunk)):
        raise Unsupported("chunks of different sizes cannot be stacked into one tensor")
    moved = _run(cx, node, "Transpose", [x], perm=[axis, *[i for i in range(rank) if i != axis]])
    if chunk == 1:
        keep = split is not None or int(node.attr("keepdims", 1))
        result = _axes_op(cx, node, "Unsqueeze", moved, [axis + 1]) if keep else moved
    else:
        others = [d if d is not None else -1 for i, d in enumerate(shape) if i != axis]
        if others.count(-1) > 0:
            raise Unsupported("equal chunks need the other dimensions known at import")
        grouped = _run(cx, node, "Reshape", [moved, _const(cx, node, [size // chunk, chunk, *others])])
        perm = [0, *range(2, axis + 2), 1, *range(axis + 2, rank + 1)]
        result = _run(cx, node, "Transpose", [grouped], perm=perm)
    _alias(cx, node.outputs[0], result)
