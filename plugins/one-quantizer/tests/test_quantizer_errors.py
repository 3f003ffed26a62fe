"""Bad calibration data and unsupported operators give one-line errors; `one quantize` end to end."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import one_core
import one_quantizer
from one_core.cli import cli as main
from one_core.errors import InputError, UnsupportedOperatorError
from qharness import check_exact, tflite_model


def doubled(x):
    return x * 2.0


def with_exp(x):
    return tf.exp(x) + tf.floor(x)


@pytest.fixture()
def path():
    return tflite_model(doubled, [((1, 4, 3), np.float32)])


@pytest.mark.parametrize(("record", "message"), [
    (np.zeros((1, 4, 4), np.float32), "shape [1, 4, 4], expected [1, 4, 3]"),
    (np.zeros((1, 4, 3), np.float64), "dtype float64, expected float32"),
    (np.full((1, 4, 3), np.nan, np.float32), "contains NaN"),
])
def test_bad_records(path, record, message):
    model = one_core.load(path)
    good = np.zeros((1, 4, 3), np.float32)
    with pytest.raises(InputError) as info:
        one_quantizer.quantize(model, [good, record])
    text = str(info.value)
    assert message in text and "record 1" in text and model.main.inputs[0].name in text and "\n" not in text


def test_unsupported_operators_listed():
    model = one_core.load(tflite_model(with_exp, [((1, 4), np.float32)]))
    with pytest.raises(UnsupportedOperatorError, match=r"does not support EXP, FLOOR \(supported: "):
        one_quantizer.quantize(model, [np.zeros((1, 4), np.float32)])


def test_cli(path, tmp_path):
    data = tmp_path / "calib.npz"
    np.savez(data, np.random.default_rng(0).standard_normal((8, 1, 4, 3)).astype(np.float32))
    out = tmp_path / "q.tflite"
    result = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--input_data", str(data),
                                       "--quantized_dtype", "int8", "--granularity", "layer",
                                       "--input_type", "float32", "--mode", "moving_average"])
    assert result.exit_code == 0, result.output
    model = one_core.load(out)
    assert [op.type for _, op in model.operators()] == ["QUANTIZE", "MUL"]
    check_exact(out)
    bad = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--input_data", str(tmp_path / "none")])
    assert bad.exit_code == 1 and "error:" in bad.output


def test_random_calibration_only_when_asked(path, tmp_path):
    out = tmp_path / "r.tflite"
    result = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--random_data", "4"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    check_exact(out)
    both = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--random_data", "4",
                                     "--input_data", str(tmp_path)])
    assert both.exit_code != 0 and "--input_data, or ask for random ones" in both.output
    records = one_quantizer.random_records(one_core.load(path).main.inputs, 3, seed=5)
    again = one_quantizer.random_records(one_core.load(path).main.inputs, 3, seed=5)
    assert len(records) == 3 and all(np.array_equal(a[0], b[0]) for a, b in zip(records, again))
    with pytest.raises(InputError, match="at least 1"):
        one_quantizer.random_records(one_core.load(path).main.inputs, 0)


def test_one_core_quantize_is_this_plugin(path, tmp_path, monkeypatch):
    """`one_core.quantize` reaches the installed quantizer, with the same result; without one
    it says what to install."""
    from one_core.plugin.manager import DISABLE_ENV, reset_plugins

    records = [np.random.default_rng(i).standard_normal((1, 4, 3)).astype(np.float32) for i in range(4)]
    ours = one_core.save(one_core.quantize(one_core.load(path), records, "int8", "layer", input_type="float32"),
                         tmp_path / "core.circle")
    direct = one_core.save(one_quantizer.quantize(one_core.load(path), records, "int8", "layer",
                                                  input_type="float32"), tmp_path / "direct.circle")
    assert ours.read_bytes() == direct.read_bytes()
    monkeypatch.setenv(DISABLE_ENV, "quantizer")
    reset_plugins()
    try:
        with pytest.raises(InputError, match="no quantizer is installed"):
            one_core.quantize(one_core.load(path), records)
    finally:
        monkeypatch.delenv(DISABLE_ENV)
        reset_plugins()
