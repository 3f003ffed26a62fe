"""Rewrites for back ends that lack an operator or a feature (none is in O1): HARD_SWISH and
SOFTMAX decomposed into simpler builtins, a constant broadcast along the last axis expanded to
the full shape, and negative batch-norm gammas before a ReLU made positive (which changes what
the model computes, as ONE warns)."""

from __future__ import annotations

from typing import Any

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, DivOptions, MulOptions, ReducerOptions, SubOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    is_float,
    signature,
    single_reader,
    static_shape,
    unique_name,
)

from .common import activation, split_const


class _Emitter:
    """Writes operators, in order, where `old` was (`old` is removed on creation). Results
    are new tensors shaped like `old`'s output, except the `final` one, which is that output."""

    def __init__(self, sg: Subgraph, old: Operator) -> None:
        self.sg, self.out = sg, old.outputs[0]
        self.index = sg.operators.index(old)
        sg.remove_operator(old)

    def const(self, suffix: str, value: np.ndarray) -> Tensor:
        return add_constant(self.sg, f"{self.out.name}/{suffix}", value)

    def op(self, kind: str, inputs: list[Tensor], options: Any = None, *, final: bool = False,
           shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None) -> Tensor:
        """Add `kind` reading `inputs`; `shapes` is (shape, signature) of its result when it
        differs from the output's."""
        if final:
            result = self.out
        else:
            shape, sig = shapes if shapes is not None else (self.out.shape, signature(self.out))
            name = unique_name(self.sg, f"{self.out.name}/{kind.lower()}")
            result = self.sg.add_tensor(Tensor(name, self.out.dtype, tuple(shape), shape_signature=tuple(sig)))
        self.sg.add_operator(Operator(kind, inputs, [result], options), self.index)
        self.index += 1
        return result


class DecomposeHardSwishPass(OperatorPass):
    """HARD_SWISH(x) of float32 becomes x * (RELU6(x + 3) * (1/6)), as ONE writes it (x of
    rank 1 or more: the new constants have shape [1])."""

    name = "decompose_hardswish"
    description = "replace HARD_SWISH by x * (RELU6(x + 3) * 1/6) (ADD, RELU6, MUL, MUL)"
    levels = frozenset()
    operators = frozenset({"HARD_SWISH"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x = op.input(0)
        if not (is_float(x) and is_float(op.outputs[0])) or not x.shape:
            return False
        e = _Emitter(sg, op)
        shifted = e.op("ADD", [x, e.const("three", np.float32(3.0))], AddOptions())
        clipped = e.op("RELU6", [shifted])
        scaled = e.op("MUL", [clipped, e.const("sixth", np.float32(1.0 / 6.0))], MulOptions())
        e.op("MUL", [x, scaled], MulOptions(), final=True)
        return True


class DecomposeSoftmaxPass(OperatorPass):
    """SOFTMAX(x, beta) of float32 becomes e / SUM(e, -1) with
    e = EXP((x - REDUCE_MAX(x, -1)) * beta) (both reductions keep the axis; no MUL when
    beta is 1)."""

    name = "decompose_softmax"
    description = "replace SOFTMAX by REDUCE_MAX, SUB, MUL (beta != 1), EXP, SUM and DIV"
    levels = frozenset()
    operators = frozenset({"SOFTMAX"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, out = op.input(0), op.outputs[0]
        if op.options is None or not (is_float(x) and is_float(out)) or not out.shape:
            return False
        beta = float(op.options.beta)
        e = _Emitter(sg, op)
        axis = e.const("axis", np.array([-1], np.int32))
        reduced = ((*out.shape[:-1], 1), (*signature(out)[:-1], 1))
        peak = e.op("REDUCE_MAX", [x, axis], ReducerOptions(keep_dims=True), shapes=reduced)
        shifted = e.op("SUB", [x, peak], SubOptions())
        if beta != 1.0:
            shifted = e.op("MUL", [shifted, e.const("beta", np.float32(beta))], MulOptions())
        exp = e.op("EXP", [shifted])
        total = e.op("SUM", [exp, axis], ReducerOptions(keep_dims=True), shapes=reduced)
        e.op("DIV", [exp, total], DivOptions(), final=True)
        return True


class ExpandBroadcastConstPass(OperatorPass):
    """ADD, MUL or DIV of a float32 constant that has size 1 on the last axis and otherwise
    the shape of the other operand (static, same rank, larger last axis) reads the constant
    repeated along that axis instead: nothing is broadcast any more."""

    name = "expand_broadcast_const"
    description = "expand a float constant broadcast along the last axis of ADD, MUL or DIV to the full shape"
    levels = frozenset()
    operators = frozenset({"ADD", "MUL", "DIV"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if len(op.inputs) != 2:
            return False
        for i in (0, 1):
            c, other = op.input(i), op.input(1 - i)
            value = constant(c)
            shape = None if other is None else static_shape(other)
            if value is None or shape is None or not (is_float(c) and is_float(other)):
                continue
            if not shape or value.shape != (*shape[:-1], 1) or shape[-1] == 1:
                continue
            op.set_input(i, add_constant(sg, f"{c.name}/expanded", np.broadcast_to(value, shape)))
            return True
        return False


def _channel_constant(t: Tensor, out: Tensor) -> bool:
    """`t` is a rank-1 constant with one value per channel of `out` (its last axis)."""
    value = constant(t)
    return value is not None and value.ndim == 1 and bool(out.shape) and value.shape[0] == out.shape[-1]


class MakeBatchNormGammaPositivePass(OperatorPass):
    """In MUL(x, gamma) -> ADD(beta) with a fused RELU (gamma and beta rank-1 per-channel
    constants, the other operands not constant, the MUL read only by the ADD), the negative
    values of gamma become 1e-10 (in a new constant: other readers keep the old one).
    **Changes the results** on those channels (relu(x * gamma + beta) becomes about
    relu(beta)), as ONE warns: for when that impact is known to be acceptable."""

    name = "make_batchnorm_gamma_positive"
    description = "replace negative batch-norm gammas before ADD with RELU by 1e-10 (changes results)"
    levels = frozenset()
    operators = frozenset({"MUL"})

    def rewrite(self, sg: Subgraph, mul: Operator) -> bool:
        parts = split_const(mul)
        out = mul.outputs[0]
        if parts is None or not _channel_constant(parts[1], out):
            return False
        x, gamma_t = parts
        if not (is_float(x) and is_float(gamma_t) and is_float(out)):
            return False
        add = single_reader(sg, out)
        if add is None or add.type != "ADD" or activation(add) != Act.RELU:
            return False
        beta = split_const(add)
        if beta is None or not _channel_constant(beta[1], add.outputs[0]):
            return False
        gamma = constant(gamma_t)
        negative = gamma < 0
        if not negative.any():
            return False
        positive = np.where(negative, np.float32(1e-10), gamma).astype(np.float32)
        mul.set_input(mul.inputs.index(gamma_t), add_constant(sg, f"{gamma_t.name}/positive", positive))
        return True


def decompose_passes() -> list[OperatorPass]:
    return [DecomposeHardSwishPass(), DecomposeSoftmaxPass(), ExpandBroadcastConstPass(),
            MakeBatchNormGammaPositivePass()]
