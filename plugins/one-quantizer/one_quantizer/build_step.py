"""onecc's `[one-quantize]` section: ONE's one-quantize keys and defaults (uint8, per layer,
random calibration data when no input_data is given), run with this plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from one_core import load, save
from one_core.build import Driver, path_of
from one_core.errors import InputError
from one_core.options import parse_bool

from .config import QuantConfig, read_config
from .calibration import MAX_PERCENTILE, MIN_PERCENTILE, MOVING_AVG_BATCH, MOVING_AVG_CONST
from .data import random_records
from .evaluate import evaluate
from .fake import fake_quantize
from .quantize import quantize
from .quantparams import copy_quantparam, force_quantparam
from .requantize import requantize

#: How many records one-quantize calibrates on when no input_data is given (record-minmax's
#: random mode uses a few; enough for ranges that describe nothing real anyway).
RANDOM_RECORDS = 8
_FLAGS = ("force_quantparam", "copy_quantparam", "fake_quantize", "requantize", "evaluate_result",
          "TF-style_maxpool", "save_intermediate", "verbose", "print_mae", "print_mse", "print_mape", "print_mpeir",
          "print_top1_match", "print_top5_match")
_VALUES = ("input_data", "input_data_format", "input_dtype", "input_model_dtype", "quantized_dtype", "granularity",
           "input_type", "output_type", "mode", "min_percentile", "max_percentile", "moving_avg_batch",
           "moving_avg_const", "quant_config", "test_data", "tensor_name", "scale", "zero_point", "src_tensor_name",
           "dst_tensor_name")


class QuantizeDriver(Driver):
    """one-quantize: calibrate and quantize `input_path` into `output_path`, or with
    `force_quantparam`, `copy_quantparam`, `requantize` or `fake_quantize` rewrite an already
    quantized model. Lists (`tensor_name`, `scale`, ...) are separated by spaces or commas."""

    name = "one-quantize"
    keys = frozenset((*_FLAGS, *_VALUES))
    flags = frozenset(_FLAGS)
    unsupported = {
        "generate_profile_data": "no profile data is generated here",
        "ampq": "automatic mixed precision search is not implemented (give a quant_config)",
        "save_min_max": "ranges are not written to a separate file (they stay in the calibrated model)",
    }

    def inputs(self, options: Mapping[str, str]) -> list[Any]:
        return [path_of(options[k]) for k in ("input_path", "input_data", "quant_config", "test_data") if k in options]

    def run(self, options: Mapping[str, str], level: str | None) -> str:
        on = {k: parse_bool(k, options[k], self.name) for k in _FLAGS if k in options}
        model = load(path_of(options["input_path"]))
        output = path_of(options["output_path"])
        if on.get("force_quantparam") or on.get("copy_quantparam") or on.get("requantize") or on.get("fake_quantize"):
            return self._rewrite(model, output, options, on)
        model_dtype = options.get("input_model_dtype", options.get("input_dtype", "float32"))
        if model_dtype != "float32":
            raise InputError(f"input_model_dtype={model_dtype}: the model to quantize must be float32")
        if options.get("input_data_format", "h5") not in ("h5", "hdf5", "dir", "directory"):
            raise InputError(f"input_data_format={options['input_data_format']}: only h5 and dir (a directory of "
                             ".npy/.npz records) are read here")
        data: Any = path_of(options["input_data"]) if "input_data" in options else \
            random_records(model.main.inputs, RANDOM_RECORDS)
        config = read_config(path_of(options["quant_config"])) if "quant_config" in options else QuantConfig()
        dtype = options.get("quantized_dtype") or config.default_dtype or "uint8"
        granularity = options.get("granularity") or config.default_granularity or "layer"
        quantize(model, data, dtype, granularity, input_type=options.get("input_type"),
                 output_type=options.get("output_type"), config=config, mode=options.get("mode", "percentile"),
                 min_percentile=_number(options, "min_percentile", MIN_PERCENTILE),
                 max_percentile=_number(options, "max_percentile", MAX_PERCENTILE),
                 moving_avg_batch=int(_number(options, "moving_avg_batch", MOVING_AVG_BATCH)),
                 moving_avg_const=_number(options, "moving_avg_const", MOVING_AVG_CONST))
        save(model, output)
        summary = f"{output}: {dtype} ({granularity}" + \
            (f", {len(config.layers)} config rule(s)" if config.layers else "") + \
            (")" if "input_data" in options else f", calibrated on {RANDOM_RECORDS} random records)")
        if on.get("evaluate_result"):
            if "test_data" not in options:
                raise InputError("evaluate_result needs test_data")
            result = evaluate(load(path_of(options["input_path"])), model, path_of(options["test_data"]))
            summary += "\n" + result.format()
        return summary

    def _rewrite(self, model: Any, output: Any, options: Mapping[str, str], on: Mapping[str, bool]) -> str:
        done = []
        if on.get("requantize"):
            requantize(model, options.get("input_model_dtype", options.get("input_dtype", "int8")),
                       options.get("quantized_dtype", "uint8"))
            done.append("requantized")
        if on.get("force_quantparam"):
            force_quantparam(model, _list(options, "tensor_name"), [float(s) for s in _list(options, "scale")],
                             [int(z) for z in _list(options, "zero_point")])
            done.append("parameters forced")
        if on.get("copy_quantparam"):
            copy_quantparam(model, _list(options, "src_tensor_name"), _list(options, "dst_tensor_name"))
            done.append("parameters copied")
        if on.get("fake_quantize"):
            fake_quantize(model)
            done.append("fake-quantized")
        save(model, output)
        return f"{output}: {', '.join(done)}"


def _number(options: Mapping[str, str], key: str, default: float) -> float:
    try:
        return float(options[key]) if key in options else default
    except ValueError:
        raise InputError(f"{key}={options[key]}: not a number") from None


def _list(options: Mapping[str, str], key: str) -> list[str]:
    return options.get(key, "").replace(",", " ").split()
