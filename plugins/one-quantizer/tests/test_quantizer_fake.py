"""Fake quantization: the float32 twin of a quantized model rounds where the quantized model
does, checked against the quantized model run by LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import one_core
import one_quantizer
import qzoo
from one_core.cli import cli
from one_core.errors import InputError
from one_core.ir import DType
from qharness import calibration_records, run_litert, run_ours, sqnr_db, tflite_model
from test_quantizer_ops import B8, DW, FC, FAMILIES, W3

INPUT = [((1, 8, 8, 4), np.float32)]


def conv(x):
    return tf.nn.relu6(tf.nn.conv2d(x, W3, 1, "SAME") + B8)


def depthwise(x):
    return tf.nn.depthwise_conv2d(tf.concat([x, x], -1), DW, [1, 1, 1, 1], "SAME")


def fully_connected(x):
    return tf.matmul(tf.reshape(x, (32, 8)), FC) + 0.1


def mean(x):
    return tf.reduce_mean(x, axis=[1, 2])


def add_mul(x):
    return x * 0.7 + tf.nn.relu(x)


def logistic(x):
    return tf.nn.sigmoid(x)


def tanh(x):
    return tf.nn.tanh(x)


def softmax(x):
    return tf.nn.softmax(x)


def average_pool(x):
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


SINGLE = [conv, depthwise, fully_connected, mean, add_mul, logistic, tanh, softmax, average_pool]
SETTINGS = [("int8", "channel"), ("uint8", "layer"), ("int16", "channel")]


def _pair(fn, dtype: str, granularity: str, tmp_path):
    """The float-I/O quantized model and its fake-quantized twin, saved as .tflite."""
    model = one_core.load(tflite_model(fn, INPUT))
    one_quantizer.quantize(model, calibration_records(model), dtype, granularity, input_type="float32",
                           output_type="float32")
    quantized = one_core.save(model, tmp_path / "q.tflite")
    step = float(next(op for _, op in model.operators() if op.type == "DEQUANTIZE").inputs[0].quantization.scale[0])
    one_quantizer.fake_quantize(model)
    return quantized, one_core.save(model, tmp_path / "fake.tflite"), model, step


def _inputs(seed: int) -> list[np.ndarray]:
    return [np.random.default_rng(seed).standard_normal((1, 8, 8, 4)).astype(np.float32)]


def _bounds(fn, dtype: str) -> tuple[float, float | None]:
    """Most steps apart, and most elements apart (None: no bound), per operator and dtype.

    8-bit kernels round exactly, except by a fixed-point hair at half steps: few elements
    differ; averages (MEAN, AVERAGE_POOL_2D) land on exact half steps often, which float
    arithmetic then rounds either way. TFLite's 16-bit kernels round their multiplier to 16
    bits and compute LOGISTIC, TANH and SOFTMAX from tables good to about two steps."""
    if dtype == "int16":
        return (2.0 if fn in (logistic, tanh, softmax) else 1.0), None
    return 1.0, None if fn in (mean, average_pool) else 0.01


@pytest.mark.parametrize("fn", SINGLE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("setting", SETTINGS, ids="-".join)
def test_one_operator_rounds_like_the_quantized_model(fn, setting, tmp_path):
    """Per operator the fake model's output is on the quantized output's grid and at most one
    step from it (two for 16-bit tables), in few elements where the kernel is exact."""
    quantized, fake, model, step = _pair(fn, *setting, tmp_path)
    assert {op.type for _, op in model.operators()} - {"QUANTIZE", "DEQUANTIZE"} <= \
        {op.type for _, op in one_core.load(tflite_model(fn, INPUT)).operators()}
    assert all(t.dtype == DType.FLOAT32 for t in (*model.main.inputs, *model.main.outputs))
    most_steps, most_elements = _bounds(fn, setting[0])
    for seed in range(2):
        want, got = run_litert(quantized, _inputs(seed))[0], run_litert(fake, _inputs(seed))[0]
        steps = np.abs(got.astype(np.float64) - want) / step
        assert steps.max() <= most_steps + 1e-3, steps.max()
        if most_elements is not None:
            assert np.mean(steps > 0.5) <= most_elements, np.mean(steps > 0.5)
        assert np.allclose(got / step, np.round(got / step), atol=1e-3)  # on the grid


#: Every family in int8, and in int16 where TFLite has the 16-bit kernels (not HARD_SWISH).
FAMILY_SETTINGS = [(fn, ("int8", "channel")) for fn in FAMILIES] + \
    [(fn, ("int16", "channel")) for fn in FAMILIES if fn.__name__ != "activations"]


@pytest.mark.parametrize("fn, setting", FAMILY_SETTINGS, ids=lambda v: v.__name__ if callable(v) else v[0])
def test_litert_and_runtime_agree_on_fake_models(fn, setting, tmp_path):
    """Both run the float twin with float kernels that agree to about 1e-6; a fake quantization
    can turn such a difference at an exact half step into one step, nothing more."""
    _, fake, _, step = _pair(fn, *setting, tmp_path)
    for seed in range(2):
        want, got = run_litert(fake, _inputs(seed))[0], run_ours(fake, _inputs(seed))[0]
        steps = np.abs(got.astype(np.float64) - want) / step
        assert steps.max() <= 1.0 + 1e-3 and np.mean(steps > 0.5) <= 0.02, (steps.max(), np.mean(steps > 0.5))


def test_mobilenet_v2_fake_model_tracks_the_quantized_one(tmp_path):
    """On MobileNetV2 the fake model explains most of the quantization error: its distance to
    the quantized model is at least 6 dB (4x in noise power) below the float model's."""
    size = 96
    float_path, _ = qzoo.keras_pair("MobileNetV2", size)
    model = one_core.load(float_path)
    one_quantizer.quantize(model, list(qzoo.calibration_data(size)), "int8", "channel", input_type="float32",
                           output_type="float32")
    quantized = one_core.save(model, tmp_path / "q.tflite")
    fake = one_core.save(one_quantizer.fake_quantize(model), tmp_path / "fake.tflite")
    xs = np.random.default_rng(3).standard_normal((4, 1, size, size, 3)).astype(np.float32)
    ref, q, f = (np.concatenate([run_litert(p, [x], reference=False)[0] for x in xs])
                 for p in (float_path, quantized, fake))
    assert sqnr_db(q, f) >= sqnr_db(q, ref) + 6.0, (sqnr_db(q, f), sqnr_db(q, ref))


