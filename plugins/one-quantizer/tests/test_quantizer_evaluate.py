"""`one_quantizer.evaluate` and `one quantize --evaluate`: the output metrics equal their
definitions computed here on the two models' outputs (LiteRT runs the quantized model), and the
per-layer SQNR table covers the activations both models share."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from qharness import calibration_records, run_litert, tflite_model

import one_core
import one_quantizer
from one_core.cli import cli as main
from one_core.errors import InputError


def small_classifier(x):
    w1 = tf.constant(np.random.default_rng(1).standard_normal((3, 3, 3, 8)).astype(np.float32) / 4)
    w2 = tf.constant(np.random.default_rng(2).standard_normal((8, 10)).astype(np.float32) / 2)
    h = tf.nn.relu(tf.nn.conv2d(x, w1, strides=1, padding="SAME"))
    return tf.nn.softmax(tf.matmul(tf.reduce_mean(h, axis=(1, 2)), w2))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tflite_model(small_classifier, [((1, 8, 8, 3), np.float32)])
    float_model = one_core.load(path)
    quantized = one_quantizer.quantize(one_core.load(path), calibration_records(float_model, 16))
    q_path = one_core.save(quantized, tmp_path_factory.mktemp("q") / "q.tflite")
    return path, float_model, quantized, q_path


def test_output_metrics_follow_their_definitions(models) -> None:
    path, float_model, quantized, q_path = models
    test = calibration_records(float_model, 6, seed=7)
    result = one_quantizer.evaluate(float_model, quantized, test)
    assert result.records == 6 and len(result.outputs) == 1
    out_t = quantized.main.outputs[0]
    scale, zero = float(out_t.quantization.scale[0]), int(out_t.quantization.zero_point[0])
    in_t = quantized.main.inputs[0]
    in_scale, in_zero = float(in_t.quantization.scale[0]), int(in_t.quantization.zero_point[0])
    maes, mses, mapes, peirs, top1, top5, signal, noise = [], [], [], [], [], [], 0.0, 0.0
    for (x,) in test:
        f = run_litert(path, [x])[0].astype(np.float64)
        xq = np.clip(np.round(x / in_scale) + in_zero, -128, 127).astype(np.int8)
        q = (run_litert(q_path, [xq])[0].astype(np.float64) - zero) * scale
        err = np.abs(f - q)
        maes.append(err.mean())
        mses.append((err**2).mean())
        mapes.append(np.mean(err[f != 0] / np.abs(f[f != 0])) * 100)
        peirs.append(err.max() / (f.max() - f.min()))
        top1.append(np.argmax(f) == np.argmax(q))
        top5.append(len(set(np.argsort(-f[0])[:5]) & set(np.argsort(-q[0])[:5])) / 5)
        signal += (f**2).sum()
        noise += ((f - q) ** 2).sum()
    got = result.outputs[0]
    np.testing.assert_allclose([got.mae, got.mse, got.mape, got.mpeir],
                               [np.mean(maes), np.mean(mses), np.mean(mapes), np.mean(peirs)], rtol=1e-5)
    assert got.top1_agreement == pytest.approx(np.mean(top1))
    assert got.topk_overlap == pytest.approx(np.mean(top5))
    assert got.sqnr_db == pytest.approx(10 * math.log10(signal / noise), rel=1e-6)
    assert 0 < got.mae < 0.05 and got.sqnr_db > 10  # a usable quantization of a small net


def test_layer_table_covers_shared_activations(models) -> None:
    _, float_model, quantized, _ = models
    result = one_quantizer.evaluate(float_model, quantized, calibration_records(float_model, 3, seed=9))
    kinds = [layer.operator for layer in result.layers]
    assert {"CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= set(kinds)
    assert result.layers[0].operator == "input" and result.layers[0].sqnr_db > 30  # input rounding only
    table = result.format(worst=2)
    assert "layers by SQNR, worst first (2 of" in table and "MPEIR" in table


def test_cli_evaluate_and_report(models, tmp_path) -> None:
    path, float_model, _, _ = models
    calib, test = tmp_path / "calib.npz", tmp_path / "test.npz"
    np.savez(calib, np.stack([r[0] for r in calibration_records(float_model, 8)]))
    np.savez(test, np.stack([r[0] for r in calibration_records(float_model, 4, seed=3)]))
    out, report = tmp_path / "q.circle", tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--input_data", str(calib),
                                       "--evaluate", "--test_data", str(test), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "evaluated on 4 record(s)" in result.output and "layers by SQNR" in result.output
    data = json.loads(report.read_text())
    assert data["records"] == 4 and data["outputs"][0]["top1_agreement"] is not None
    missing = CliRunner().invoke(main, ["quantize", str(path), "-o", str(tmp_path / "x.circle"), "--input_data",
                                        str(calib), "--evaluate"])
    assert missing.exit_code != 0 and "--evaluate needs --test_data" in missing.output
    assert not (tmp_path / "x.circle").exists()


def test_mismatched_models_are_refused(models) -> None:
    _, float_model, quantized, _ = models
    other = one_core.load(tflite_model(small_classifier, [((1, 8, 8, 3), np.float32)]))
    other.main.outputs = [*other.main.outputs, other.main.inputs[0]]
    with pytest.raises(Exception, match="do not match"):
        one_quantizer.evaluate(other, quantized, calibration_records(float_model, 1))
    with pytest.raises(InputError):
        one_quantizer.evaluate(float_model, quantized, [[np.zeros((1, 8, 8, 4), np.float32)]])
