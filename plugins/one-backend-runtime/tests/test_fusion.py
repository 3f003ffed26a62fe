"""The runtime's fused steps compute what the operator pairs compute, and fuse only when the
intermediate tensor has no other reader."""

from __future__ import annotations

import numpy as np
import one_core
from opharness import check, tflite_model


def swish_fn(x):
    import tensorflow as tf

    return x * tf.sigmoid(x)


def sigmoid_used_twice(x):
    import tensorflow as tf

    s = tf.sigmoid(x)
    return x * s, s + 1.0


def _labels(path) -> list[str]:
    session = one_core.Session(path, backend="runtime")
    session.set_profiling(True)
    session.run([np.zeros(session.inputs[0].shape, np.float32)])
    return [label for label, _, _ in session.operator_times()]


def test_swish_is_one_step_and_matches_litert() -> None:
    path = tflite_model(swish_fn, [((2, 9, 9, 16), np.float32)])
    assert _labels(path) == ["LOGISTIC+MUL"]
    check(path, inputs=[np.random.default_rng(0).standard_normal((2, 9, 9, 16)).astype(np.float32) * 30])


def test_no_fusion_when_the_sigmoid_has_other_readers() -> None:
    path = tflite_model(sigmoid_used_twice, [((4, 8), np.float32)])
    assert "LOGISTIC+MUL" not in _labels(path)
    check(path)
