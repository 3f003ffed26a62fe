"""RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR against LiteRT's reference kernels: float32,
int8, int16x8, and uint8 built with the IR; align_corners and half_pixel_centers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from opharness import check, tflite_model
from test_conv import one_op_tflite, qtensor

from one_core.ir import DType, Tensor
from one_core.ir.options import ResizeBilinearOptions, ResizeNearestNeighborOptions

QUANT = [None, "int8", "int16x8"]


def bilinear_legacy(x):
    return tf.compat.v1.image.resize_bilinear(x, (9, 12))


def bilinear_align(x):
    return tf.compat.v1.image.resize_bilinear(x, (11, 10), align_corners=True)


def bilinear_half_pixel(x):
    return tf.image.resize(x, (13, 9), method="bilinear")


def bilinear_down(x):
    return tf.image.resize(x, (4, 5), method="bilinear")


def nearest_legacy(x):
    return tf.compat.v1.image.resize_nearest_neighbor(x, (9, 12))


def nearest_align(x):
    return tf.compat.v1.image.resize_nearest_neighbor(x, (11, 10), align_corners=True)


def nearest_half_pixel(x):
    return tf.image.resize(x, (13, 9), method="nearest")


def nearest_down(x):
    return tf.image.resize(x, (4, 5), method="nearest")


CASES = [
    (bilinear_legacy, (2, 5, 7, 3)),
    (bilinear_align, (1, 6, 4, 2)),
    (bilinear_half_pixel, (1, 5, 4, 3)),
    (bilinear_down, (1, 9, 11, 2)),
    (nearest_legacy, (2, 5, 7, 3)),
    (nearest_align, (1, 6, 4, 2)),
    (nearest_half_pixel, (1, 5, 4, 3)),
    (nearest_down, (1, 9, 11, 2)),
]


@pytest.mark.parametrize("quantize", QUANT)
@pytest.mark.parametrize("fn,shape", CASES, ids=[f.__name__ for f, _ in CASES])
def test_resize(fn, shape, quantize):
    check(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


@pytest.mark.parametrize("name", ["RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"])
@pytest.mark.parametrize("mode", ["legacy", "align_corners", "half_pixel_centers"])
@pytest.mark.parametrize("out", [(13, 17), (3, 4)], ids=["up", "down"])
def test_uint8_resize(tmp_path, name, mode, out):
    x = qtensor("x", DType.UINT8, (1, 6, 7, 3), 0.05, 128)
    size = Tensor("size", DType.INT32, (2,), data=np.array(out, np.int32))
    y = qtensor("y", DType.UINT8, (1, *out, 3), 0.05, 128)
    kind = ResizeBilinearOptions if name == "RESIZE_BILINEAR" else ResizeNearestNeighborOptions
    opts = kind(align_corners=mode == "align_corners", half_pixel_centers=mode == "half_pixel_centers")
    path = one_op_tflite(tmp_path / "resize.tflite", name, opts, [x, size], [y])
    rng = np.random.default_rng(5)
    check(path, inputs=[rng.integers(0, 256, (1, 6, 7, 3)).astype(np.uint8)])
