"""Transforms: MINIMUM/MAXIMUM clamps into RELU6, SUB of a constant into ADD,
FULLY_CONNECTED of two variable tensors into BATCH_MATMUL."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, BatchMatMulOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    int_list,
    is_float,
    replace_operator,
    reshape_operator,
    reshape_target,
    scalar_value,
    signature,
    single_reader,
    unique_name,
)

from .common import NONE, activation, producer_in, same_signature, split_const


def _clamp_input(sg: Subgraph, op: Operator, inner_type: str, bound: float) -> Operator | None:
    """For `op` reading the result of an `inner_type` operator (MINIMUM or MAXIMUM) of a
    float tensor and the scalar constant `bound`, which nothing else reads: that operator."""
    for t in op.inputs[:2]:
        inner = producer_in(sg, t, inner_type)
        if inner is None or single_reader(sg, t) is not op:
            continue
        parts = split_const(inner)
        if parts is None:
            continue
        x, c = parts
        if not (is_float(x) and is_float(c)) or scalar_value(c) != bound or not same_signature(x, t):
            continue
        return inner
    return None


def _relu6(sg: Subgraph, outer: Operator, inner: Operator) -> bool:
    x, _ = split_const(inner)
    out = outer.outputs[0]
    if not (is_float(out) and same_signature(x, out)):
        return False
    sg.remove_operator(inner)
    replace_operator(sg, outer, Operator("RELU6", [x], [out]))
    return True


class TransformMinMaxToRelu6Pass(OperatorPass):
    """MAXIMUM(MINIMUM(x, 6), 0), and the same clamp written MINIMUM(MAXIMUM(x, 0), 6),
    becomes RELU6(x)."""

    name = "transform_min_max_to_relu6"
    description = "replace MAXIMUM(MINIMUM(x, 6), 0) (either order) by RELU6"
    levels = frozenset({"O1"})
    operators = frozenset({"MAXIMUM", "MINIMUM"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        parts = split_const(op)
        if parts is None or not is_float(parts[1]):
            return False
        bound = scalar_value(parts[1])
        if op.type == "MAXIMUM" and bound == 0.0:
            inner = _clamp_input(sg, op, "MINIMUM", 6.0)
        elif op.type == "MINIMUM" and bound == 6.0:
            inner = _clamp_input(sg, op, "MAXIMUM", 0.0)
        else:
            return False
        return inner is not None and _relu6(sg, op, inner)


class TransformMinReluToRelu6Pass(OperatorPass):
    """RELU(MINIMUM(x, 6)) becomes RELU6(x)."""

    name = "transform_min_relu_to_relu6"
    description = "replace RELU(MINIMUM(x, 6)) by RELU6"
    levels = frozenset({"O1"})
    operators = frozenset({"RELU"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        inner = _clamp_input(sg, op, "MINIMUM", 6.0)
        return inner is not None and _relu6(sg, op, inner)


class ReplaceSubWithAddPass(OperatorPass):
    """SUB(x, c) with a float constant c becomes ADD(x, -c): the same IEEE result."""

    name = "replace_sub_with_add"
    description = "replace SUB of a constant by ADD of its negation"
    levels = frozenset()
    operators = frozenset({"SUB"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, c = op.input(0), op.input(1)
        value = constant(c)
        if x is None or value is None or constant(x) is not None or len(op.inputs) != 2:
            return False
        if not (is_float(x) and is_float(c) and is_float(op.outputs[0])):
            return False
        act = activation(op)
        negated = add_constant(sg, f"{c.name}/neg", np.negative(value))
        options = AddOptions(fused_activation_function=act if act is not None else NONE)
        replace_operator(sg, op, Operator("ADD", [x, negated], list(op.outputs), options))
        return True


#: Fused activations that exist as operators.
_ACTIVATION_OPS = {Act.RELU: "RELU", Act.RELU6: "RELU6", Act.RELU_N1_TO_1: "RELU_N1_TO_1", Act.TANH: "TANH"}


def _swapped_last_two(sg: Subgraph, t: Tensor) -> Tensor | None:
    """The input of the TRANSPOSE producing `t` when it swaps the last two axes only."""
    tr = producer_in(sg, t, "TRANSPOSE")
    perm = None if tr is None else int_list(tr.input(1))
    if perm is None or len(perm) < 2:
        return None
    rank = len(perm)
    return tr.input(0) if perm == [*range(rank - 2), rank - 1, rank - 2] else None


class ReplaceNonConstFCWithBatchMatMulPass(OperatorPass):
    """FULLY_CONNECTED whose weights are computed at run time becomes BATCH_MATMUL(x, w) with
    adj_y (or without it, reading the input of a TRANSPOSE of the weights; a TRANSPOSE of the
    input becomes adj_x), then a RESHAPE when FULLY_CONNECTED flattened the batch dimensions,
    then ADD of a non-zero constant bias or the fused activation's operator."""

    name = "replace_non_const_fc_with_batch_matmul"
    description = "replace FULLY_CONNECTED with non-constant weights by BATCH_MATMUL"
    levels = frozenset({"O1"})
    operators = frozenset({"FULLY_CONNECTED"})

    def rewrite(self, sg: Subgraph, fc: Operator) -> bool:
        x, w, out = fc.input(0), fc.input(1), fc.outputs[0]
        if x is None or w is None or w.is_constant or len(x.shape) < 2 or len(w.shape) != 2:
            return False
        bias = fc.input(2) if len(fc.inputs) > 2 else None
        if not (is_float(x) and is_float(w) and is_float(out)) or (bias is not None and constant(bias) is None):
            return False
        act = activation(fc) or NONE
        if act not in (NONE, *_ACTIVATION_OPS) or reshape_target(out) is None:
            return False
        lhs, rhs = _swapped_last_two(sg, x), _swapped_last_two(sg, w)
        options = BatchMatMulOptions(adjoint_lhs=lhs is not None, adjoint_rhs=rhs is None)
        product = (x.shape[:-1] + out.shape[-1:], signature(x)[:-1] + signature(out)[-1:])
        chain = [("BATCH_MATMUL", [lhs or x, rhs or w], options, product)]
        if product[0] != out.shape:
            chain.append(("RESHAPE", [], None, (out.shape, signature(out))))
        if bias is not None and np.any(constant(bias) != 0):
            chain.append(("ADD", [bias], AddOptions(fused_activation_function=act), None))
        elif act != NONE:
            chain.append((_ACTIVATION_OPS[act], [], None, None))
        _emit_chain(sg, fc, chain)
        return True


