"""unroll_unidirseqlstm: a Keras LSTM converted by TensorFlow's converter, and LSTMs built with
the IR for the other layouts and for the variants that are left alone."""

from __future__ import annotations

import modelzoo
import numpy as np
import pytest
from passcheck import check_pass, check_unchanged, clone, counts, random_inputs

import one_core
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import UnidirectionalSequenceLSTMOptions
from one_core.passes import available_passes

PASS = "unroll_unidirseqlstm"


def test_not_in_o1() -> None:
    assert not available_passes()[PASS].levels


def _delta(steps: int, clipped: int = 0) -> dict[str, int]:
    """Operators of an unrolled LSTM: per step FULLY_CONNECTED, SPLIT, LOGISTIC (i, o), TANH
    (g, c), MUL (i * g, o * tanh(c)); after the first, a recurrent FULLY_CONNECTED and its ADD,
    LOGISTIC (f), MUL (f * c) and ADD (c); MAXIMUM and MINIMUM at `clipped` steps."""
    later = steps - 1
    delta = {"UNIDIRECTIONAL_SEQUENCE_LSTM": -1, "UNPACK": 1, "PACK": 1, "FULLY_CONNECTED": steps + later,
             "ADD": 2 * later, "SPLIT": steps, "LOGISTIC": 2 * steps + later, "TANH": 2 * steps,
             "MUL": 2 * steps + later, "MAXIMUM": clipped, "MINIMUM": clipped}
    return {k: v for k, v in delta.items() if v}


def test_unroll_keras_lstm() -> None:
    """keras.layers.LSTM(16, return_sequences=True) on [1, 6, 8], converted (the model zoo's
    lstm_model, whose state inputs are variables): the same outputs on the runtime and LiteRT.
    The converter's cell clip of 10 cannot be reached in 6 steps: no clamp is needed."""
    model = one_core.load(modelzoo.lstm_model())
    assert [op.options.cell_clip for op in model.main.operators if op.type == "UNIDIRECTIONAL_SEQUENCE_LSTM"] == [10]
    opt = check_pass(model, PASS, _delta(6))
    assert not any(t.is_variable for t in opt.main.tensors)  # the state tensors went with the LSTM


def _lstm(*, batch=2, steps=5, time_major=False, cifg=False, peephole=False, projection=False, layer_norm=False,
          clip=0.0, act=Act.TANH, state_data=None, state_reader=False) -> Model:
    """An UNIDIRECTIONAL_SEQUENCE_LSTM with 3 features and 4 units, as TFLite lays it out."""
    rng = np.random.default_rng(11)
    features, units = 3, 4
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))

    def const(name, *shape):
        data = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        return sg.add_tensor(Tensor(name, DType.FLOAT32, shape, data=data))

    def state(name):
        return sg.add_tensor(Tensor(name, DType.FLOAT32, (batch, units), is_variable=True, data=state_data))

    lead = (steps, batch) if time_major else (batch, steps)
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (*lead, features)))
    gates = "ifco"
    inputs = [x]
    inputs += [None if g == "i" and cifg else const(f"w_{g}", units, features) for g in gates]
    inputs += [None if g == "i" and cifg else const(f"r_{g}", units, units) for g in gates]
    inputs += [const(f"p_{g}", units) if peephole else None for g in "ifo"]
    inputs += [None if g == "i" and cifg else const(f"b_{g}", units) for g in gates]
    inputs += [const("proj", units, units) if projection else None, None, state("h"), state("c")]
    inputs += [const(f"ln_{g}", units) if layer_norm else None for g in gates]
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, (*lead, units)))
    options = UnidirectionalSequenceLSTMOptions(fused_activation_function=act, cell_clip=clip, time_major=time_major)
    sg.add_operator(Operator("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [y], options))
    sg.inputs, sg.outputs = [x], [y]
    if state_reader:
        h = inputs[18]
        z = sg.add_tensor(Tensor("z", DType.FLOAT32, h.shape))
        sg.add_operator(Operator("RELU", [h], [z]))
        sg.outputs.append(z)
    return m


@pytest.mark.parametrize(("layout", "clipped"), [
    ({}, 0), ({"time_major": True}, 0), ({"steps": 1}, 0), ({"batch": 1, "steps": 3}, 0),
    ({"state_data": np.zeros((2, 4), np.float32)}, 0),
    ({"clip": 0.5}, 5),  # every step
    ({"clip": 3.0}, 2),  # steps 3 and 4: |c| < 3 before
], ids=["batch_major", "time_major", "one_step", "batch_1", "zero_state_data", "clip_0.5", "clip_3"])
def test_unroll_layouts(layout, clipped) -> None:
    model = _lstm(**layout)
    opt = check_pass(model, PASS, _delta(layout.get("steps", 5), clipped))
    pack = opt.main.operators[-1]
    assert pack.type == "PACK" and pack.outputs[0].name == "y"
    assert pack.options.axis == (0 if layout.get("time_major") else 1)


@pytest.mark.parametrize("variant", [{"cifg": True}, {"peephole": True}, {"projection": True}, {"layer_norm": True},
                                     {"act": Act.RELU}, {"state_data": np.full((2, 4), 0.5, np.float32)},
                                     {"state_reader": True}],
                         ids=["cifg", "peephole", "projection", "layer_norm", "relu", "initial_state",
                              "state_read_elsewhere"])
def test_unroll_leaves_other_variants_alone(variant) -> None:
    check_unchanged(_lstm(**variant), PASS)


def test_unrolled_network_starts_from_zero_on_every_run() -> None:
    """The LSTM operator keeps its state from one invocation to the next (LiteRT does the same);
    the unrolled network, as ONE's, starts every run from zero: the first runs agree, the second
    ones do not."""
    model = _lstm()
    unrolled = clone(model)
    assert available_passes()[PASS].run(unrolled)
    xs = random_inputs(model)
    sessions = [one_core.Session(m, backend="runtime") for m in (model, unrolled)]
    first = [s.run(xs)["y"] for s in sessions]
    second = [s.run(xs)["y"] for s in sessions]
    np.testing.assert_allclose(first[1], first[0], atol=1e-5 * np.abs(first[0]).max())
    np.testing.assert_array_equal(second[1], first[1])
    assert np.abs(second[0] - first[0]).max() > 1e-3
    assert counts(unrolled)["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 0
