"""Circle-only operators against ONE's runtime onert (RMS_NORM, ROPE) and TensorFlow
(INSTANCE_NORM, which onert's CPU backend does not run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import one_core
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType, InstanceNormOptions, RmsNormOptions, RoPEMode, RoPEOptions
from onert_runner import run_onert


def _model(tmp: Path, op: str, shape: tuple[int, ...], consts: list[np.ndarray], options) -> Path:
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, shape))
    cs = [sg.add_tensor(Tensor(f"c{i}", DType.FLOAT32, c.shape, data=c)) for i, c in enumerate(consts)]
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, shape))
    sg.add_operator(Operator(op, [x, *cs], [y], options))
    sg.inputs, sg.outputs = [x], [y]
    path = tmp / f"{op}.circle"
    one_core.save(m, path)
    return path


def _ours(path: Path, x: np.ndarray) -> np.ndarray:
    return one_core.Session(path, backend="runtime").run([x])["y"]


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (2, 5, 16)])
def test_rms_norm_matches_onert(tmp_path, shape) -> None:
    rng = np.random.default_rng(1)
    path = _model(tmp_path, "RMS_NORM", shape, [_f32(rng, shape[-1])], RmsNormOptions(epsilon=float(np.float32(1e-6))))
    x = _f32(rng, *shape)
    (want,) = run_onert(path, [x], tmp_path)
    np.testing.assert_allclose(_ours(path, x), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_rope_matches_onert(tmp_path) -> None:
    """onert reads one row of the sin and cos tables for every position; so do we when the
    tables have one row (larger tables broadcast over the input here, numpy's rule)."""
    rng = np.random.default_rng(2)
    shape = (1, 3, 2, 8)
    tables = [_f32(rng, 1, 1, 1, 8), _f32(rng, 1, 1, 1, 8)]  # sin, cos
    path = _model(tmp_path, "ROPE", shape, tables, RoPEOptions(mode=RoPEMode.GPT_NEOX))
    x = _f32(rng, *shape)
    (want,) = run_onert(path, [x], tmp_path)
    np.testing.assert_allclose(_ours(path, x), want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_rope_gpt_j_rotates_pairs(tmp_path) -> None:
    """GPT-J style: the rotation acts on interleaved pairs (x0, x1), (x2, x3), ..."""
    rng = np.random.default_rng(3)
    angles = rng.standard_normal((1, 1, 4)).astype(np.float32)
    sin, cos = np.repeat(np.sin(angles), 2, -1), np.repeat(np.cos(angles), 2, -1)
    path = _model(tmp_path, "ROPE", (1, 1, 8), [sin, cos], RoPEOptions(mode=RoPEMode.GPT_J))
    x = _f32(rng, 1, 1, 8)
    got = _ours(path, x).reshape(4, 2)
    pairs = x.reshape(4, 2)
    c, s = np.cos(angles).reshape(4), np.sin(angles).reshape(4)
    rotated = np.stack([pairs[:, 0] * c - pairs[:, 1] * s, pairs[:, 1] * c + pairs[:, 0] * s], axis=1)
    np.testing.assert_allclose(got, rotated, rtol=1e-6, atol=1e-6)


def test_instance_norm_matches_tensorflow(tmp_path) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(4)
    gamma, beta = _f32(rng, 6), _f32(rng, 6)
    eps = float(np.float32(1e-3))
    options = InstanceNormOptions(epsilon=eps, fused_activation_function=ActivationFunctionType.RELU)
    path = _model(tmp_path, "INSTANCE_NORM", (2, 5, 7, 6), [gamma, beta], options)
    x = _f32(rng, 2, 5, 7, 6) * 3 + 1
    mean, var = tf.nn.moments(tf.constant(x), axes=[1, 2], keepdims=True)
    want = tf.nn.relu(tf.nn.batch_normalization(x, mean, var, beta, gamma, eps)).numpy()
    np.testing.assert_allclose(_ours(path, x), want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("sequences", [False, True])
def test_gru_matches_keras(tmp_path, sequences) -> None:
    """Circle's GRU is Keras' GRU with reset_after=True (gates z, r, n)."""
    import tensorflow as tf

    from one_core.ir.options import GRUOptions

    rng = np.random.default_rng(5)
    steps, features, units = 6, 4, 5
    layer = tf.keras.layers.GRU(units, reset_after=True, return_sequences=sequences)
    x = _f32(rng, 1, steps, features)
    want = layer(x).numpy()
    kernel, recurrent, bias = (w.numpy() for w in layer.weights)
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))
    xt = sg.add_tensor(Tensor("x", DType.FLOAT32, x.shape))
    consts = [kernel.T.copy(), bias[0].copy(), recurrent.T.copy(), bias[1].copy(), np.zeros((1, units), np.float32)]
    cs = [sg.add_tensor(Tensor(f"c{i}", DType.FLOAT32, c.shape, data=c)) for i, c in enumerate(consts)]
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, want.shape))
    sg.add_operator(Operator("GRU", [xt, *cs], [y], GRUOptions(return_sequences=sequences, time_major=False)))
    sg.inputs, sg.outputs = [xt], [y]
    path = tmp_path / "gru.circle"
    one_core.save(m, path)
    np.testing.assert_allclose(_ours(path, x), want, rtol=0, atol=1e-5 * np.abs(want).max())