def _emit_chain(sg: Subgraph, old: Operator, chain: list[tuple]) -> None:
    """Replace `old` by operators (type, extra inputs, options, (shape, signature) of the
    result or None for the previous one's) each reading the previous one's result; the last
    writes `old`'s output."""
    out = old.outputs[0]
    index = sg.operators.index(old)
    sg.remove_operator(old)
    prev: Tensor | None = None
    for i, (kind, extra, options, shapes) in enumerate(chain):
        if i == len(chain) - 1:
            result = out
        else:
            shape, sig = shapes if shapes is not None else (prev.shape, signature(prev))
            result = sg.add_tensor(Tensor(unique_name(sg, f"{out.name}/{kind.lower()}"), out.dtype,
                                          tuple(shape), shape_signature=tuple(sig)))
        if kind == "RESHAPE":
            new = reshape_operator(sg, prev, result, reshape_target(out), result.name)
        else:
            new = Operator(kind, ([prev] if prev is not None else []) + list(extra), [result], options)
        sg.add_operator(new, index + i)
        prev = result


def transform_passes() -> list[OperatorPass]:
    return [TransformMinMaxToRelu6Pass(), TransformMinReluToRelu6Pass(), ReplaceSubWithAddPass(),
            ReplaceNonConstFCWithBatchMatMulPass()]
