"""Mixed precision (ONE's quantization config JSON): layers of another dtype or granularity,
converted with QUANTIZE where types meet; LiteRT and our runtime agree exactly on the result."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qharness import calibration_records, check_exact, run_litert, sqnr_db, tflite_model
from test_quantizer_ops import activations, conv_family, elementwise, pools_shapes

import one_core
import one_quantizer
from one_core.cli import cli
from one_core.errors import InputError, UnsupportedOperatorError
from one_core.ir import DType

INPUT = [((1, 8, 8, 4), np.float32)]


def _layers(model: one_core.Model, every: int, start: int = 0) -> list[str]:
    """Output names of every `every`-th operator from `start` that TFLite's 16-bit kernels take."""
    ops = [op for op in model.main.operators if op.type in one_quantizer.INT16_OPERATORS]
    return [op.outputs[0].name for op in ops[start::every]]


def _layer_output(model: one_core.Model, name: str) -> one_core.Tensor:
    """The tensor the layer `name` writes (a model output's boundary tensor takes its name)."""
    outputs = {t.name: t for _, op in model.operators() for t in op.outputs}
    return outputs.get(f"{name}/quantized", outputs[name])


def _quantized(path, tmp_path, **options):
    model = one_core.load(path)
    one_quantizer.quantize(model, calibration_records(model), **options)
    return model, one_core.save(model, tmp_path / "mixed.tflite")


@pytest.mark.parametrize("fn", [conv_family, elementwise, pools_shapes], ids=lambda f: f.__name__)
@pytest.mark.parametrize("default", [("int8", "channel"), ("uint8", "layer"), ("int16", "channel")],
                         ids=lambda d: "-".join(d))
@pytest.mark.parametrize("start", [0, 1])
def test_mixed_layers_run_identically_on_litert(fn, default, start, tmp_path):
    float_path = tflite_model(fn, INPUT)
    other = "int8" if default[0] == "int16" else "int16"
    names = _layers(one_core.load(float_path), 2, start)
    config = {"default_quantization_dtype": default[0], "default_granularity": default[1],
              "layers": [{"names": names, "dtype": other, "granularity": "layer"}]}
    model, path = _quantized(float_path, tmp_path, config=config)
    for name in names:
        assert _layer_output(model, name).dtype == DType[other.upper()], name
    assert any(op.type == "QUANTIZE" for _, op in model.operators())
    for seed in range(2):
        check_exact(path, seed=seed)


def test_int16_layers_cut_the_error_where_they_are(tmp_path):
    float_path = tflite_model(conv_family, INPUT)
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((1, 8, 8, 4)).astype(np.float32) for _ in range(8)]
    want = [run_litert(float_path, [x])[0] for x in xs]

    def error_db(**options) -> float:
        model = one_core.load(float_path)
        one_quantizer.quantize(model, calibration_records(model), input_type="float32", output_type="float32",
                               **options)
        path = one_core.save(model, tmp_path / "q.tflite")
        got = [run_litert(path, [x])[0] for x in xs]
        return sqnr_db(np.stack(want), np.stack(got))

    names = _layers(one_core.load(float_path), 1)
    int8 = error_db(dtype="int8")
    mixed = error_db(dtype="int8", config={"layers": [{"names": names[:2], "dtype": "int16",
                                                       "granularity": "channel"}]})
    int16 = error_db(dtype="int16")
    assert int8 < mixed < int16, (int8, mixed, int16)


def test_config_file_gives_defaults_names_and_alternates(tmp_path):
    float_path = tflite_model(conv_family, INPUT)
    first, second = _layers(one_core.load(float_path), 1)[:2]
    config = tmp_path / "q.json"
    config.write_text(json.dumps({
        "default_quantization_dtype": "uint8", "default_granularity": "layer",
        "layers": [{"name": "not/in/this/model", "alternate": {"tf2": first}, "dtype": "int16",
                    "granularity": "channel"},
                   {"names": [second], "dtype": "int8", "granularity": "channel"}]}))
    model, path = _quantized(float_path, tmp_path, config=config)
    assert _layer_output(model, first).dtype == DType.INT16
    assert _layer_output(model, second).dtype == DType.INT8 and model.main.inputs[0].dtype == DType.UINT8
    check_exact(path)


@pytest.mark.parametrize("config, message", [
    ({"layers": [{"name": "nowhere", "dtype": "int16", "granularity": "channel"}]}, "layer 'nowhere' is not"),
    ({"layers": [{"name": "x", "dtype": "int4", "granularity": "channel"}]}, "layers[0]: dtype 'int4'"),
    ({"layers": [{"dtype": "int16", "granularity": "channel"}]}, "needs 'name' or 'names'"),
    ({"default_granularity": "tensor"}, "default_granularity 'tensor'"),
    ({"default_quantization_dtype": "uint8"}, "contradicts the config's default 'uint8'"),
])
def test_bad_configs_are_refused_in_one_line(config, message):
    model = one_core.load(tflite_model(conv_family, INPUT))
    with pytest.raises(InputError) as e:
        one_quantizer.quantize(model, calibration_records(model), dtype="int8", config=config)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_layer_kernels_are_checked_per_layer():
    hard_swish = one_core.load(tflite_model(activations, INPUT))
    names = [op.outputs[0].name for op in hard_swish.main.operators if op.type == "HARD_SWISH"]
    with pytest.raises(UnsupportedOperatorError, match="HARD_SWISH"):
        one_quantizer.quantize(hard_swish, calibration_records(hard_swish),
                               config={"layers": [{"names": names, "dtype": "int16", "granularity": "channel"}]})


def test_quant_config_on_the_command_line(tmp_path):
    float_path = tflite_model(conv_family, INPUT)
    model = one_core.load(float_path)
    np.savez(tmp_path / "calib.npz", np.stack([r[0] for r in calibration_records(model)]))
    config = tmp_path / "q.json"
    config.write_text(json.dumps({"default_quantization_dtype": "uint8", "default_granularity": "layer",
                                  "layers": [{"names": _layers(model, 3), "dtype": "int16",
                                              "granularity": "channel"}]}))
    out = tmp_path / "q.circle"
    result = CliRunner().invoke(cli, ["quantize", str(float_path), "-o", str(out), "--input_data",
                                      str(tmp_path / "calib.npz"), "--quant_config", str(config)])
    assert result.exit_code == 0, result.output
    assert one_core.load(out).main.inputs[0].dtype == DType.UINT8
    bad = CliRunner().invoke(cli, ["quantize", str(float_path), "-o", str(tmp_path / "x.circle"), "--input_data",
                                   str(tmp_path / "calib.npz"), "--quant_config", str(config),
                                   "--quantized_dtype", "int8"])
    assert bad.exit_code != 0 and "contradicts" in bad.output and not (tmp_path / "x.circle").exists()


@pytest.mark.parametrize("io", ["uint8", "int8"])
def test_int16_model_with_8bit_inputs_and_outputs(io, tmp_path):
    """16x8 inside, 8-bit at the boundaries (int16 -> uint8 through int8, which TFLite lacks)."""
    model, path = _quantized(tflite_model(conv_family, INPUT), tmp_path, dtype="int16", input_type=io,
                             output_type=io)
    assert model.main.inputs[0].dtype == model.main.outputs[0].dtype == DType[io.upper()]
    for seed in range(2):
        check_exact(path, seed=seed)
