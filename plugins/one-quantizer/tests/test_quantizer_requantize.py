"""--requantize int8 uint8: a per-layer int8 model becomes a uint8 one that LiteRT and our
runtime run with identical integers, equal to the int8 model's outputs plus 128 within one step
(TFLite's uint8 kernels round differently in places: FULLY_CONNECTED rounds once, SOFTMAX uses
its own table)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from qharness import check_exact, quantized_file, run_ours, tflite_model
from test_quantizer_ops import conv_family, elementwise, pools_shapes

import one_core
import one_quantizer
from one_core.cli import cli as main
from one_core.errors import InputError
from one_core.ir import DType


@pytest.mark.parametrize("fn", [conv_family, elementwise, pools_shapes], ids=lambda f: f.__name__)
def test_int8_to_uint8(fn, tmp_path) -> None:
    int8 = quantized_file(tflite_model(fn, [((1, 8, 8, 4), np.float32)]), tmp_path, granularity="layer")
    out = tmp_path / "u8.tflite"
    result = CliRunner().invoke(main, ["quantize", str(int8), "-o", str(out), "--requantize", "int8", "uint8"])
    assert result.exit_code == 0, result.output
    model = one_core.load(out)
    assert not any(t.dtype == DType.INT8 for t in model.main.tensors)
    rng = np.random.default_rng(0)
    x8 = rng.integers(-128, 128, (1, 8, 8, 4)).astype(np.int8)
    got = check_exact(out, inputs=[(x8.astype(np.int16) + 128).astype(np.uint8)])[0].astype(np.int64)
    want = run_ours(int8, [x8])[0].astype(np.int64) + 128
    assert np.abs(got - want).max() <= 1
    assert np.mean(got == want) > 0.95


def test_per_channel_weights_become_circle_uint8_per_channel(tmp_path) -> None:
    """Not for TFLite's kernels: our runtime runs it, equal to the int8 model plus 128 within
    one step, as per layer."""
    int8 = quantized_file(tflite_model(conv_family, [((1, 8, 8, 4), np.float32)]), tmp_path)
    model = one_quantizer.requantize(one_core.load(int8))
    conv = next(op for op in model.main.operators if op.type == "CONV_2D")
    assert conv.inputs[1].dtype == DType.UINT8 and conv.inputs[1].quantization.scale.size > 1
    assert set(conv.inputs[1].quantization.zero_point.tolist()) == {128}
    x8 = np.random.default_rng(0).integers(-128, 128, (1, 8, 8, 4)).astype(np.int8)
    got = run_ours(one_core.save(model, tmp_path / "u8.circle"), [(x8.astype(np.int16) + 128).astype(np.uint8)])
    want = run_ours(int8, [x8])[0].astype(np.int64) + 128
    assert np.abs(got[0].astype(np.int64) - want).max() <= 1


def test_only_int8_to_uint8(tmp_path) -> None:
    path = quantized_file(tflite_model(conv_family, [((1, 8, 8, 4), np.float32)]), tmp_path)
    with pytest.raises(InputError, match="only int8 to uint8"):
        one_quantizer.requantize(one_core.load(path), "uint8", "int8")
