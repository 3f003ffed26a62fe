"""`one import-tf`: ONE's one-import-tf flags on top of the tf frontend.

`one import MODEL -o OUT -X input_arrays=...` does the same through the core's generic
`-X KEY=VALUE` options; this command offers ONE's own spelling (`-I/--input_arrays`,
`-s/--input_shapes`, `-O/--output_arrays`, `--v1/--v2`, `--graph_def/--saved_model/--keras_model`).
"""

from __future__ import annotations

from pathlib import Path

import click

from one_core import load, save
from one_core.cli.progress import step
from one_core.errors import InputError


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option '{pair}': expected KEY=VALUE")
        out[key.replace("-", "_")] = value
    return out


@click.command("import-tf")
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("-i", "--input_path", "--input-path", "input_path", type=click.Path(path_type=Path),
              help="The TensorFlow model (as MODEL): SavedModel directory, .keras/.h5, frozen .pb.")
@click.option("-o", "--output_path", "--output-path", "output", required=True, type=click.Path(path_type=Path),
              help="The circle file to write (.tflite writes TFLite instead).")
@click.option("-I", "--input_arrays", "--input-arrays", "input_arrays", help="Input names, comma-separated.")
@click.option("-s", "--input_shapes", "--input-shapes", "input_shapes",
              help='Shapes of --input_arrays (or of the inputs in order), colon-separated, e.g. "1,4,4,3:1,20".')
@click.option("-O", "--output_arrays", "--output-arrays", "output_arrays", help="Output names, comma-separated.")
@click.option("--v1", "converter_version", flag_value="v1", help="Use TensorFlow's TFLite converter 1.x.")
@click.option("--v2", "converter_version", flag_value="v2", help="Use TensorFlow's TFLite converter 2.x.")
@click.option("--graph_def", "--graph-def", "model_format", flag_value="graph_def", help="MODEL is a frozen GraphDef.")
@click.option("--saved_model", "--saved-model", "model_format", flag_value="saved_model", help="MODEL is a SavedModel.")
@click.option("--keras_model", "--keras-model", "model_format", flag_value="keras_model", help="MODEL is a Keras file.")
@click.option("--option", "-X", "options", multiple=True, metavar="KEY=VALUE",
              help="Any other option of the tf frontend (see docs/frontend-tf.md); may be repeated.")
def import_tf_command(model: Path | None, input_path: Path | None, output: Path, input_arrays: str | None,
                      input_shapes: str | None, output_arrays: str | None, converter_version: str | None,
                      model_format: str | None, options: tuple[str, ...]) -> None:
    """Convert a TensorFlow model into a circle file, with ONE's one-import-tf options.

    Without --graph_def/--saved_model/--keras_model the format comes from MODEL itself; the
    converter defaults to --v1 for a GraphDef (as ONE) and --v2 otherwise."""
    if model is not None and input_path is not None and model != input_path:
        raise InputError("give the model once: as MODEL or with -i/--input_path")
    source = model or input_path
    if source is None:
        raise InputError("the model is missing: give MODEL or -i/--input_path")
    kwargs: dict[str, str] = _options(options)
    for key, value in (("input_arrays", input_arrays), ("input_shapes", input_shapes),
                       ("output_arrays", output_arrays), ("converter_version", converter_version),
                       ("model_format", model_format)):
        if value is not None:
            if key in kwargs:
                raise InputError(f"{key} is given twice (as a flag and with -X)")
            kwargs[key] = value
    with step(f"importing {source}"):
        m = load(source, frontend="tf", **kwargs)
    with step(f"writing {output}"):
        save(m, output)
    n_ops = sum(len(sg.operators) for sg in m.subgraphs)
    click.echo(f"{output}: {len(m.subgraphs)} subgraph(s), {n_ops} operators")
