"""UNIDIRECTIONAL_SEQUENCE_LSTM variants the converter rarely writes (peepholes, coupled
input and forget gates, projection, layer normalization, clipping), built with the IR, saved
as .tflite and compared with LiteRT's reference kernels."""

from __future__ import annotations

import numpy as np
import pytest

import one_core
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType, UnidirectionalSequenceLSTMOptions
from opharness import check

BATCH, TIME, N_IN, N_CELL = 2, 5, 3, 4


def _lstm(tmp_path, *, cifg=False, peephole=False, projection=0, layer_norm=False, clip=0.0, time_major=False):
    rng = np.random.default_rng(7)
    n_out = projection or N_CELL
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))

    def const(name, *shape):
        return sg.add_tensor(Tensor(name, DType.FLOAT32, shape, data=(rng.standard_normal(shape) * 0.5).astype(np.float32)))

    x_shape = (TIME, BATCH, N_IN) if time_major else (BATCH, TIME, N_IN)
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, x_shape))
    gates = "ifco"
    inputs = [x]
    inputs += [None if (g == "i" and cifg) else const(f"w_{g}", N_CELL, N_IN) for g in gates]
    inputs += [None if (g == "i" and cifg) else const(f"r_{g}", N_CELL, n_out) for g in gates]
    inputs += [const(f"p_{g}", N_CELL) if peephole and not (g == "i" and cifg) else None for g in "ifo"]
    inputs += [None if (g == "i" and cifg) else const(f"b_{g}", N_CELL) for g in gates]
    inputs += [const("proj", n_out, N_CELL) if projection else None, None]
    inputs += [sg.add_tensor(Tensor("h", DType.FLOAT32, (BATCH, n_out), is_variable=True)),
               sg.add_tensor(Tensor("c", DType.FLOAT32, (BATCH, N_CELL), is_variable=True))]
    if layer_norm:
        inputs += [None if (g == "i" and cifg) else const(f"ln_{g}", N_CELL) for g in gates]
    y_shape = (TIME, BATCH, n_out) if time_major else (BATCH, TIME, n_out)
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, y_shape))
    options = UnidirectionalSequenceLSTMOptions(
        fused_activation_function=ActivationFunctionType.TANH, cell_clip=clip, proj_clip=clip, time_major=time_major
    )
    sg.add_operator(Operator("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [y], options))
    sg.inputs, sg.outputs = [x], [y]
    path = tmp_path / "lstm.tflite"
    one_core.save(m, path)
    return path


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"time_major": True},
        {"cifg": True},
        {"peephole": True},
        {"peephole": True, "cifg": True},
        {"projection": 3},
        {"layer_norm": True},
        {"layer_norm": True, "peephole": True, "projection": 2},
        {"clip": 0.3, "projection": 3},
    ],
    ids=lambda v: "-".join(f"{k}={val}" for k, val in v.items()) or "plain",
)
def test_lstm_variant_matches_litert(tmp_path, variant) -> None:
    check(_lstm(tmp_path, **variant), seed=3)
