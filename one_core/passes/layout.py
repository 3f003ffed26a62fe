"""Layout propagation: Transposes move through layout-agnostic operators until they cancel.

A channels-first graph made channels-last operator by operator (the ONNX frontend converts each
Conv as circle's CONV_2D between a Transpose into channels-last and one back; ONE's importers
through TensorFlow leave the same pattern) has, between two convolutions, the pair "back, then
forth again", which is the identity; what sits between them (activations, residual additions,
padding, concatenation, reductions) does not care about the layout, provided its axis arguments
and constant operands are permuted too. `propagate` therefore repeats two rewrites until neither
applies:

* merge: Transpose(Transpose(x, p), q) is one Transpose with the composed permutation, and
  nothing at all when that is the identity;
* sink: an operator whose layout-relevant inputs are all Transposes with the same permutation p
  (or constants, permuted here) runs on the untransposed inputs instead, with its axes remapped,
  and a Transpose p moves to each of its outputs. Sinking happens only when it does not add
  Transposes: it removes at least as many as it creates (judged for a single operator, or for a
  whole region of readers below one Transpose).

Then Transposes that only move dimensions of size 1 become Reshapes. What remains are the real
boundaries: model inputs and outputs in their original layout, and operators that do depend on
the layout (Reshape of a feature map, Softmax over an axis, ...). The IR is all this needs, so it
lives in the core: the ONNX frontend runs it after conversion, and the `convert_nchw_to_nhwc`
pass runs it on any circle model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from one_core.ir import DType, Operator, Subgraph, Tensor
from one_core.ir.options import ReshapeOptions, TransposeOptions

UNARY = {"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH", "ABS", "NEG", "EXP", "LOG",
         "SQRT", "RSQRT", "SQUARE", "FLOOR", "CEIL", "ROUND", "SIN", "COS", "ELU", "HARD_SWISH",
         "LEAKY_RELU", "GELU", "CAST", "LOGICAL_NOT", "SIGN", "QUANTIZE", "DEQUANTIZE"}
BINARY = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV",
          "FLOOR_MOD", "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL",
          "LOGICAL_AND", "LOGICAL_OR", "PRELU", "SELECT_V2", "ADD_N"}
REDUCE = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY"}
PAD = {"PAD", "PADV2", "MIRROR_PAD"}
SUFFIXES = ("_nhwc", "_cl")  # names given to channels-last tensors (converters, and sinking here)


def propagate(sg: Subgraph) -> bool:
    """Merge and sink Transposes to a fixed point, then turn those that only move dimensions of
    size 1 into Reshapes (last: a Transpose can still meet its partner, a Reshape cannot)."""
    changed = _each_transpose(sg, lambda op: _merge(sg, op) or _sink_all(sg, op))
    return _each_transpose(sg, lambda op: _to_reshape(sg, op)) or changed


def _each_transpose(sg: Subgraph, rewrite: Callable[[Operator], bool]) -> bool:
    changed_any = changed = False
    while True:
        for op in list(sg.operators):
            if op.subgraph is sg and op.name == "TRANSPOSE" and _perm(op) is not None and rewrite(op):
                changed = True
        if not changed:
            return changed_any
        changed_any, changed = True, False


def restore_names(sg: Subgraph) -> None:
    """Give a channels-last tensor the ONNX name of the value it holds once the channels-first
    tensor of that name is gone (`c1_nhwc` becomes `c1`)."""
    taken = {t.name for t in sg.tensors}
    for t in sg.tensors:
        for suffix in SUFFIXES:
            base = t.name[: -len(suffix)] if t.name.endswith(suffix) else None
            if base and base not in taken:
                taken.discard(t.name)
                t.name = base
                taken.add(base)
                break


def _perm(op: Operator) -> list[int] | None:
    p = op.inputs[1] if len(op.inputs) > 1 else None
    if p is None or p.data is None:
        return None
    return [int(v) for v in np.asarray(p.data).reshape(-1)]


def _merge(sg: Subgraph, op: Operator) -> bool:
    """Fold a Transpose of a Transpose; drop an identity Transpose."""
    x, out = op.inputs[0], op.outputs[0]
    perm = _perm(op)
    first = x.producer if x is not None else None
    merged = first is not None and first.name == "TRANSPOSE" and _perm(first) is not None
    if merged:
        inner = _perm(first)
        composed = [inner[p] for p in perm]
        op.set_input(0, first.inputs[0])
        op.set_input(1, _const(sg, np.array(composed, np.int32), "perm"))
        _drop_if_dead(sg, first)
        x, perm = op.inputs[0], composed
    if perm != list(range(len(perm))):
        return merged
    return _bypass(sg, op, x, out) or merged


def _bypass(sg: Subgraph, op: Operator, x: Tensor, out: Tensor) -> bool:
    """Remove identity `op`, making `out`'s readers read `x` (or `x`'s producer write `out`)."""
    if out not in sg.outputs:
        sg.replace_all_uses(out, x)
        sg.remove_operator(op)
        return True
    producer = x.producer
    if producer is None or x in sg.outputs or producer.name == "TRANSPOSE" and len(x.consumers) > 1:
        return False  # a model input or output passed through: the copy stays
    sg.remove_operator(op)
    producer.set_outputs(out if t is x else t for t in producer.outputs)
    sg.replace_all_uses(x, out)
    return True


def _to_reshape(sg: Subgraph, op: Operator) -> bool:
    """A Transpose that only moves dimensions of size 1 is a Reshape; a Reshape of a Reshape (or
    Squeeze) reads the first one's input directly."""
    x, out = op.inputs[0], op.outputs[0]
    if x.is_dynamic or out.is_dynamic or not x.shape:
        return False
    perm = _perm(op)
    moved = [p for p in perm if x.shape[p] != 1]
    if moved != sorted(moved):
        return False
    source = x.producer
    if source is not None and source.name in ("RESHAPE", "SQUEEZE") and len(x.consumers) == 1 \
            and x not in sg.outputs:
        x = source.inputs[0]
    index = sg.operators.index(op)
    sg.remove_operator(op)
    shape = np.array(out.shape, np.int32)
    sg.add_operator(Operator("RESHAPE", [x, _const(sg, shape, "shape")], [out],
                             ReshapeOptions(new_shape=[int(d) for d in shape])), index)
    if source is not None and source.outputs[0] is not x:
        _drop_if_dead(sg, source)
    return True


