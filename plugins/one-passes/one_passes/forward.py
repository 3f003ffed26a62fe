"""Moving RESHAPE and TRANSPOSE past elementwise operators, so they meet other reshapes and
transposes (and cancel) or leave a producer free for a fusion:

    op(RESHAPE(x))   -> RESHAPE(op(x))
    op(TRANSPOSE(x)) -> TRANSPOSE(op'(x))   (op' reads its constant transposed back)

Float32 without quantization only. As in ONE, the moved operator stays for its other readers
(then there are two) and goes with the dead code otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ReshapeOptions
from one_core.passes import OperatorPass, Pass, SubgraphPass, layout
from one_core.passes.rewrite import add_constant, constant, int_list, is_float, signature, unique_name

from .common import producer_in, split_const

#: Binary operators that are elementwise functions of their variable input when the other is
#: a constant.
_WITH_CONSTANT = frozenset({"ADD", "MUL", "DIV"})


def _scalar_constant(t: Tensor) -> bool:
    """A float32 constant with one element and rank 0 or 1 (broadcasting keeps the rank)."""
    value = constant(t)
    return value is not None and is_float(t) and value.size == 1 and value.ndim <= 1


def _moved_input(sg: Subgraph, op: Operator, kind: str) -> tuple[Operator, Tensor | None] | None:
    """(the `kind` operator producing `op`'s variable input, its constant operand or None for
    a unary `op`), when `op` is a float elementwise function of that input."""
    out = op.outputs[0] if len(op.outputs) == 1 else None
    if out is None or not is_float(out):
        return None
    if op.type in _WITH_CONSTANT:
        parts = split_const(op)
        if parts is None:
            return None
        x, c = parts
    elif len(op.inputs) == 1:
        x, c = op.input(0), None
    else:
        return None
    mover = producer_in(sg, x, kind)
    if mover is None or not is_float(x) or mover.input(0) is None or not is_float(mover.input(0)):
        return None
    return mover, c


def _move_after(sg: Subgraph, op: Operator, mover: Operator, inputs: Sequence[Tensor | None],
                shape: Sequence[int], sig: Sequence[int], *, rest: Sequence[Tensor] | None = None,
                options: Any = None) -> None:
    """Make `op` read `inputs` and write a new tensor of `shape` (`sig`), which a copy of
    `mover` (its other inputs and options, unless `rest` and `options` are given) turns into
    `op`'s former output."""
    out = op.outputs[0]
    mid = sg.add_tensor(Tensor(unique_name(sg, f"{out.name}/{mover.name.lower()}_input"), out.dtype,
                               tuple(shape), shape_signature=tuple(sig)))
    op.set_inputs(inputs)
    op.set_outputs([mid])
    rest = mover.inputs[1:] if rest is None else rest
    moved = Operator(mover.name, [mid, *rest], [out], mover.options if options is None else options)
    sg.add_operator(moved, sg.operators.index(op) + 1)