def test_names_and_boundaries(tmp_path):
    """Inputs and outputs keep their names; the model's boundary QUANTIZE stays, its DEQUANTIZE
    goes; integer inputs become float ones that are quantized first."""
    original = one_core.load(tflite_model(conv, INPUT))
    for io in ("float32", "int8"):
        model = one_core.load(tflite_model(conv, INPUT))
        one_quantizer.quantize(model, calibration_records(model), "int8", input_type=io, output_type=io)
        one_quantizer.fake_quantize(model)
        assert [t.name for t in model.main.inputs] == [t.name for t in original.main.inputs]
        assert [t.name for t in model.main.outputs] == [t.name for t in original.main.outputs]
        types = [op.type for _, op in model.operators()]
        assert types == ["QUANTIZE", "DEQUANTIZE", "CONV_2D", "QUANTIZE", "DEQUANTIZE"], types
        assert model.main.operators[2].inputs[1].dtype == DType.FLOAT32


def test_float_model_is_refused():
    with pytest.raises(InputError, match="no quantized activations"):
        one_quantizer.fake_quantize(one_core.load(tflite_model(conv, INPUT)))


def test_cli(tmp_path):
    model = one_core.load(tflite_model(conv, INPUT))
    one_quantizer.quantize(model, calibration_records(model), "int8")
    quantized = one_core.save(model, tmp_path / "q.circle")
    out = tmp_path / "fake.circle"
    result = CliRunner().invoke(cli, ["quantize", str(quantized), "-o", str(out), "--fake_quantize"])
    assert result.exit_code == 0, result.output
    assert {t.dtype for t in one_core.load(out).main.inputs} == {DType.FLOAT32}
