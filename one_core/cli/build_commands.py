"""`one build` (ONE's onecc -C / -W) and `one init` (a starter cfg for a model)."""

from __future__ import annotations

from pathlib import Path

import click

from ..build import build, write_starter_cfg
from .progress import step


@click.command("build")
@click.option("-C", "--config", type=click.Path(path_type=Path), help="ONE's onecc configuration file (.cfg).")
@click.option("-W", "--workflow", type=click.Path(path_type=Path), help="ONE's onecc workflow file (.json).")
@click.option("-O", "level", metavar="LEVEL",
              help="Add an optimization level to every one-optimize step: -O1 (as onecc -O1).")
@click.option("--lenient", is_flag=True,
              help="Warn about keys, sections and steps that cannot be honoured, and go on without them.")
def build_command(config: Path | None, workflow: Path | None, level: str | None, lenient: bool) -> None:
    """Run ONE's onecc configuration (-C) or workflow (-W) file: import, optimize and pack as
    its sections say, with the installed frontends and passes.

    Every step is checked before the first runs: an unknown key or section, a step not
    available here or a missing input stops the build before it writes anything."""
    build(config, workflow, level=level, lenient=lenient, progress=step, report=click.echo)


@click.command("init")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "--output_path", "output", type=click.Path(path_type=Path),
              help="The cfg file to write (default: the model's name with .cfg, here).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init_command(model: Path, output: Path | None, force: bool) -> None:
    """Write a starter onecc cfg for MODEL (.tflite, .onnx, .pb, .keras, .h5, .circle or a
    SavedModel directory): its import step, one-optimize with the O1 passes, one-pack."""
    output = output or Path(f"{model.stem or 'model'}.cfg")
    notes = write_starter_cfg(model, output, force=force)
    click.echo(f"{output}: run it with `one build -C {output}`")
    for note in notes:
        click.echo(f"note: {note}", err=True)