class ForwardReshapeToUnaryOpPass(OperatorPass):
    """ABS, NEG or LOGISTIC of a RESHAPE, or MUL or DIV of a RESHAPE by a float scalar
    constant, runs on the reshape's input; the RESHAPE (same constant target) follows. Also
    MEAN (keep_dims) over one axis of a RESHAPE that keeps the rank and the dimensions up to
    that axis: the RESHAPE follows with 1 at that axis."""

    name = "forward_reshape_to_unaryop"
    description = "move a RESHAPE after the unary operator (or MUL/DIV by a scalar, MEAN) reading it"
    levels = frozenset({"O1"})
    operators = frozenset({"ABS", "NEG", "LOGISTIC", "MUL", "DIV", "MEAN"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.type == "MEAN":
            return self._mean(sg, op)
        found = _moved_input(sg, op, "RESHAPE")
        if found is None:
            return False
        reshape, c = found
        if c is not None and not _scalar_constant(c):
            return False
        target = reshape.input(1)
        if target is None or int_list(target) is None:
            return False
        x = reshape.input(0)
        inputs = [x if t is reshape.outputs[0] else t for t in op.inputs]
        _move_after(sg, op, reshape, inputs, x.shape, signature(x))
        return True

    def _mean(self, sg: Subgraph, op: Operator) -> bool:
        reshape = producer_in(sg, op.input(0), "RESHAPE")
        axes = int_list(op.input(1))
        if reshape is None or axes is None or len(axes) != 1 or op.options is None or not op.options.keep_dims:
            return False
        x, r, target = reshape.input(0), op.input(0), int_list(reshape.input(1))
        if not (is_float(x) and is_float(op.outputs[0])) or target is None or not len(x.shape) == len(r.shape) == len(target):
            return False
        axis = axes[0] % len(r.shape)
        kept = signature(x)[:axis + 1]
        if kept != signature(r)[:axis + 1] or any(d < 0 for d in kept) or target[axis] != r.shape[axis]:
            return False
        target[axis] = 1
        shape = [1 if i == axis else d for i, d in enumerate(x.shape)]
        sig = [1 if i == axis else d for i, d in enumerate(signature(x))]
        target_t = add_constant(sg, f"{op.outputs[0].name}/shape", np.asarray(target, np.int32))
        _move_after(sg, op, reshape, [x, op.input(1)], shape, sig, rest=[target_t],
                    options=ReshapeOptions(new_shape=target))
        return True


class ForwardTransposeOpPass(OperatorPass):
    """ADD or MUL of a TRANSPOSE and a float constant (of at most the transpose's rank), and
    ABS or LOGISTIC of a TRANSPOSE, run on the transpose's input (the constant transposed
    back); the TRANSPOSE follows."""

    name = "forward_transpose_op"
    description = "move a TRANSPOSE after ADD/MUL by a constant, ABS or LOGISTIC reading it"
    levels = frozenset({"O1"})
    operators = frozenset({"ADD", "MUL", "ABS", "LOGISTIC"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        found = _moved_input(sg, op, "TRANSPOSE")
        if found is None:
            return False
        transpose, c = found
        x, perm = transpose.input(0), int_list(transpose.input(1))
        if perm is None or sorted(perm) != list(range(len(x.shape))):
            return False
        inputs = [x if t is transpose.outputs[0] else t for t in op.inputs]
        if c is not None and not _scalar_constant(c):
            back = _untransposed(sg, c, perm)
            if back is None:
                return False
            inputs = [back if t is c else t for t in inputs]
        out, inverse = op.outputs[0], np.argsort(perm)
        shape = [out.shape[i] for i in inverse]
        sig = [signature(out)[i] for i in inverse]
        _move_after(sg, op, transpose, inputs, shape, sig)
        return True


def _untransposed(sg: Subgraph, c: Tensor, perm: list[int]) -> Tensor | None:
    """A new constant that TRANSPOSE by `perm` turns into `c` (broadcast to its rank first)."""
    value = constant(c)
    if value is None or not is_float(c) or value.ndim > len(perm):
        return None
    full = value.reshape((1,) * (len(perm) - value.ndim) + value.shape)
    return add_constant(sg, f"{c.name}/untransposed", np.transpose(full, np.argsort(perm)))


class ConvertNchwToNhwcPass(SubgraphPass):
    """Channels-first graphs whose channels-last operators sit between Transposes (imports that
    went operator by operator) become channels-last throughout: the core's layout propagation
    merges Transposes and sinks them through layout-agnostic operators until only the model's
    boundaries keep one. Inputs and outputs keep their layout."""

    name = "convert_nchw_to_nhwc"
    description = "propagate layout Transposes through layout-agnostic operators until they cancel"
    levels = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        return layout.propagate(sg)


def forward_passes() -> list[Pass]:
    return [ForwardReshapeToUnaryOpPass(), ForwardTransposeOpPass(), ConvertNchwToNhwcPass()]
