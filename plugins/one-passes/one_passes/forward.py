"""Moving RESHAPE and TRANSPOSE past elementwise operators, so they meet other reshapes and
transposes (and cancel) or leave a producer free for a fusion:

    op(RESHAPE(x))   -> RESHAPE(op(x))
    op(TRANSPOSE(x)) -> TRANSPOSE(op'(x))   (op' reads its constant transposed back)

Float32 without quantization only. As in ONE, the moved operator stays for its other readers
(then there are two) and goes with the dead code otherwise.

Also the layout passes: `convert_nchw_to_nhwc` (the core's layout propagation) and the two that
make the main graph's rank-4 inputs and outputs channels-last."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from one_core.ir import Model, Operator, Subgraph, Tensor
from one_core.ir.options import ReshapeOptions, TransposeOptions
from one_core.passes import OperatorPass, Pass, SubgraphPass, layout
from one_core.passes.rewrite import (
    add_constant,
    bypass,
    constant,
    int_list,
    is_float,
    is_input,
    is_output,
    remove_dead,
    signature,
    take_over_output,
    unique_name,
)

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
    boundaries keep one. Inputs and outputs keep their layout (see `nchw_to_nhwc_input_shape`
    and `nchw_to_nhwc_output_shape`)."""

    name = "convert_nchw_to_nhwc"
    description = "propagate layout Transposes through layout-agnostic operators until they cancel"
    levels = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        return layout.propagate(sg)


#: TRANSPOSE permutations of rank-4 tensors into channels-last and back into channels-first.
TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]

#: Model metadata naming the main graph's inputs and outputs made channels-last (JSON
#: {"inputs": [...], "outputs": [...]}): nothing in the graph tells an NHWC input from an NCHW
#: one, so this is what keeps a second run (in another `one optimize` too) from permuting them again.
NHWC_IO_METADATA = "one_nhwc_io"


class _NhwcInterfacePass(Pass):
    """Makes the main graph's rank-4 inputs or outputs (`side`) channels-last, assuming they are
    channels-first ([N, C, H, W] becomes [N, H, W, C]), each once: see `NHWC_IO_METADATA`."""

    side = ""

    def run(self, model: Model) -> bool:
        if not model.subgraphs:
            return False
        sg = model.main
        done = json.loads(model.metadata.get(NHWC_IO_METADATA, b"{}"))
        names = done.setdefault(self.side, [])
        changed = False
        for t in dict.fromkeys(sg.inputs if self.side == "inputs" else sg.outputs):
            if t.name not in names and self._convertible(sg, t):
                self._convert(sg, t)
                names.append(t.name)
                changed = True
        if changed:
            model.metadata[NHWC_IO_METADATA] = json.dumps(done).encode()
        return changed

    def _convertible(self, sg: Subgraph, t: Tensor) -> bool:
        """A computed rank-4 tensor, not both an input and an output, without per-channel
        quantization (its axis would move)."""
        q = t.quantization
        return (len(t.shape) == 4 and t.data is None and not (q is not None and q.is_per_channel)
                and not (is_input(sg, t) and is_output(sg, t)))

    @abstractmethod
    def _convert(self, sg: Subgraph, t: Tensor) -> None:
        """Make `t` channels-last, keeping what the graph computes."""


class NchwToNhwcInputShapePass(_NhwcInterfacePass):
    """Rank-4 inputs of the main graph become channels-last. TRANSPOSEs [0, 2, 3, 1] reading
    one (the boundary `convert_nchw_to_nhwc` leaves) go: their readers read the input; other
    readers read it through a new TRANSPOSE [0, 3, 1, 2], which layout propagation may then
    cancel. ONE's circle2circle option of the same name."""

    name = "nchw_to_nhwc_input_shape"
    description = "make rank-4 model inputs NHWC (boundary TRANSPOSEs go, or one is added)"
    levels = frozenset()
    side = "inputs"

    def _convert(self, sg: Subgraph, x: Tensor) -> None:
        nchw = _nchw_copy(sg, x)
        sg.replace_all_uses(x, nchw)
        _permute(x)
        to_nchw = sg.add_operator(_transpose(sg, x, nchw, TO_NCHW), 0)
        for reader in list(nchw.consumers):
            if _is_transpose(reader, TO_NHWC):
                bypass(sg, reader, x, reader.outputs[0])
        remove_dead(sg, [to_nchw])


class NchwToNhwcOutputShapePass(_NhwcInterfacePass):
    """Rank-4 outputs of the main graph become channels-last, keeping their tensors (names,
    signatures). An output written by a TRANSPOSE [0, 3, 1, 2] is written by the producer of
    that transpose's input instead; any other gets a new TRANSPOSE [0, 2, 3, 1]. Operators
    reading the output read its channels-first value still. ONE's circle2circle option of the
    same name."""

    name = "nchw_to_nhwc_output_shape"
    description = "make rank-4 model outputs NHWC (boundary TRANSPOSEs go, or one is added)"
    levels = frozenset()
    side = "outputs"

    def _convertible(self, sg: Subgraph, t: Tensor) -> bool:
        return super()._convertible(sg, t) and producer_in(sg, t) is not None

    def _convert(self, sg: Subgraph, y: Tensor) -> None:
        producer, nchw = y.producer, _nchw_copy(sg, y)
        producer.set_outputs(nchw if t is y else t for t in producer.outputs)
        for reader in list(y.consumers):
            reader.set_inputs(nchw if t is y else t for t in reader.inputs)
        _permute(y)
        src = producer.input(0) if _is_transpose(producer, TO_NCHW) else None
        if producer_in(sg, src) is None or is_output(sg, src):
            sg.add_operator(_transpose(sg, nchw, y, TO_NHWC), sg.operators.index(producer) + 1)
            return
        take_over_output(sg, src.producer, src, y)
        sg.replace_all_uses(src, y)
        remove_dead(sg, [producer])


def _is_transpose(op: Operator, perm: list[int]) -> bool:
    return op.name == "TRANSPOSE" and int_list(op.input(1)) == perm


def _transpose(sg: Subgraph, x: Tensor, y: Tensor, perm: list[int]) -> Operator:
    """A new TRANSPOSE `x -> y` by `perm` (not added to `sg`'s operators)."""
    perm_t = add_constant(sg, f"{y.name}/perm", np.asarray(perm, np.int32))
    return Operator("TRANSPOSE", [x, perm_t], [y], TransposeOptions())


def _nchw_copy(sg: Subgraph, t: Tensor) -> Tensor:
    """A new tensor like `t` (which is about to become channels-last), named `<name>_nchw`."""
    return sg.add_tensor(Tensor(unique_name(sg, f"{t.name}_nchw"), t.dtype, t.shape,
                                shape_signature=t.shape_signature, quantization=t.quantization, has_rank=t.has_rank))


def _permute(t: Tensor) -> None:
    """Give the rank-4 `t` the channels-last shape (and shape signature) of its value."""
    t.shape = tuple(t.shape[p] for p in TO_NHWC)
    if t.shape_signature is not None:
        t.shape_signature = tuple(t.shape_signature[p] for p in TO_NHWC)


def forward_passes() -> list[Pass]:
    return [ForwardReshapeToUnaryOpPass(), ForwardTransposeOpPass(), ConvertNchwToNhwcPass(),
            NchwToNhwcInputShapePass(), NchwToNhwcOutputShapePass()]
