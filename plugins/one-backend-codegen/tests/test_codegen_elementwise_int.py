"""Integer ADD/SUB/MUL, table activations, (DE)QUANTIZE, SOFTMAX, pooling and MEAN in generated
C: int8 and int16x8 converter models, uint8 hand-built ones; exactly LiteRT's and the runtime's."""

from __future__ import annotations

import numpy as np
import pytest
from cgharness import check_c
from opharness import tflite_model
from test_activations import ALL_INT8, ALL_INT16, S4, _quant, _unary, hard_swish_fn, relu6_fn, relu_fn, sigmoid_fn
from test_activations import softmax_fn, tanh_fn
from test_elementwise import BROADCASTS, add_fn, add_relu, mul_fn, mul_relu, sub_fn
from test_pool import CASES
from test_reduce import S4 as R4
from test_reduce import mean_hw, mean_last, mean_mixed, wide_inputs

from one_core.ir import DType


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("specs", BROADCASTS, ids=lambda s: "x".join(str(d) for d in s[1][0]))
@pytest.mark.parametrize("fn", [add_fn, add_relu, sub_fn, mul_fn, mul_relu], ids=lambda f: f.__name__)
def test_binary(fn, specs, quantize) -> None:
    check_c(tflite_model(fn, specs, quantize=quantize))


@pytest.mark.parametrize("fn", [sigmoid_fn, tanh_fn, relu_fn, relu6_fn, hard_swish_fn], ids=lambda f: f.__name__)
def test_int8_tables(fn) -> None:
    check_c(tflite_model(fn, [((16, 16), np.float32)], quantize="int8"), inputs=[ALL_INT8])


@pytest.mark.parametrize("fn", [sigmoid_fn, tanh_fn], ids=lambda f: f.__name__)
def test_int16_logistic_tanh(fn) -> None:
    check_c(tflite_model(fn, [((256, 256), np.float32)], quantize="int16x8"), inputs=[ALL_INT16])


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
def test_softmax(quantize) -> None:
    check_c(tflite_model(softmax_fn, [((16, 16), np.float32)], quantize=quantize))
    check_c(tflite_model(softmax_fn, [(S4, np.float32)], quantize=quantize))


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn,shape", CASES, ids=[f.__name__ for f, _ in CASES])
def test_pool(fn, shape, quantize) -> None:
    check_c(tflite_model(fn, [(shape, np.float32)], quantize=quantize))


@pytest.mark.parametrize("quantize", ["int8", "int16x8"])
@pytest.mark.parametrize("fn", [mean_hw, mean_last, mean_mixed], ids=lambda f: f.__name__)
def test_mean(fn, quantize) -> None:
    path = tflite_model(fn, [(R4, np.float32)], quantize=quantize)
    check_c(path)
    check_c(path, inputs=wide_inputs(quantize))


@pytest.mark.parametrize("src,sq,dst,dq", [("INT8", (0.05, 3), "INT8", (0.02, -20)), ("INT8", (0.05, 3), "UINT8", (0.05, 131)),
                                           ("UINT8", (0.04, 128), "INT8", (0.03, 0)), ("INT16", (0.001, 0), "INT8", (0.1, -5))])
def test_requantize(tmp_path, src, sq, dst, dq) -> None:
    x = ALL_INT16 if src == "INT16" else np.arange(256).astype(DType[src].numpy).reshape(16, 16)
    check_c(_unary(tmp_path, "QUANTIZE", None, DType[src], _quant(*sq), DType[dst], _quant(*dq), shape=x.shape), inputs=[x])


@pytest.mark.parametrize("dtype,q", [("INT8", (0.02, -4)), ("UINT8", (0.3, 128)), ("INT16", (1e-4, 0))])
def test_quantize_dequantize(tmp_path, dtype, q) -> None:
    dt = DType[dtype]
    x = (np.random.default_rng(0).standard_normal((16, 16)) * 3).astype(np.float32)
    x.ravel()[:16] = (np.arange(16) - 8 + 0.5) * np.float32(q[0])
    check_c(_unary(tmp_path, "QUANTIZE", None, DType.FLOAT32, None, dt, _quant(*q)), inputs=[x])
    xs = ALL_INT16 if dt == DType.INT16 else np.arange(256).astype(dt.numpy).reshape(16, 16)
    check_c(_unary(tmp_path, "DEQUANTIZE", None, dt, _quant(*q), DType.FLOAT32, None, shape=xs.shape), inputs=[xs])


def test_uint8_tables(tmp_path) -> None:
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for op, out_q in [("LOGISTIC", _quant(1 / 256, 0)), ("TANH", _quant(1 / 128, 128)), ("RELU", _quant(0.03, 10)),
                      ("HARD_SWISH", _quant(0.03, 20))]:
        check_c(_unary(tmp_path, op, None, DType.UINT8, _quant(0.05, 120), DType.UINT8, out_q), inputs=[x])
