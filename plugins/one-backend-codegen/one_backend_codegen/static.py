"""A model with every shape fixed: which operators run, which values are known in advance.

Generated code has no shape logic, so everything that depends only on shapes is settled here:
the inputs get concrete shapes, operators whose inputs are all known (constants, SHAPE of a
tensor whose shape is fixed, arithmetic on those) are evaluated with the runtime's kernels and
become constants, and one trace of the model through the runtime's kernels gives every other
tensor its shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from one_core.errors import InputError, UnsupportedOperatorError
from one_core.ir import Model, Operator, Tensor

#: Operators whose output depends only on the shape of their input.
_SHAPE_ONLY = {"SHAPE", "RANK"}


@dataclass
class StaticModel:
    """The operators left to run, with every tensor's shape and every known value."""

    model: Model
    operators: list[Operator]
    inputs: list[Tensor]
    outputs: list[Tensor]
    shapes: dict[int, tuple[int, ...]]
    values: dict[int, np.ndarray]

    def shape(self, t: Tensor) -> tuple[int, ...]:
        return self.shapes[id(t)]

    def value(self, t: Tensor | None) -> np.ndarray | None:
        """The value of `t` when it is known at generation time (constants, folded results)."""
        return None if t is None else self.values.get(id(t))


def input_shapes(model: Model, given: Sequence[Sequence[int]] | None) -> list[tuple[int, ...]]:
    """The concrete shape of every input: `given` (in input order), or the model's own shapes
    when they have no dynamic dimension."""
    inputs = model.main.inputs
    if given is not None:
        if len(given) != len(inputs):
            raise InputError(f"input_shapes: {len(given)} shape(s) given, the model has {len(inputs)} input(s)")
        out = []
        for t, shape in zip(inputs, given):
            shape = tuple(int(d) for d in shape)
            sig = t.shape_signature if t.shape_signature is not None else t.shape
            if len(shape) != len(sig) or any(s >= 0 and s != d for s, d in zip(sig, shape)) or min(shape, default=1) < 0:
                raise InputError(f"input '{t.name}': shape {list(shape)} does not fit {list(sig)}")
            out.append(shape)
        return out
    for t in inputs:
        if t.is_dynamic:
            raise InputError(
                f"input '{t.name}' has dynamic dimensions {list(t.shape_signature or ())}: generated code "
                "needs static shapes; fix them with --input_shapes (e.g. 1,224,224,3)"
            )
    return [tuple(t.shape) for t in inputs]


def prepare_static(
    model: Model,
    shapes: Sequence[tuple[int, ...]],
    supported: Callable[[Operator, Callable[[Tensor | None], bool]], bool],
) -> StaticModel:
    """Fold what is known, check every remaining operator is supported, trace the shapes."""
    from one_backend_runtime.backend import installed_kernels  # the kernels load on first use only
    from one_backend_runtime.kernels.base import OpContext
    from one_backend_runtime.kernels.gather_scatter import dense_constant

    sg = model.main
    builtin, custom = installed_kernels()
    known = {id(t) for t in sg.tensors if t.is_constant}
    folded: list[Operator] = []
    running: list[Operator] = []
    for op in sg.operators:
        ins = [t for t in op.inputs if t is not None]
        if op.name in _SHAPE_ONLY or (ins and all(id(t) in known for t in ins) and op.name != "CUSTOM"):
            folded.append(op)
            known.update(id(t) for t in op.outputs)
        else:
            running.append(op)
    problems: dict[str, None] = {}
    if len(model.subgraphs) > 1:
        problems["models with more than one subgraph (control flow)"] = None
    for t in sg.tensors:
        if t.is_variable:
            problems[f"variable tensor '{t.name}'"] = None
    for op in running:
        if not supported(op, lambda t: t is not None and id(t) in known):
            problems[f"{op.type} ({_describe(op)})"] = None
    if problems:
        names = sorted({p.split(" (")[0] for p in problems})
        raise UnsupportedOperatorError(
            f"codegen does not support {len(problems)} operator variant(s): {'; '.join(problems)}", names
        )
    for op in folded:
        if op.name not in builtin:
            raise UnsupportedOperatorError(f"no kernel to evaluate {op.type} at generation time", [op.type])

    values: dict[int, np.ndarray] = {}
    for t in sg.tensors:
        if t.is_constant:
            values[id(t)] = np.asarray(dense_constant(t))
    arrays: dict[int, np.ndarray] = dict(values)
    for t, shape in zip(sg.inputs, shapes):
        arrays[id(t)] = np.zeros(shape, t.dtype.numpy)
    fold_set = {id(op) for op in folded}
    state: dict = {}
    folded_values: dict[int, np.ndarray] = {}
    for op in sg.operators:
        ctx = OpContext(op, _no_subgraphs, state, folded_values)
        fn = builtin[op.name](ctx) if op.name != "CUSTOM" else custom[op.custom_code or ""](ctx)
        outs = fn([None if t is None else arrays[id(t)] for t in op.inputs])
        for t, v in zip(op.outputs, outs):
            v = np.asarray(v)
            arrays[id(t)] = v
            if id(op) in fold_set:
                v = np.array(v, copy=True)
                v.flags.writeable = False
                values[id(t)] = folded_values[id(t)] = v
    shapes_by_id = {k: tuple(int(d) for d in v.shape) for k, v in arrays.items()}
    return StaticModel(model, running, list(sg.inputs), list(sg.outputs), shapes_by_id, values)


def _describe(op: Operator) -> str:
    parts = []
    for t in op.inputs:
        if t is not None:
            parts.append(t.dtype.name.lower())
            break
    if op.outputs:
        parts.append(f"output '{op.outputs[0].name}'")
    return ", ".join(parts)


def _no_subgraphs(index: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
    raise UnsupportedOperatorError("codegen: subgraph calls are not supported", ["CALL"])
