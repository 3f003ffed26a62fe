"""Transforms: MINIMUM/MAXIMUM clamps into RELU6, SUB of a constant into ADD."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator, Subgraph
from one_core.ir.options import AddOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    is_float,
    replace_operator,
    scalar_value,
    single_reader,
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


def transform_passes() -> list[OperatorPass]:
    return [TransformMinMaxToRelu6Pass(), TransformMinReluToRelu6Pass(), ReplaceSubWithAddPass()]