def _drop_if_dead(sg: Subgraph, op: Operator) -> None:
    if op.subgraph is sg and not any(t.consumers or t in sg.outputs for t in op.outputs):
        sg.remove_operator(op)


def _sink_all(sg: Subgraph, op: Operator) -> bool:
    """Sink the Transpose `op` below one reader; failing that, below a whole region of readers
    (x -> Transpose -> {Logistic, Mul(x', Logistic)} gains only when both move)."""
    out, perm = op.outputs[0], _perm(op)
    for consumer in list(out.consumers):
        if consumer.subgraph is sg and _sink(sg, consumer, perm):
            return True
    region = _region(sg, op, perm)
    if region is None:
        return False
    for member in region:
        _sink(sg, member, perm, force=True)
    return True


def _region(sg: Subgraph, op: Operator, perm: list[int]) -> list[Operator] | None:
    """The operators below Transpose `op` that can all run in the untransposed layout (their
    layout-relevant inputs come from the Transpose, from each other, or are constants), in graph
    order, when moving the Transpose below all of them needs at most one Transpose."""
    inside = {op.outputs[0]: None}  # a dict: an ordered set, so the result never depends on ids
    members: list[Operator] = []
    grown = True
    while grown:
        grown = False
        for t in list(inside):
            for reader in t.consumers:
                if reader in members or reader.subgraph is not sg:
                    continue
                rule = _RULES.get(reader.name)
                plan = rule(reader, perm) if rule is not None else None
                if plan is None or not all(_movable(reader.inputs[i], inside, len(perm)) for i in plan.inputs):
                    continue
                members.append(reader)
                inside.update((y, None) for y, p in zip(reader.outputs, plan.outputs) if p == perm)
                grown = True
    if len(members) < 2:
        return None
    leaving = sum(bool(set(t.consumers) - set(members)) or t in sg.outputs for t in inside)
    for m in members:  # outputs whose layout changes otherwise (reductions dropping axes)
        plan = _RULES[m.name](m, perm)
        leaving += sum(p != perm and p != list(range(len(p))) for p in plan.outputs)
    if leaving > 1:
        return None
    order = {id(o): i for i, o in enumerate(sg.operators)}
    return sorted(members, key=lambda m: order[id(m)])


def _movable(t: Tensor | None, inside: dict[Tensor, None], rank: int) -> bool:
    return t is None or t in inside or (t.is_constant and t.rank <= rank) or _scalar(t)


def _sink(sg: Subgraph, op: Operator, perm: list[int], force: bool = False) -> bool:
    """Run `op` before the Transposes `perm` on its inputs, when that does not add Transposes
    (or when `force`d as part of a region)."""
    rule = _RULES.get(op.name)
    plan = rule(op, perm) if rule is not None and op.outputs else None
    if plan is None:
        return False
    rank = len(perm)
    transposes: list[Operator] = []
    for i in plan.inputs:
        t = op.inputs[i]
        if t is None:
            continue
        p = t.producer
        if p is not None and p.name == "TRANSPOSE" and _perm(p) == perm:
            if p not in transposes:
                transposes.append(p)
        elif not (t.is_constant and t.rank <= rank) and not _scalar(t):
            return False
    if not transposes:
        return False
    freed = sum(all(c is op for c in p.outputs[0].consumers) and p.outputs[0] not in sg.outputs
                for p in transposes)
    added = sum(p != list(range(len(p))) for p in plan.outputs)
    if added > freed and not force:
        return False
    plan.apply()
    inverse = list(np.argsort(perm))
    for i in plan.inputs:
        t = op.inputs[i]
        if t is None:
            continue
        if t.producer is not None and t.producer.name == "TRANSPOSE" and _perm(t.producer) == perm:
            op.set_input(i, t.producer.inputs[0])
        elif t.is_constant and not _scalar(t):
            full = np.asarray(t.data).reshape((1,) * (rank - t.rank) + tuple(t.shape))
            op.set_input(i, _const(sg, np.ascontiguousarray(np.transpose(full, inverse)), t.name))
    index = sg.operators.index(op)
    for k, (y, p) in enumerate(zip(list(op.outputs), plan.outputs)):
        if p == list(range(len(p))):
            continue
        inv = list(np.argsort(p))
        sig = y.shape_signature or y.shape
        inner = sg.add_tensor(Tensor(y.name + "_cl", y.dtype, tuple(y.shape[q] for q in inv),
                                     shape_signature=tuple(sig[q] for q in inv) if y.shape_signature else None,
                                     quantization=y.quantization, has_rank=True))
        op.set_outputs(inner if j == k else t for j, t in enumerate(op.outputs))
        sg.add_operator(Operator("TRANSPOSE", [inner, _const(sg, np.array(p, np.int32), "perm")], [y],
                                 TransposeOptions()), index + 1)
    for p in transposes:
        _drop_if_dead(sg, p)
    return True


