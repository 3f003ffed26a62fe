"""UNIDIRECTIONAL_SEQUENCE_LSTM unrolled into builtins for back ends without the recurrent
kernel (not in O1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.ir import DType, Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, FullyConnectedOptions, MulOptions, PackOptions, SplitOptions, UnpackOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import add_constant, constant, is_float, is_input, is_output, static_shape

#: TFLite's inputs of UNIDIRECTIONAL_SEQUENCE_LSTM: input-to-gate weights (input, forget, cell,
#: output gates), recurrent weights, peepholes, gate biases, projection, state, layer norms.
WEIGHTS, RECURRENT, PEEPHOLES, BIASES = range(1, 5), range(5, 9), range(9, 12), range(12, 16)
PROJECTION, STATES, LAYER_NORMS = range(16, 18), (18, 19), range(20, 24)


@dataclass
class _Lstm:
    """What the unrolled network needs: gates stacked in TFLite's order (input, forget, cell,
    output), as FULLY_CONNECTED weights."""

    x: Tensor
    y: Tensor
    time_axis: int
    batch: int
    units: int
    weights: np.ndarray  # [4 * units, features]
    recurrent: np.ndarray  # [4 * units, units]
    bias: np.ndarray  # [4 * units]
    cell_clip: float  # 0: none


def _zero_state(sg: Subgraph, t: Tensor | None, lstm: Operator, shape: tuple[int, ...]) -> bool:
    """A state input starting at zero (a variable without data or with zeros, as the converter
    writes it) that nothing but `lstm` reads: the unrolled network starts from zero."""
    return (t is not None and t.is_variable and tuple(t.shape) == shape and (t.data is None or not np.any(t.data))
            and all(c is lstm for c in t.consumers) and not is_input(sg, t) and not is_output(sg, t))


def _plain_lstm(sg: Subgraph, op: Operator) -> _Lstm | None:
    """`op` as an _Lstm when it is the variant handled: float32 with constant weights and
    biases, TANH activation, no peepholes, coupled gates, projection (so no projection
    clipping) or layer normalization, static shapes, zero initial state."""
    o, ins = op.options, op.inputs
    if (o is None or o.fused_activation_function != Act.TANH or o.cell_clip < 0 or o.diagonal_recurrent_tensors
            or len(op.outputs) != 1 or len(ins) < 20):
        return None
    if any(op.input(i) is not None for i in (*PEEPHOLES, *PROJECTION, *LAYER_NORMS)):
        return None
    x, y = ins[0], op.outputs[0]
    x_shape, y_shape = static_shape(x), static_shape(y)
    if not (is_float(x) and is_float(y)) or x_shape is None or y_shape is None or len(x_shape) != 3:
        return None
    time_axis = 0 if o.time_major else 1
    batch, units, features = x_shape[1 - time_axis], y_shape[-1], x_shape[2]
    if y_shape != (*x_shape[:2], units) or not all(_zero_state(sg, ins[i], op, (batch, units)) for i in STATES):
        return None
    parts = {}
    for name, indices, shape in (("weights", WEIGHTS, (units, features)), ("recurrent", RECURRENT, (units, units)),
                                 ("bias", BIASES, (units,))):
        values = [constant(ins[i]) if is_float(ins[i]) else None for i in indices]
        if any(v is None or v.shape != shape for v in values):
            return None
        parts[name] = np.concatenate(values).astype(np.float32)
    return _Lstm(x, y, time_axis, batch, units, **parts, cell_clip=float(o.cell_clip))


class _Writer:
    """Adds operators in order from position `index` of `sg`; their results are new float32
    tensors named after `base`."""

    def __init__(self, sg: Subgraph, index: int, base: str) -> None:
        self.sg, self.index, self.base = sg, index, base
        self.taken = {t.name for t in sg.tensors}

    def _tensor(self, kind: str, shape: tuple[int, ...]) -> Tensor:
        n, name = 0, f"{self.base}/{kind}"
        while name in self.taken:
            n += 1
            name = f"{self.base}/{kind}_{n}"
        self.taken.add(name)
        return self.sg.add_tensor(Tensor(name, DType.FLOAT32, shape))

    def ops(self, kind: str, inputs: Sequence[Tensor | None], shape: tuple[int, ...], options: Any,
            count: int) -> list[Tensor]:
        """Add `kind` reading `inputs`, with `count` results of `shape`; returns them."""
        outs = [self._tensor(kind.lower(), shape) for _ in range(count)]
        self.sg.add_operator(Operator(kind, inputs, outs, options), self.index)
        self.index += 1
        return outs

    def op(self, kind: str, inputs: Sequence[Tensor | None], shape: tuple[int, ...], options: Any = None) -> Tensor:
        return self.ops(kind, inputs, shape, options, 1)[0]


class UnrollUnidirectionalSequenceLSTMPass(OperatorPass):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (the variant `_plain_lstm` accepts; others are left alone)
    becomes, as ONE unrolls it: UNPACK of the input along the time axis, then per step
    z = FULLY_CONNECTED(x_t, W, b) + FULLY_CONNECTED(h, R) (no recurrent part at step 0),
    SPLIT into the four gates, c = LOGISTIC(f) * c + LOGISTIC(i) * TANH(g) (no forget part at
    step 0), h = LOGISTIC(o) * TANH(c), and PACK of every h along the time axis. A cell clip
    is a MAXIMUM and a MINIMUM at the steps where c can reach it: from zero, |c| grows by at
    most 1 a step (|f| <= 1, |i * g| <= 1, in float32 too), so a Keras LSTM's clip of 10 (the
    converter's) costs nothing up to 10 steps. Every run starts from the zero state, as ONE
    assumes, where the operator in LiteRT and the runtime carries its state from one
    invocation to the next (the first invocation is the same)."""

    name = "unroll_unidirseqlstm"
    description = "unroll UNIDIRECTIONAL_SEQUENCE_LSTM into FULLY_CONNECTED, SPLIT, LOGISTIC, TANH, MUL, ADD per step"
    levels = frozenset()
    operators = frozenset({"UNIDIRECTIONAL_SEQUENCE_LSTM"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        lstm = _plain_lstm(sg, op)
        if lstm is None:
            return False
        index = sg.operators.index(op)
        sg.remove_operator(op)
        base = lstm.y.name
        weights = add_constant(sg, f"{base}/weights", lstm.weights)
        recurrent = add_constant(sg, f"{base}/recurrent_weights", lstm.recurrent)
        bias = add_constant(sg, f"{base}/bias", lstm.bias)
        axis = add_constant(sg, f"{base}/gate_axis", np.array(1, np.int32))
        steps = lstm.x.shape[lstm.time_axis]
        clip = np.float32(lstm.cell_clip)
        if 0 < clip < steps:  # some step can reach it
            low = add_constant(sg, f"{base}/cell_clip_min", -clip)
            high = add_constant(sg, f"{base}/cell_clip_max", clip)
        w = _Writer(sg, index, base)
        gates, state = (lstm.batch, 4 * lstm.units), (lstm.batch, lstm.units)
        xs = w.ops("UNPACK", [lstm.x], (lstm.batch, lstm.x.shape[2]), UnpackOptions(num=steps, axis=lstm.time_axis),
                   steps)
        h = c = None
        hs = []
        for step, x_t in enumerate(xs):
            z = w.op("FULLY_CONNECTED", [x_t, weights, bias], gates, FullyConnectedOptions())
            if h is not None:
                z = w.op("ADD", [z, w.op("FULLY_CONNECTED", [h, recurrent, None], gates, FullyConnectedOptions())],
                         gates, AddOptions())
            i, f, g, o = w.ops("SPLIT", [axis, z], state, SplitOptions(num_splits=4), 4)
            new = w.op("MUL", [w.op("LOGISTIC", [i], state), w.op("TANH", [g], state)], state, MulOptions())
            if c is not None:
                kept = w.op("MUL", [w.op("LOGISTIC", [f], state), c], state, MulOptions())
                new = w.op("ADD", [kept, new], state, AddOptions())
            if 0 < clip < step + 1:
                new = w.op("MINIMUM", [w.op("MAXIMUM", [new, low], state), high], state)
            c = new
            h = w.op("MUL", [w.op("LOGISTIC", [o], state), w.op("TANH", [c], state)], state, MulOptions())
            hs.append(h)
        sg.add_operator(Operator("PACK", hs, [lstm.y], PackOptions(values_count=steps, axis=lstm.time_axis)), w.index)
        return True


def unroll_passes() -> list[OperatorPass]:
    return [UnrollUnidirectionalSequenceLSTMPass()]
