"""Integer CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in generated C: int8 (per-channel),
int16x8 and uint8 (per-tensor, built with the IR), exactly equal to LiteRT and the runtime."""

from __future__ import annotations

import numpy as np
import pytest
from cgharness import check_c
from opharness import tflite_model
from test_codegen_conv_float import FNS, SHAPE
from test_conv import one_op_tflite, qtensor, uint8_conv_model

from one_core.ir import DType
from one_core.ir.options import ActivationFunctionType, FullyConnectedOptions


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_quantized_conv(fn, quantize) -> None:
    check_c(tflite_model(fn, [(SHAPE, np.float32)], quantize=quantize))


def _u8_model(tmp_path, kind: str, act: int):
    """The runtime tests' uint8 conv / depthwise with channels that span several weight panels,
    or a uint8 FULLY_CONNECTED."""
    rng = np.random.default_rng(7)
    if kind != "fc":
        return uint8_conv_model(tmp_path, kind, act, rng, channels=20, outputs=22)
    x = qtensor("x", DType.UINT8, (3, 20), 0.05, 121)
    w = qtensor("w", DType.UINT8, (19, 20), 0.02, 133, rng.integers(60, 200, (19, 20)).astype(np.uint8))
    b = qtensor("b", DType.INT32, (19,), 0.05 * 0.02, 0, rng.integers(-4000, 4000, 19).astype(np.int32))
    y = qtensor("y", DType.UINT8, (3, 19), 0.06, 119)
    return one_op_tflite(tmp_path / "fc.tflite", "FULLY_CONNECTED", FullyConnectedOptions(fused_activation_function=act),
                         [x, w, b], [y])


@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc"])
@pytest.mark.parametrize("act", [ActivationFunctionType.NONE, ActivationFunctionType.RELU6])
def test_uint8_conv(tmp_path, kind, act) -> None:
    check_c(_u8_model(tmp_path, kind, int(act)))
