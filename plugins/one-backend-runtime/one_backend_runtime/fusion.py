"""Operator pairs the runtime runs as one step, fewer passes over memory than two kernels.

Only exact rewrites live here: the fused step computes the same function as the pair, in
float32, and the intermediate tensor must have no other reader."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.ir import DType, Operator, Subgraph


def swish_pairs(sg: Subgraph) -> dict[int, Operator]:
    """LOGISTIC(x) -> s and MUL(x, s) -> y (float32, s read by nothing else, no fused
    activation): the swish of EfficientNet and friends. Maps id(LOGISTIC) to its MUL."""
    outputs = {id(t) for t in sg.outputs}
    pairs: dict[int, Operator] = {}
    for op in sg.operators:
        if op.name != "LOGISTIC" or len(op.outputs) != 1 or op.inputs[0] is None:
            continue
        x, s = op.inputs[0], op.outputs[0]
        if x.dtype != DType.FLOAT32 or x.data is not None or id(s) in outputs or len(s.consumers) != 1:
            continue
        mul = s.consumers[0]
        if mul.name != "MUL" or len(mul.inputs) != 2 or set(map(id, mul.inputs)) != {id(x), id(s)}:
            continue
        if mul.options is not None and int(mul.options.fused_activation_function) != 0:
            continue
        pairs[id(op)] = mul
    return pairs


def swish(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """x * sigmoid(x) = x / (1 + exp(-x)), in four passes and one allocation."""
    x = inputs[0]
    with np.errstate(over="ignore"):
        r = np.negative(x)
        np.exp(r, out=r)
        r += np.float32(1)
        return [np.divide(x, r, out=r)]

