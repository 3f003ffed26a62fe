"""--force_quantparam and --copy_quantparam on a quantized model: the parameters land where
asked, the model still runs with identical integers on LiteRT and our runtime, and mistakes are
one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from qharness import check_exact, quantized_file, tflite_model

import one_core
import one_quantizer
from one_core.cli import cli as main
from one_core.errors import InputError


def two_branches(x):
    return tf.concat([tf.nn.relu(x * 0.5), tf.nn.relu6(x - 0.25)], axis=-1)


@pytest.fixture()
def quantized(tmp_path):
    return quantized_file(tflite_model(two_branches, [((1, 6, 6, 4), np.float32)]), tmp_path)


def _tensor(model, name):
    return next(t for t in model.main.tensors if t.name == name)


def _relu_outputs(model):
    """Outputs of the two branches (MUL and SUB with their fused RELU / RELU6)."""
    return [op.outputs[0].name for op in model.main.operators if op.name in ("MUL", "SUB", "ADD")]


def test_force_quantparam(quantized, tmp_path) -> None:
    model = one_core.load(quantized)
    name = model.main.inputs[0].name  # (an input of CONCATENATION would break its equal-parameter rule)
    one_quantizer.force_quantparam(model, [name], [0.05], [-100])
    t = _tensor(model, name)
    assert float(t.quantization.scale[0]) == pytest.approx(0.05) and int(t.quantization.zero_point[0]) == -100
    check_exact(one_core.save(model, tmp_path / "forced.tflite"))


def test_copy_quantparam_by_cli(quantized, tmp_path) -> None:
    """The use ONE has for it: a CONCATENATION's inputs take its output's parameters."""
    model = one_core.load(quantized)
    concat = next(op for op in model.main.operators if op.name == "CONCATENATION")
    src, dsts = concat.outputs[0].name, [t.name for t in concat.inputs]
    args = ["quantize", str(quantized), "-o", str(tmp_path / "copied.tflite"), "--copy_quantparam"]
    for dst in dsts:
        args += ["--src_tensor_name", src, "--dst_tensor_name", dst]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    copied = one_core.load(tmp_path / "copied.tflite")
    want = _tensor(copied, src).quantization
    for dst in dsts:
        got = _tensor(copied, dst).quantization
        assert got.scale[0] == want.scale[0] and got.zero_point[0] == want.zero_point[0]
    check_exact(tmp_path / "copied.tflite")


@pytest.mark.parametrize("names, scales, zps, message", [
    (["nope"], [0.1], [0], "no tensor named 'nope'"),
    (["RELU"], [0.0], [0], "scale must be positive"),
    (["RELU"], [0.1], [300], "zero point 300 is outside int8"),
    (["RELU"], [0.1, 0.2], [0], "as many tensor names, scales and zero points"),
])
def test_force_quantparam_errors(quantized, names, scales, zps, message) -> None:
    model = one_core.load(quantized)
    names = [_relu_outputs(model)[0] if n == "RELU" else n for n in names]
    with pytest.raises(InputError, match=message):
        one_quantizer.force_quantparam(model, names, scales, zps)


def test_float_tensors_are_refused(tmp_path) -> None:
    model = one_core.load(tflite_model(two_branches, [((1, 6, 6, 4), np.float32)]))
    with pytest.raises(InputError, match="is not quantized"):
        one_quantizer.copy_quantparam(model, [model.main.inputs[0].name], [model.main.outputs[0].name])
    result = CliRunner().invoke(main, ["quantize", "x.tflite", "-o", str(tmp_path / "y.circle")])
    assert result.exit_code != 0 and "--input_data" in result.output
