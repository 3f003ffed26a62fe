"""Helpers for writing passes: reading constants and shapes, and rewiring that keeps the
model's interface (output tensors keep their names) and the use-lists consistent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..ir.dtypes import DType
from ..ir.graph import Subgraph
from ..ir.operator import Operator
from ..ir.tensor import Tensor

#: Operators that must run even when nobody reads their outputs (state, control flow that may
#: hold state, custom code whose effects are unknown).
SIDE_EFFECTS = frozenset({
    "ASSIGN_VARIABLE", "VAR_HANDLE", "CALL_ONCE", "IF", "WHILE", "CUSTOM",
    "STABLEHLO_COMPOSITE", "STABLEHLO_WHILE", "STABLEHLO_CASE",
})

#: Operators whose result is not a function of their inputs alone.
NONDETERMINISTIC = frozenset({"RANDOM_STANDARD_NORMAL", "RANDOM_UNIFORM", "MULTINOMIAL", "READ_VARIABLE"})


def has_side_effects(op: Operator) -> bool:
    """True when `op` must be kept even if its outputs are unused: it changes state, may
    call subgraphs that do, or updates a variable tensor it reads (stateful LSTMs)."""
    if op.name in SIDE_EFFECTS:
        return True
    return any(t is not None and t.is_variable for t in op.inputs)


def is_output(sg: Subgraph, t: Tensor) -> bool:
    """True when `t` is an output of `sg` or of a signature of `sg`."""
    if any(o is t for o in sg.outputs):
        return True
    model = sg.model
    if model is not None:
        for sig in model.signature_defs:
            if sig.subgraph is sg and any(o is t for _, o in sig.outputs):
                return True
    return False


def is_input(sg: Subgraph, t: Tensor) -> bool:
    """True when `t` is an input of `sg` or of a signature of `sg`."""
    if any(i is t for i in sg.inputs):
        return True
    model = sg.model
    if model is not None:
        for sig in model.signature_defs:
            if sig.subgraph is sg and any(i is t for _, i in sig.inputs):
                return True
    return False


def is_used(sg: Subgraph, t: Tensor) -> bool:
    """True when an operator reads `t` or the subgraph (or a signature) outputs it."""
    return bool(t.consumers) or is_output(sg, t)


def single_reader(sg: Subgraph, t: Tensor) -> Operator | None:
    """The operator reading `t` when it is read exactly once and is not an output, else None.
    Fusions use it: an intermediate result read elsewhere must stay."""
    if len(t.consumers) != 1 or is_output(sg, t):
        return None
    return t.consumers[0]


def constant(t: Tensor | None) -> np.ndarray | None:
    """The value of a dense constant (not variable, not sparse, elements of its dtype), else
    None."""
    if t is None or not t.is_constant or t.sparsity is not None:
        return None
    np_type = t.dtype.numpy
    if np_type is None or t.data.dtype != np_type:
        return None
    return t.data


def is_float(t: Tensor | None) -> bool:
    """A float32 tensor without quantization parameters."""
    return t is not None and t.dtype == DType.FLOAT32 and not is_quantized(t)


def is_quantized(t: Tensor) -> bool:
    q = t.quantization
    return q is not None and q.scale is not None and q.scale.size > 0


def static_shape(t: Tensor) -> tuple[int, ...] | None:
    """The shape when every dimension is known (no -1 in the shape signature), else None."""
    if t.shape_signature is not None and any(d < 0 for d in t.shape_signature):
        return None
    return t.shape


def signature(t: Tensor) -> tuple[int, ...]:
    """The shape with -1 for dynamic dimensions."""
    if t.shape_signature is not None and len(t.shape_signature) == len(t.shape):
        return t.shape_signature
    return t.shape


def scalar_value(t: Tensor | None) -> Any:
    """The single value of a one-element constant, else None."""
    value = constant(t)
    if value is None or value.size != 1:
        return None
    return value.reshape(()).item()


def unique_name(sg: Subgraph, base: str) -> str:
    """`base`, or `base_1`, `base_2`, ... whichever no tensor of `sg` has."""
    names = {t.name for t in sg.tensors}
    if base not in names:
        return base
    i = 1
    while f"{base}_{i}" in names:
        i += 1
    return f"{base}_{i}"


def add_constant(sg: Subgraph, name: str, value: np.ndarray, dtype: DType | None = None) -> Tensor:
    """A new constant tensor of `sg` holding `value` (named uniquely after `name`)."""
    value = np.ascontiguousarray(value)
    if dtype is None:
        dtype = DType.from_numpy(value.dtype)
    else:
        value = value.astype(dtype.numpy, copy=False)
    return sg.add_tensor(Tensor(unique_name(sg, name), dtype, value.shape, data=value))


def insert_before(sg: Subgraph, new: Operator, anchor: Operator) -> Operator:
    """Add `new` to `sg` just before `anchor` in execution order."""
    return sg.add_operator(new, sg.operators.index(anchor))


def replace_operator(sg: Subgraph, old: Operator, new: Operator) -> Operator:
    """Put `new` where `old` was (same place in execution order) and remove `old`. Give `new`
    the tensors it should have before calling: typically `old`'s outputs."""
    index = sg.operators.index(old)
    sg.remove_operator(old)
    sg.add_operator(new, index)
    return new


