"""Kernels added for operators the ONNX frontend emits (UNIQUE, BITCAST, UNSORTED_SEGMENT_*),
against LiteRT's kernels on models TensorFlow's converter makes."""

from __future__ import annotations

import numpy as np
import pytest
from opharness import run_litert, run_ours, tflite_model


class _LazyTF:
    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()


def _same(path, inputs) -> None:
    want = run_litert(path, inputs, reference=False)
    got = run_ours(path, inputs)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.array_equal(g, w)


@pytest.mark.parametrize("dtype,index", [(np.float32, np.int32), (np.int32, np.int64), (np.int64, np.int32)])
def test_unique(dtype, index):
    path = tflite_model(lambda x: tuple(tf.unique(x, out_idx=tf.as_dtype(index))), [((12,), dtype)],
                        tag=f"{np.dtype(dtype).name}-{np.dtype(index).name}")
    x = np.array([3, 1, 3, 7, 1, 1, 0, 7, 9, 3, 0, 5], dtype=dtype)
    _same(path, [x])


@pytest.mark.parametrize("src,dst", [(np.float32, np.int32), (np.int32, np.uint8), (np.int16, np.int32),
                                     (np.float32, np.int16)])
def test_bitcast(src, dst):
    ratio = np.dtype(dst).itemsize / np.dtype(src).itemsize
    shape = (3, int(ratio)) if ratio > 1 else (3,)  # widening consumes the last dimension
    path = tflite_model(lambda x: tf.bitcast(x, tf.as_dtype(dst)), [(shape, src)],
                        tag=f"{np.dtype(src).name}-{np.dtype(dst).name}")
    raw = np.frombuffer(np.random.default_rng(1).bytes(int(np.prod(shape)) * np.dtype(src).itemsize), src)
    x = np.nan_to_num(raw) if np.dtype(src).kind == "f" else raw
    _same(path, [x.reshape(shape)])


@pytest.mark.parametrize("reduce", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_unsorted_segment(reduce, dtype):
    fn = getattr(tf.math, f"unsorted_segment_{reduce}")
    path = tflite_model(lambda x, ids: fn(x, ids, num_segments=5), [((6, 3), dtype), ((6,), np.int32)],
                        tag=f"{reduce}-{np.dtype(dtype).name}")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((6, 3)) * 4).astype(dtype)
    ids = np.array([0, 2, 2, -1, 4, 0], np.int32)  # segment 1 and 3 empty, one negative id skipped
    _same(path, [x, ids])
