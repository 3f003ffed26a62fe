"""`one codegen IN -o OUT_DIR`: write a model's C99 project."""

from __future__ import annotations

from pathlib import Path

import click

import one_core
from one_core.cli.progress import step
from one_core.errors import InputError
from one_core.options import parse_shapes



@click.command("codegen")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Folder to write the project into (replaced as a whole).")
@click.option("--name", default=None, help="C name prefix of the library (default: the model file's stem).")
@click.option("--input_shapes", "--input-shapes", "input_shapes", default=None,
              help="Static shapes for inputs with dynamic dimensions, e.g. 1,224,224,3:1,10.")
@click.option("--max_inline_weights", "--max-inline-weights", "inline_limit", type=int,
              default=None, help="Weights up to this many bytes (default 1 MiB) are compiled in; more go to "
                                 "NAME.weights.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads an OpenMP build (-fopenmp) may give the 8-bit convolutions (one scratch block each).")
def codegen_command(model: Path, output: Path, name: str | None, input_shapes: str | None,
                    inline_limit: int | None, threads: int) -> None:
    """Generate dependency-free C99 for MODEL: library, weights, Makefile, CMakeLists.txt, main.c."""
    click.echo(run_codegen(model, output, name, input_shapes, inline_limit, threads))


def run_codegen(model: Path, output: Path, name: str | None = None, input_shapes: str | None = None,
                inline_limit: int | None = None, threads: int = 1) -> str:
    """Load, generate and write; returns the summary line."""
    from .generate import generate  # loads the runtime's kernels: not when the command is only listed

    name = name or _identifier(model.stem)
    shapes = parse_shapes(input_shapes, "--input_shapes") if input_shapes else None
    with step(f"loading {model}"):
        m = one_core.load(model)
    with step(f"generating C for {name}"):
        project = generate(m, name, shapes, inline_limit, threads)
    with step(f"writing {output}"):
        project.write(output)
    weights = f"{project.weights_size} bytes " + ("in " + f"{name}.weights" if project.blob else "compiled in")
    return f"{output}: arena {project.arena_size} bytes, weights {weights}, kernels {', '.join(project.families)}"


def parse_command(args: list[str]) -> dict:
    """The parameters of `one codegen ARGS` (onecc's one-codegen `command`), checked."""
    try:
        ctx = codegen_command.make_context("codegen", list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        raise InputError("command: nothing to generate (help requested)") from None
    except click.ClickException as exc:
        raise InputError(f"command: {exc.format_message()}") from None
    return dict(ctx.params)


def _identifier(stem: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return out if out and not out[0].isdigit() else f"m_{out}"