def _scalar(t: Tensor) -> bool:
    return t.is_constant and int(np.prod(t.shape)) == 1 and t.rank <= 1


def _const(sg: Subgraph, value: np.ndarray, name: str) -> Tensor:
    return sg.add_tensor(Tensor(name, DType.from_numpy(value.dtype), value.shape, data=value))


# --- per-operator rules ---------------------------------------------------------------------------


@dataclass
class Plan:
    """How an operator runs on inputs permuted by `perm`: which inputs' layout matters, the
    permutation restoring each output's original layout, and the remapping of its axis arguments
    (applied only once the sink is decided)."""

    inputs: Sequence[int]
    outputs: list[list[int]]
    apply: Callable[[], None] = lambda: None


def _elementwise(op: Operator, perm: list[int]) -> Plan | None:
    if op.name in ("QUANTIZE", "DEQUANTIZE"):
        q = op.outputs[0].quantization if op.name == "QUANTIZE" else op.inputs[0].quantization
        if q is not None and q.is_per_channel:
            return None
    if any(t is not None and not t.is_constant and t.rank != len(perm) for t in op.inputs):
        return None
    return Plan(range(len(op.inputs)), [perm] * len(op.outputs))


def _concat(op: Operator, perm: list[int]) -> Plan | None:
    if any(t is not None and not t.is_constant and t.rank != len(perm) for t in op.inputs):
        return None

    def apply() -> None:
        op.options.axis = perm[op.options.axis % len(perm)]

    return Plan(range(len(op.inputs)), [perm], apply)


def _reduce(op: Operator, perm: list[int]) -> Plan | None:
    axes_t = op.inputs[1]
    if axes_t is None or not axes_t.is_constant or op.inputs[0].rank != len(perm):
        return None
    rank = len(perm)
    axes = sorted({int(a) % rank for a in np.asarray(axes_t.data).reshape(-1)})
    new_axes = np.array(sorted(perm[a] for a in axes), dtype=axes_t.data.dtype)
    restore = perm if op.options is not None and op.options.keep_dims else _kept_order(perm, axes)
    return Plan((0,), [restore], lambda: op.set_input(1, _const(op.subgraph, new_axes, axes_t.name)))


def _kept_order(perm: list[int], removed: Sequence[int]) -> list[int]:
    """For an operator dropping output axes `removed` of its input: the permutation that restores
    the original order of the kept axes when it runs before the Transpose `perm` instead."""
    kept = [perm[i] for i in range(len(perm)) if i not in removed]  # pre-transpose axes, in output order
    order = sorted(kept)
    return [order.index(a) for a in kept]


def _squeeze(op: Operator, perm: list[int]) -> Plan | None:
    x = op.inputs[0]
    dims = list(op.options.squeeze_dims or []) if op.options is not None else []
    if x.rank != len(perm) or (not dims and (x.is_dynamic or not x.shape)):
        return None
    rank = len(perm)
    dims = sorted({d % rank for d in dims}) if dims else [i for i, d in enumerate(x.shape) if d == 1]

    def apply() -> None:
        op.options.squeeze_dims = sorted(perm[d] for d in dims)

    return Plan((0,), [_kept_order(perm, dims)], apply)


def _pad(op: Operator, perm: list[int]) -> Plan | None:
    pads = op.inputs[1]
    if pads is None or not pads.is_constant or op.inputs[0].rank != len(perm):
        return None
    table = np.asarray(pads.data).reshape(len(perm), 2)
    new = np.empty_like(table)
    for i, p in enumerate(perm):
        new[p] = table[i]
    return Plan((0,), [perm], lambda: op.set_input(1, _const(op.subgraph, new, pads.name)))


_RULES: dict[str, Callable[[Operator, list[int]], Plan | None]] = {
    "CONCATENATION": _concat, "SQUEEZE": _squeeze, **{n: _reduce for n in REDUCE}, **{n: _pad for n in PAD},
    **{n: _elementwise for n in UNARY | BINARY}}
