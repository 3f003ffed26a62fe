"""onecc's [one-quantize] runs here through the quantizer's build step, with ONE's keys and
defaults; its results run identically on LiteRT and our runtime."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import one_core
from one_core.cli import cli
from one_core.ir import DType
from qharness import calibration_records, check_exact, tflite_model
from test_quantizer_ops import conv_family

INPUT = [((1, 8, 8, 4), np.float32)]


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    """A folder with the float model (m.tflite) and ONE's h5 calibration data (calib.h5)."""
    path = tflite_model(conv_family, INPUT)
    shutil.copy(path, tmp_path / "m.tflite")
    with h5py.File(tmp_path / "calib.h5", "w") as f:
        for i, record in enumerate(calibration_records(one_core.load(path), 8)):
            f.create_dataset(f"value/{i}/0", data=record[0])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _build(folder, quantize_keys: str, import_step: bool = True):
    steps = "one-import-tflite=True\none-quantize=True\n" if import_step else "one-quantize=True\n"
    text = f"[onecc]\n{steps}\n[one-import-tflite]\ninput_path=m.tflite\noutput_path=m.circle\n\n" \
           f"[one-quantize]\n{quantize_keys}"
    (folder / "q.cfg").write_text(text)
    return CliRunner().invoke(cli, ["build", "-C", "q.cfg"])


def test_quantize_step_with_one_keys(folder):
    result = _build(folder, "input_path=m.circle\noutput_path=m.q.circle\ninput_data=calib.h5\n"
                            "input_data_format=h5\nquantized_dtype=int8\ngranularity=channel\n"
                            "input_type=float32\noutput_type=float32\nmode=moving_average\n")
    assert result.exit_code == 0, result.output
    assert "one-quantize: m.q.circle: int8 (channel)" in result.output
    model = one_core.load(folder / "m.q.circle")
    assert model.main.inputs[0].dtype == DType.FLOAT32
    assert {op.outputs[0].dtype for _, op in model.operators() if op.type == "CONV_2D"} == {DType.INT8}
    check_exact(one_core.save(model, folder / "m.q.tflite"))


def test_one_defaults_uint8_per_layer_random_data(folder):
    result = _build(folder, "input_path=m.circle\noutput_path=m.q.circle\n")
    assert result.exit_code == 0, result.output
    assert "uint8 (layer, calibrated on 8 random records)" in result.output
    model = one_core.load(folder / "m.q.circle")
    assert model.main.inputs[0].dtype == DType.UINT8
    check_exact(one_core.save(model, folder / "m.q.tflite"))


def test_quant_config_gives_the_defaults(folder):
    conv = next(op for op in one_core.load(folder / "m.tflite").main.operators if op.type == "CONV_2D")
    (folder / "q.json").write_text(json.dumps({
        "default_quantization_dtype": "int8", "default_granularity": "channel",
        "layers": [{"name": conv.outputs[0].name, "dtype": "int16", "granularity": "channel"}]}))
    result = _build(folder, "input_path=m.circle\noutput_path=m.q.circle\ninput_data=calib.h5\n"
                            "quant_config=q.json\n")
    assert result.exit_code == 0, result.output
    assert "int8 (channel, 1 config rule(s))" in result.output
    check_exact(one_core.save(one_core.load(folder / "m.q.circle"), folder / "m.q.tflite"))


def test_rewrites_of_a_quantized_model(folder):
    assert _build(folder, "input_path=m.circle\noutput_path=m.q.circle\ninput_data=calib.h5\n"
                          "quantized_dtype=int8\ngranularity=layer\n").exit_code == 0
    result = _build(folder, "input_path=m.q.circle\noutput_path=m.u8.circle\nrequantize=True\n"
                            "input_model_dtype=int8\nquantized_dtype=uint8\n", import_step=False)
    assert result.exit_code == 0 and "requantized" in result.output, result.output
    assert one_core.load(folder / "m.u8.circle").main.inputs[0].dtype == DType.UINT8
    name = one_core.load(folder / "m.q.circle").main.inputs[0].name
    result = _build(folder, f"input_path=m.q.circle\noutput_path=m.f.circle\nforce_quantparam=True\n"
                            f"tensor_name={name}\nscale=0.05\nzero_point=3\n", import_step=False)
    assert result.exit_code == 0, result.output
    assert float(one_core.load(folder / "m.f.circle").main.inputs[0].quantization.scale[0]) == pytest.approx(0.05)
    result = _build(folder, "input_path=m.q.circle\noutput_path=m.fq.circle\nfake_quantize=True\n",
                    import_step=False)
    assert result.exit_code == 0 and "fake-quantized" in result.output, result.output
    assert one_core.load(folder / "m.fq.circle").main.inputs[0].dtype == DType.FLOAT32


@pytest.mark.parametrize("keys, message", [
    ("quantised_dtype=int8\n", "unknown key 'quantised_dtype' (did you mean quantized_dtype?)"),
    ("quantized_dtype=uint4\n", "quantized_dtype 'uint4' is not supported"),
    ("input_data=missing.h5\n", "input_data missing.h5: no such file or directory"),
    ("ampq=True\n", "ampq cannot be honoured"),
])
def test_bad_sections_are_one_line_errors(folder, keys, message):
    result = _build(folder, "input_path=m.circle\noutput_path=m.q.circle\n" + keys)
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (folder / "m.q.circle").exists()
