"""Recurrent layers: UNIDIRECTIONAL_SEQUENCE_LSTM and circle's GRU (float32).

Inputs follow TFLite's layout: 0 input; 1-4 input-to-gate weights (input, forget, cell,
output; the input gate's may be absent: coupled input and forget gates); 5-8 recurrent-to-gate
weights; 9-11 peephole weights (optional); 12-15 gate biases; 16-17 projection weights and
bias (optional); 18-19 output and cell state (variables, updated in place so the next run
continues from them); 20-23 layer-normalization weights (optional)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.errors import UnsupportedOperatorError

from .base import OpContext, apply_activation, kernel

_LAYER_NORM_EPSILON = np.float32(1e-8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(1) / (np.float32(1) + np.exp(-x))


@kernel("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(ctx: OpContext):
    if ctx.inputs[0].dtype.numpy != np.float32 or ctx.inputs[2].dtype.numpy != np.float32:
        raise UnsupportedOperatorError(
            "UNIDIRECTIONAL_SEQUENCE_LSTM: only float32 inputs and weights are supported",
            ["UNIDIRECTIONAL_SEQUENCE_LSTM"],
        )
    options = ctx.options
    activation = int(options.fused_activation_function)
    cell_clip, proj_clip = np.float32(options.cell_clip), np.float32(options.proj_clip)
    time_major = options.time_major

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0] if time_major else np.swapaxes(inputs[0], 0, 1)  # [time, batch, in]
        gates_w = [inputs[i] for i in (1, 2, 3, 4)]
        gates_r = [inputs[i] for i in (5, 6, 7, 8)]
        # Peepholes of the input, forget and output gates (the cell gate has none).
        peephole = [inputs[9], inputs[10], None, inputs[11]] if len(inputs) > 11 else [None] * 4
        bias = [inputs[i] for i in (12, 13, 14, 15)]
        projection = inputs[16] if len(inputs) > 16 else None
        projection_bias = inputs[17] if len(inputs) > 17 else None
        h_state, c_state = inputs[18], inputs[19]
        norms = [inputs[i] if len(inputs) > i else None for i in (20, 21, 22, 23)]
        cifg = gates_w[0] is None

        # Input contributions for all time steps at once: [time, batch, units] per gate.
        xs = [None if w is None else np.matmul(x, w.T) for w in gates_w]
        h, c = h_state.copy(), c_state.copy()
        outputs = []

        def gate(g: int, t: int, h: np.ndarray, cell: np.ndarray) -> np.ndarray:
            """Pre-activation of gate g at step t: projections, peephole, layer norm, bias."""
            z = xs[g][t] + h @ gates_r[g].T
            if peephole[g] is not None:
                z = z + peephole[g] * cell
            if norms[g] is not None:
                mean = z.mean(axis=-1, keepdims=True)
                var = np.square(z - mean).mean(axis=-1, keepdims=True)
                z = (z - mean) / np.sqrt(var + _LAYER_NORM_EPSILON) * norms[g]
            return z if bias[g] is None else z + bias[g]

        for t in range(x.shape[0]):
            f = _sigmoid(gate(1, t, h, c))
            i = np.float32(1) - f if cifg else _sigmoid(gate(0, t, h, c))
            g_ = apply_activation(gate(2, t, h, c), activation)
            c = f * c + i * g_
            if cell_clip > 0:
                c = np.clip(c, -cell_clip, cell_clip)
            o = _sigmoid(gate(3, t, h, c))  # the output gate's peephole sees the new cell state
            h = o * apply_activation(c.copy(), activation)
            if projection is not None:
                h = h @ projection.T
                if projection_bias is not None:
                    h = h + projection_bias
                if proj_clip > 0:
                    h = np.clip(h, -proj_clip, proj_clip)
            outputs.append(h)
        np.copyto(h_state, h)
        np.copyto(c_state, c)
        out = np.stack(outputs, axis=0).astype(np.float32, copy=False)
        return [out if time_major else np.swapaxes(out, 0, 1)]

    return run


def _luci_logistic(x: np.ndarray) -> np.ndarray:
    """Logistic as ONE's GRU computes it: 1 above 16.619, exp(x) below -9."""
    return np.where(x > np.float32(16.619047), np.float32(1),
                    np.where(x < np.float32(-9), np.exp(x), np.float32(1) / (np.float32(1) + np.exp(-x))))


@kernel("GRU")
def gru(ctx: OpContext):
    """Circle's GRU (float32). Inputs: 0 x, 1 weights on x [3U, in], 2 their bias, 3 weights on
    the state [3U, U], 4 their bias, 5 initial state [B, U]. Gates are ordered update (z),
    reset (r), candidate (n); the reset gate scales the state's candidate part after its
    projection: n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)); h = z * h + (1 - z) * n.
    The output is the last state, or every step's state with return_sequences."""
    if ctx.inputs[0].dtype.numpy != np.float32:
        raise UnsupportedOperatorError(f"GRU: only float32 is supported, got {ctx.inputs[0].dtype.name}", ["GRU"])
    time_major = ctx.options.time_major
    sequences = ctx.options.return_sequences

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x, w_x, b_x, w_h, b_h, state = inputs[:6]
        steps = x if time_major else np.swapaxes(x, 0, 1)  # [time, batch, in]
        projected = np.matmul(steps, w_x.T)
        if b_x is not None:
            projected = projected + b_x
        h = np.array(state, np.float32, copy=True)
        units = h.shape[-1]
        history = []
        for t in range(steps.shape[0]):
            a = h @ w_h.T
            if b_h is not None:
                a = a + b_h
            b = projected[t]
            z = _luci_logistic(a[:, :units] + b[:, :units])
            r = _luci_logistic(a[:, units:2 * units] + b[:, units:2 * units])
            n = np.tanh(np.clip(r * a[:, 2 * units:] + b[:, 2 * units:], -19, 19))
            h = (z * h + (np.float32(1) - z) * n).astype(np.float32, copy=False)
            history.append(h)
        if not sequences:
            return [h]
        out = np.stack(history, axis=0)
        return [out if time_major else np.swapaxes(out, 0, 1)]

    return run
