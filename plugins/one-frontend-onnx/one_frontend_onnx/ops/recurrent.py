"""Recurrent layers: ONNX LSTM, GRU and RNN, unrolled over their sequence length (known at import)
into FULLY_CONNECTED, elementwise and activation operators.

circle's UNIDIRECTIONAL_SEQUENCE_LSTM keeps its state in variable tensors that carry over from one
run to the next and has no cell-state output, so it cannot express an ONNX layer (fresh or given
initial state on every run, Y_c, gate clipping, any activations). Unrolled, each direction projects
the inputs of all steps with one FULLY_CONNECTED, then every step adds the projection of the
previous hidden state and applies the gates. Past a batch entry's sequence_lens, a step keeps the
state and writes zeros to Y, as ONNX specifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    FullyConnectedOptions,
    LeakyReluOptions,
    PackOptions,
    SplitOptions,
    SplitVOptions,
    UnpackOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import Emitter, Value, int32_const, reshape, value_shape

F32 = DType.FLOAT32
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
DIRECTIONS = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}  # reversed?
# activation: (reads an alpha, reads a beta, default alpha, default beta); activation_alpha and
# activation_beta are consumed in order by the activations that read them
ACTIVATION_ARGS = {
    "sigmoid": (0, 0, 0.0, 0.0), "tanh": (0, 0, 0.0, 0.0), "relu": (0, 0, 0.0, 0.0),
    "softsign": (0, 0, 0.0, 0.0), "softplus": (0, 0, 0.0, 0.0), "affine": (1, 1, 1.0, 0.0),
    "leakyrelu": (1, 0, 0.01, 0.0), "thresholdedrelu": (1, 0, 1.0, 0.0), "scaledtanh": (1, 1, 1.0, 1.0),
    "hardsigmoid": (1, 1, 0.2, 0.5), "elu": (1, 0, 1.0, 0.0),
}
Activation = tuple[str, float, float]


def _elu(e: Emitter, x: Tensor, alpha: float, _beta: float) -> Value:
    if alpha == 1.0:
        return e.unary("ELU", x)
    negative = e.sub(e.unary("EXP", e.binary("MINIMUM", x, 0.0)), 1.0)  # type: ignore[arg-type]
    return e.add(e.unary("RELU", x), e.mul(negative, alpha))


def _softplus(e: Emitter, x: Tensor, _alpha: float, _beta: float) -> Value:
    """log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)), which does not overflow."""
    tail = e.unary("LOG", e.add(e.unary("EXP", e.unary("NEG", e.unary("ABS", x))), 1.0))  # type: ignore[arg-type]
    return e.add(e.unary("RELU", x), tail)


EMIT_ACTIVATION: dict[str, Callable[[Emitter, Tensor, float, float], Value]] = {
    "sigmoid": lambda e, x, a, b: e.unary("LOGISTIC", x),
    "tanh": lambda e, x, a, b: e.unary("TANH", x),
    "relu": lambda e, x, a, b: e.unary("RELU", x),
    "leakyrelu": lambda e, x, a, b: e.unary("LEAKY_RELU", x, LeakyReluOptions(alpha=a)),
    "affine": lambda e, x, a, b: e.add(e.mul(x, a), b),
    "scaledtanh": lambda e, x, a, b: e.mul(e.unary("TANH", e.mul(x, b)), a),  # type: ignore[arg-type]
    "hardsigmoid": lambda e, x, a, b: e.unary("RELU_0_TO_1", e.add(e.mul(x, a), b)),  # type: ignore[arg-type]
    "softsign": lambda e, x, a, b: e.div(x, e.add(e.unary("ABS", x), 1.0)),
    "softplus": _softplus,
    "thresholdedrelu": lambda e, x, a, b: e.select(e.binary("GREATER", x, a), x, 0.0),
    "elu": _elu,
}


@dataclass
class Layer:
    """What an ONNX recurrent node asks for."""

    node: Node
    hidden: int
    steps: int
    batch: int | None
    layout: int  # 0: [seq, batch, ...], 1: [batch, seq, ...]
    reverse: list[bool]  # per direction
    activations: list[list[Activation]]  # per direction
    clip: float | None


@converts("LSTM", "GRU", "RNN")
def recurrent(cx: Context, node: Node) -> None:
    layer = _layer(cx, node)
    e = Emitter(cx, f"{node.name}_{node.op_type.lower()}")
    count = len(layer.reverse)
    # W, R, B, initial_h, initial_c, P, per direction
    inputs = {i: _per_direction(cx, node.input(i), count, layer.layout if i in (5, 6) else 0)
              for i in (1, 2, 3, 5, 6, 7)}
    masks = _masks(e, node.input(4), layer)
    zeros = np.zeros([layer.batch or 1, layer.hidden], np.float32)  # broadcasts when the batch is unknown
    x = cx.tensor(node.input(0))
    ys: list[list[Tensor]] = []
    finals: list[list[Value]] = []
    for d, backwards in enumerate(layer.reverse):
        cell = CELLS[node.op_type](e, layer, d, *[inputs[i][d] if inputs[i] else None for i in (1, 2, 3, 7)])
        projected = _steps(e, layer, cell.fc(x, cell.w, cell.bias))
        state = [inputs[i][d] if inputs[i] else zeros for i in (5, 6)[:cell.states]]
        y: list[Tensor] = [None] * layer.steps  # type: ignore[list-item]
        for t in reversed(range(layer.steps)) if backwards else range(layer.steps):
            new = cell.step(projected[t], state)
            y[t] = new[0] if masks is None else e.select(masks[t], new[0], 0.0)
            state = new if masks is None else [e.select(masks[t], n, s) for n, s in zip(new, state)]
        ys.append(y)
        finals.append(state)
    _outputs(e, layer, ys, finals)


def _layer(cx: Context, node: Node) -> Layer:
    x = node.input(0)
    if cx.dtype(x) != F32:
        raise Unsupported(f"{cx.dtype(x).name} {node.op_type} (float32 only)")
    layout = int(node.attr("layout", 0))
    shape = cx.shape(x)
    if shape is None or len(shape) != 3:
        raise Unsupported("the input X must have a known rank of 3")
    steps, batch = (shape[0], shape[1]) if layout == 0 else (shape[1], shape[0])
    if not steps:
        raise Unsupported("the sequence length must be known at import (the layer is unrolled)")
    w_shape, r_shape = cx.static_shape(node.input(1)), cx.static_shape(node.input(2))
    if w_shape is None or r_shape is None:
        raise Unsupported("the shapes of W and R must be known at import")
    hidden = int(node.attr("hidden_size", r_shape[-1]))
    reverse = DIRECTIONS.get(node.attr("direction", "forward"))
    if reverse is None:
        raise Unsupported(f"direction '{node.attr('direction')}'")
    gates = GATES[node.op_type] * hidden
    if w_shape[:2] != (len(reverse), gates) or r_shape != (len(reverse), gates, hidden):
        raise Unsupported(f"W {list(w_shape)} and R {list(r_shape)} do not match hidden_size {hidden}")
    clip = node.attr("clip")
    return Layer(node, hidden, int(steps), batch, layout, reverse, _activations(node, len(reverse)),
                 None if clip is None else float(clip))


def _activations(node: Node, directions: int) -> list[list[Activation]]:
    per = len(DEFAULT_ACTIVATIONS[node.op_type])
    names = [n.decode() if isinstance(n, bytes) else n for n in node.attr("activations", [])]
    names = names or DEFAULT_ACTIVATIONS[node.op_type]
    if len(names) == per:
        names = names * directions
    if len(names) != per * directions:
        raise Unsupported(f"{len(names)} activations for {directions} direction(s) of {per}")
    alphas, betas = iter(node.attr("activation_alpha", [])), iter(node.attr("activation_beta", []))
    found = []
    for name in names:
        args = ACTIVATION_ARGS.get(name.lower())
        if args is None:
            raise Unsupported(f"activation '{name}'")
        found.append((name.lower(), float(next(alphas, args[2]) if args[0] else args[2]),
                      float(next(betas, args[3]) if args[1] else args[3])))
    return [found[d * per:(d + 1) * per] for d in range(directions)]


def _per_direction(cx: Context, name: str, count: int, axis: int) -> list[Value] | None:
    """Input `name` cut along its direction axis (None when omitted)."""
    if not name:
        return None
    value = cx.const(name)
    if value is not None:
        return [np.take(np.asarray(value, np.float32), d, axis) for d in range(count)]
    if cx.dtype(name) != F32:
        raise Unsupported(f"input '{name}' is {cx.dtype(name).name}, not float32")
    shape = cx.shape(name)
    if shape is None:
        raise Unsupported(f"the rank of '{name}' is unknown at import")
    t = cx.tensor(name)
    outs = [cx.temp(f"{t.name}_{d}", F32, shape[:axis] + shape[axis + 1:]) for d in range(count)]
    cx.emit("UNPACK", [t], outs, UnpackOptions(num=count, axis=axis))
    return outs  # type: ignore[return-value]


def _masks(e: Emitter, name: str, layer: Layer) -> list[Value] | None:
    """Per step, which batch entries are still within their sequence_lens ([batch, 1] bool)."""
    if not name:
        return None
    lengths = e.cx.const(name)
    if lengths is not None:
        lengths = np.asarray(lengths).reshape(-1, 1)
        return None if (lengths >= layer.steps).all() else [t < lengths for t in range(layer.steps)]
    column = reshape(e.cx, e.cx.tensor(name), [-1, 1])
    return [e.binary("LESS", t, column) for t in range(layer.steps)]


def _steps(e: Emitter, layer: Layer, x: Tensor) -> list[Tensor]:
    """x cut along its sequence axis."""
    shape = value_shape(x)
    del shape[layer.layout]
    outs = [e.cx.temp(f"{x.name}_{t}", x.dtype, shape) for t in range(layer.steps)]
    e.cx.emit("UNPACK", [x], outs, UnpackOptions(num=layer.steps, axis=layer.layout))
    return outs


def _rows(e: Emitter, v: Value, sizes: Sequence[int]) -> list[Value]:
    """v cut along its first axis into pieces of `sizes` rows."""
    if isinstance(v, np.ndarray):
        return np.split(v, np.cumsum(sizes)[:-1], axis=0)
    outs = [e.cx.temp(f"{v.name}_rows", v.dtype, [n, *value_shape(v)[1:]]) for n in sizes]
    e.cx.emit("SPLIT_V", [v, int32_const(e.cx, sizes, "sizes"), int32_const(e.cx, 0, "axis")], outs,
              SplitVOptions(num_splits=len(sizes)))
    return outs  # type: ignore[return-value]


def _outputs(e: Emitter, layer: Layer, ys: list[list[Tensor]], finals: list[list[Value]]) -> None:
    """Y [seq, directions, batch, hidden] (layout 1: [batch, seq, directions, hidden]), Y_h and Y_c
    [directions, batch, hidden] (layout 1: [batch, directions, hidden])."""
    cx, count, batch, hidden = e.cx, len(ys), layer.batch, layer.hidden
    names = [*layer.node.outputs, "", "", ""]
    state_shape = [count, batch, hidden] if layer.layout == 0 else [batch, count, hidden]
    if names[0]:
        flat = [ys[d][t] for t in range(layer.steps) for d in range(count)]
        packed = e.op("PACK", flat, F32, [*state_shape[:layer.layout], len(flat), *state_shape[layer.layout + 1:]],
                      PackOptions(values_count=len(flat), axis=layer.layout))
        dims = [layer.steps, count, batch, hidden] if layer.layout == 0 else [batch, layer.steps, count, hidden]
        reshape(cx, packed, [-1 if d is None else d for d in dims], cx.output(names[0], F32, dims))
    for name, index in ((names[1], 0), (names[2], 1)):
        if name:
            cx.emit("PACK", [e.tensor(f[index]) for f in finals], [cx.output(name, F32, state_shape)],
                    PackOptions(values_count=count, axis=layer.layout))


class Cell:
    """One direction of a layer: its weights, and the operators of one step."""

    states = 1

    def __init__(self, e: Emitter, layer: Layer, d: int, w: Value, r: Value, b: Value | None) -> None:
        self.e, self.layer, self.r = e, layer, r
        self.activations = layer.activations[d]
        self.w: Value = w
        self.bias: Value | None = None if b is None else e.add(*_rows(e, b, [value_shape(b)[0] // 2] * 2))

    def fc(self, x: Value, w: Value, bias: Value | None = None) -> Tensor:
        """x times w transposed (w: [units, depth]), plus bias."""
        return self.e.op("FULLY_CONNECTED", [x, w, bias], F32, value_shape(x)[:-1] + value_shape(w)[:1],
                         FullyConnectedOptions(keep_num_dims=True))

    def split(self, x: Tensor, n: int) -> list[Tensor]:
        shape = value_shape(x)
        shape[-1] = self.layer.hidden
        outs = [self.e.cx.temp(f"{x.name}_{i}", F32, shape) for i in range(n)]
        self.e.cx.emit("SPLIT", [int32_const(self.e.cx, len(shape) - 1, "axis"), x], outs, SplitOptions(num_splits=n))
        return outs

    def gate(self, index: int, x: Value) -> Value:
        """Activation `index` of x, clipped first when the layer clips."""
        if self.layer.clip is not None:
            x = self.e.clamp(x, -self.layer.clip, self.layer.clip)
        return self.activate(index, x)

    def activate(self, index: int, x: Value) -> Value:
        name, alpha, beta = self.activations[index]
        return EMIT_ACTIVATION[name](self.e, x, alpha, beta)  # type: ignore[arg-type]

    def step(self, x: Tensor, state: list[Value]) -> list[Value]:
        """The new state after input x (already projected); its first element is the output."""
        raise NotImplementedError


class Rnn(Cell):
    """H = f(X W^T + H R^T + Wb + Rb)."""

    def __init__(self, e: Emitter, layer: Layer, d: int, w: Value, r: Value, b: Value | None,
                 p: Value | None) -> None:
        super().__init__(e, layer, d, w, r, b)

    def step(self, x: Tensor, state: list[Value]) -> list[Value]:
        return [self.gate(0, self.e.add(x, self.fc(state[0], self.r)))]


class Lstm(Cell):
    """Gates i, o, f, c (activations f, g, h), peepholes P = (Pi, Po, Pf); with input_forget the
    forget gate is 1 - i."""

    states = 2

    def __init__(self, e: Emitter, layer: Layer, d: int, w: Value, r: Value, b: Value | None,
                 p: Value | None) -> None:
        super().__init__(e, layer, d, w, r, b)
        self.peepholes = None if p is None else _rows(e, p, [layer.hidden] * 3)
        self.coupled = bool(layer.node.attr("input_forget", 0))

    def step(self, x: Tensor, state: list[Value]) -> list[Value]:
        e, (h, c) = self.e, state
        i, o, f, g = self.split(e.add(x, self.fc(h, self.r)), 4)  # type: ignore[arg-type]
        if self.peepholes is not None:
            i, f = e.add(i, e.mul(self.peepholes[0], c)), e.add(f, e.mul(self.peepholes[2], c))
        i = self.gate(0, i)
        f = e.sub(1.0, i) if self.coupled else self.gate(0, f)
        c = e.add(e.mul(f, c), e.mul(i, self.gate(1, g)))
        if self.peepholes is not None:
            o = e.add(o, e.mul(self.peepholes[1], c))
        return [e.mul(self.gate(0, o), self.activate(2, c)), c]


class Gru(Cell):
    """Gates z, r, h (activations f, g); H = (1 - z) * h + z * H_prev. With linear_before_reset the
    reset gate scales the projected state (plus Rbh), else the state before its projection."""

    def __init__(self, e: Emitter, layer: Layer, d: int, w: Value, r: Value, b: Value | None,
                 p: Value | None) -> None:
        super().__init__(e, layer, d, w, r, None)
        hidden = layer.hidden
        self.before_reset = bool(layer.node.attr("linear_before_reset", 0))
        w_bias, r_bias = _rows(e, b, [3 * hidden] * 2) if b is not None else (None, None)
        z_and_r = np.repeat(np.array([1, 1, 0], np.float32), hidden)
        self.bias = w_bias if r_bias is None else e.add(w_bias, e.mul(r_bias, z_and_r))  # type: ignore[arg-type]
        if self.before_reset:
            self.r_bias = None if r_bias is None else e.mul(r_bias, 1 - z_and_r)
        else:
            self.r, self.r_h = _rows(e, r, [2 * hidden, hidden])
            self.r_bias = None if r_bias is None else _rows(e, r_bias, [2 * hidden, hidden])[1]

    def step(self, x: Tensor, state: list[Value]) -> list[Value]:
        e, h = self.e, state[0]
        xz, xr, xh = self.split(x, 3)
        if self.before_reset:
            hz, hr, hh = self.split(self.fc(h, self.r, self.r_bias), 3)
        else:
            hz, hr = self.split(self.fc(h, self.r), 2)
        z = self.gate(0, e.add(xz, hz))
        reset = self.gate(0, e.add(xr, hr))
        hh = e.mul(reset, hh) if self.before_reset else self.fc(e.mul(reset, h), self.r_h, self.r_bias)
        n = self.gate(1, e.add(xh, hh))
        return [e.add(n, e.mul(z, e.sub(h, n)))]


CELLS: dict[str, type[Cell]] = {"LSTM": Lstm, "GRU": Gru, "RNN": Rnn}
