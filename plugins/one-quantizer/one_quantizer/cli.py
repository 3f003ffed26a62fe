"""`one quantize`: calibrate on representative data and quantize, under ONE's option names."""

from __future__ import annotations

from pathlib import Path

import json

import click

import one_core
from one_core.circle.writer import atomic_write
from one_core.errors import InputError
from one_core.cli.progress import step

from .evaluate import evaluate as evaluate_quantization
from .calibration import MAX_PERCENTILE, MIN_PERCENTILE, MOVING_AVG_BATCH, MOVING_AVG_CONST
from .quantize import quantize


@click.command("quantize")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "--output_path", "output", required=True, type=click.Path(path_type=Path),
              help="Quantized model (.circle, or .tflite).")
@click.option("-d", "--input_data", "--input-data", "input_data", required=True, type=click.Path(path_type=Path),
              help="Calibration data: .npz, ONE's .h5, or a directory of .npy/.npz records.")
@click.option("--quantized_dtype", "--quantized-dtype", "dtype", default="int8", show_default=True,
              type=click.Choice(["int8", "uint8", "int16"]))
@click.option("--granularity", default="channel", show_default=True, type=click.Choice(["layer", "channel"]))
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
def quantize_command(model: Path, output: Path, input_data: Path, dtype: str, granularity: str,
                     input_type: str | None, output_type: str | None, mode: str, min_percentile: float,
                     max_percentile: float, moving_avg_batch: int, moving_avg_const: float, evaluate: bool,
                     test_data: Path | None, layers: int, report: Path | None) -> None:
    """Calibrate MODEL on --input_data and quantize it to full integer."""
    if (evaluate or report) and test_data is None:
        raise InputError("--evaluate needs --test_data (held-back records)")
    with step(f"loading {model}"):
        m = one_core.load(model)
    with step(f"calibrating on {input_data} and quantizing to {dtype}"):
        quantize(m, input_data, dtype, granularity, input_type=input_type, output_type=output_type, mode=mode,
                 min_percentile=min_percentile, max_percentile=max_percentile,
                 moving_avg_batch=moving_avg_batch, moving_avg_const=moving_avg_const)
    with step(f"writing {output}"):
        one_core.save(m, output)
    click.echo(f"{output}: {dtype} ({granularity}), {sum(1 for _ in m.operators())} operators")
    if evaluate or report:
        with step(f"evaluating on {test_data}"):
            result = evaluate_quantization(one_core.load(model), m, test_data)
        click.echo(result.format(layers))
        if report:
            atomic_write(report, [json.dumps(result.as_dict(), indent=1).encode()])
