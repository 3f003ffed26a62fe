"""`one quantize`: calibrate on representative data and quantize, under ONE's option names."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

import one_core
from one_core.circle.writer import atomic_write
from one_core.errors import InputError
from one_core.cli.progress import counter, step

from .data import count_records, random_records
from .evaluate import evaluate as evaluate_quantization
from .fake import fake_quantize
from .quantparams import copy_quantparam, force_quantparam
from .requantize import requantize
from .weights import quantize_weights
from .calibration import MAX_PERCENTILE, MIN_PERCENTILE, MOVING_AVG_BATCH, MOVING_AVG_CONST
from .quantize import quantize


@click.command("quantize")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "--output_path", "output", required=True, type=click.Path(path_type=Path),
              help="Quantized model (.circle, or .tflite).")
@click.option("-d", "--input_data", "--input-data", "input_data", type=click.Path(path_type=Path),
              help="Calibration data: .npz, ONE's .h5, or a directory of .npy/.npz records.")
@click.option("--random_data", "--random-data", "random_data", type=int, default=None, metavar="COUNT",
              help="Calibrate on COUNT seeded random records instead of --input_data (ranges then describe no "
                   "real input: for trials only).")
@click.option("--quantized_dtype", "--quantized-dtype", "dtype", type=click.Choice(["int8", "uint8", "int16"]),
              help="Activation type (default: the --quant_config default, else int8).")
@click.option("--granularity", type=click.Choice(["layer", "channel"]),
              help="Weight scales per output channel or per tensor (default: the --quant_config default, else channel).")
@click.option("--quant_config", "--quant-config", "--config", "config", type=click.Path(path_type=Path),
              help="Mixed precision: ONE's JSON of default_quantization_dtype, default_granularity and layers "
                   "(name/names, dtype, granularity).")
@click.option("--input_type", "--input-type", "input_type", type=click.Choice(["float32", "int8", "uint8", "int16"]),
              help="Type of the model's inputs (default: the quantized dtype).")
@click.option("--output_type", "--output-type", "output_type",
              type=click.Choice(["float32", "int8", "uint8", "int16"]),
              help="Type of the model's outputs (default: the quantized dtype).")
@click.option("--mode", default="percentile", show_default=True, type=click.Choice(["percentile", "moving_average"]))
@click.option("--min_percentile", "--min-percentile", "min_percentile", type=float, default=MIN_PERCENTILE,
              show_default=True)
@click.option("--max_percentile", "--max-percentile", "max_percentile", type=float, default=MAX_PERCENTILE,
              show_default=True)
@click.option("--moving_avg_batch", "--moving-avg-batch", "moving_avg_batch", type=int, default=MOVING_AVG_BATCH,
              show_default=True)
@click.option("--moving_avg_const", "--moving-avg-const", "moving_avg_const", type=float,
              default=MOVING_AVG_CONST, show_default=True)
@click.option("--evaluate", is_flag=True,
              help="Compare the quantized model with the float one on --test_data: output errors, per-layer SQNR.")
@click.option("--test_data", "--test-data", "test_data", type=click.Path(path_type=Path),
              help="Held-back records for --evaluate (same formats as --input_data).")
@click.option("--layers", type=int, default=10, show_default=True,
              help="Layers listed by --evaluate, worst SQNR first (0: all).")
@click.option("--report", type=click.Path(path_type=Path), help="Write the evaluation as JSON.")
@click.option("--quantize_weights", "--quantize-weights", "weights_only", is_flag=True,
              help="Weight-only: --quantized_dtype int8|int16 weights, float activations (no --input_data).")
@click.option("--requantize", "requant", nargs=2, type=str, default=None, metavar="FROM TO",
              help="On a quantized MODEL: move its int8 tensors to uint8 (--requantize int8 uint8).")
@click.option("--fake_quantize", "--fake-quantize", "fake", is_flag=True,
              help="On a quantized MODEL: write its float32 twin that rounds where it does (QUANTIZE-DEQUANTIZE).")
@click.option("--force_quantparam", "--force-quantparam", "force", is_flag=True,
              help="On a quantized MODEL: give each --tensor_name the --scale and --zero_point at its position.")
@click.option("--tensor_name", "--tensor-name", "tensor_names", multiple=True)
@click.option("--scale", "scales", type=float, multiple=True)
@click.option("--zero_point", "--zero-point", "zero_points", type=int, multiple=True)
@click.option("--copy_quantparam", "--copy-quantparam", "copy", is_flag=True,
              help="On a quantized MODEL: give each --dst_tensor_name the parameters of its --src_tensor_name.")
@click.option("--src_tensor_name", "--src-tensor-name", "src_names", multiple=True)
@click.option("--dst_tensor_name", "--dst-tensor-name", "dst_names", multiple=True)
def quantize_command(model: Path, output: Path, input_data: Path | None, random_data: int | None,
                     dtype: str | None, granularity: str | None, config: Path | None,
                     input_type: str | None, output_type: str | None, mode: str, min_percentile: float,
                     max_percentile: float, moving_avg_batch: int, moving_avg_const: float, evaluate: bool,
                     test_data: Path | None, layers: int, report: Path | None, weights_only: bool,
                     requant: tuple[str, str] | None, fake: bool, force: bool,
                     tensor_names: tuple[str, ...], scales: tuple[float, ...], zero_points: tuple[int, ...],
                     copy: bool, src_names: tuple[str, ...], dst_names: tuple[str, ...]) -> None:
    """Calibrate MODEL on --input_data and quantize it to full integer (or, with
    --force_quantparam / --copy_quantparam, set parameters of an already quantized MODEL)."""
    if weights_only:
        with step(f"loading {model}"):
            m = one_core.load(model)
        dtype, granularity = dtype or "int8", granularity or "channel"
        with step(f"quantizing weights to {dtype}"):
            quantize_weights(m, dtype, granularity)
        with step(f"writing {output}"):
            one_core.save(m, output)
        click.echo(f"{output}: {dtype} weights ({granularity}), float activations")
        return
    if force or copy or requant or fake:
        with step(f"loading {model}"):
            m = one_core.load(model)
        if requant:
            requantize(m, *requant)
        if force:
            force_quantparam(m, tensor_names, scales, zero_points)
        if copy:
            copy_quantparam(m, src_names, dst_names)
        if fake:
            fake_quantize(m)
        with step(f"writing {output}"):
            one_core.save(m, output)
        what = f"requantized {requant[0]} to {requant[1]}" if requant else "fake-quantized" if fake else "parameters set"
        click.echo(f"{output}: {what}" + (f" ({len(tensor_names) + len(dst_names)} tensor(s))" if force or copy else ""))
        return
    if (input_data is None) == (random_data is None):
        raise InputError("give calibration records with --input_data, or ask for random ones with --random_data N")
    if (evaluate or report) and test_data is None:
        raise InputError("--evaluate needs --test_data (held-back records)")
    with step(f"loading {model}"):
        m = one_core.load(model)
    data = input_data if random_data is None else random_records(m.main.inputs, random_data)
    with counter("calibrating (records)", count_records(data, m.main.inputs)) as done:
        quantize(m, data, dtype, granularity, input_type=input_type, output_type=output_type, config=config,
                 mode=mode, min_percentile=min_percentile, max_percentile=max_percentile,
                 moving_avg_batch=moving_avg_batch, moving_avg_const=moving_avg_const, on_record=done)
    with step(f"writing {output}"):
        one_core.save(m, output)
    types = Counter(t.dtype.name.lower() for _, op in m.operators() for t in op.outputs if t.dtype.name != "FLOAT32")
    click.echo(f"{output}: {sum(1 for _ in m.operators())} operators, activations "
               + ", ".join(f"{n} {name}" for name, n in types.most_common()))
    if evaluate or report:
        with step(f"evaluating on {test_data}"):
            result = evaluate_quantization(one_core.load(model), m, test_data)
        click.echo(result.format(layers))
        if report:
            atomic_write(report, [json.dumps(result.as_dict(), indent=1).encode()])