def take_over_output(sg: Subgraph, producer: Operator, old: Tensor, new: Tensor) -> None:
    """Make `producer`, which writes `old`, write `new` instead (`new` must not be produced by
    anyone else once this returns). Used when a chain `producer -> ... -> new` collapses into
    `producer`: the last tensor keeps its name, shape and readers."""
    former = new.producer
    if former is not None and former is not producer:
        former.set_outputs([t for t in former.outputs if t is not new])
    producer.set_outputs([new if t is old else t for t in producer.outputs])


def bypass(sg: Subgraph, op: Operator, src: Tensor, dst: Tensor) -> bool:
    """Remove `op`, whose output `dst` equals its input `src`, by making `dst`'s readers read
    `src`. When `dst` is an output of the subgraph its name must survive: then `src`'s
    producer writes `dst` directly, which needs `src` to be read by `op` alone and to be no
    input or output itself. Returns False (and changes nothing) when neither works."""
    if not is_output(sg, dst):
        sg.replace_all_uses(dst, src)
        sg.remove_operator(op)
        return True
    producer = src.producer
    if (producer is None or producer.subgraph is not sg or is_output(sg, src) or is_input(sg, src)
            or any(c is not op for c in src.consumers)):
        return False
    sg.remove_operator(op)
    take_over_output(sg, producer, src, dst)
    return True


def remove_dead(sg: Subgraph, ops: Iterable[Operator]) -> int:
    """Remove those of `ops` (and, transitively, their producers) whose outputs nobody uses
    and that have no side effects; returns how many were removed."""
    work = [op for op in ops if op is not None]
    removed = 0
    while work:
        op = work.pop()
        if op.subgraph is not sg or has_side_effects(op):
            continue
        if any(is_used(sg, t) for t in op.outputs):
            continue
        producers = [t.producer for t in op.inputs if t is not None and t.producer is not None]
        sg.remove_operator(op)
        removed += 1
        work.extend(producers)
    return removed


def int_list(t: Tensor | None) -> list[int] | None:
    """The values of an integer constant as a flat list, else None."""
    value = constant(t)
    if value is None or not np.issubdtype(value.dtype, np.integer):
        return None
    return [int(v) for v in value.reshape(-1)]


def reshape_operator(sg: Subgraph, x: Tensor, y: Tensor, shape: Sequence[int], name: str) -> Operator:
    """A new RESHAPE operator `x -> y` to `shape` (a constant int32 shape input and the
    matching `new_shape` option, as TFLite's converter writes them). Not added to `sg`'s
    operators; its shape constant is added to `sg`'s tensors."""
    from ..ir.options import ReshapeOptions

    shape_t = add_constant(sg, f"{name}/shape", np.asarray(list(shape), np.int32))
    return Operator("RESHAPE", [x, shape_t], [y], ReshapeOptions(new_shape=[int(d) for d in shape]))


def reshape_target(t: Tensor) -> list[int] | None:
    """A RESHAPE target that produces `t`'s shape for every input the model accepts: its shape
    signature with at most one dynamic (-1) dimension; None when two or more are dynamic."""
    sig = list(signature(t))
    if sum(1 for d in sig if d < 0) > 1:
        return None
    return sig
