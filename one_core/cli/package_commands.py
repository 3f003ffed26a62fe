"""`one pack` and `one unpack`: write nnpackages, and extract zipped ones safely."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError
from ..packaging import RandomTestData, ZipLimits, open_package, pack
from ..packaging.archive import DEFAULT_LIMITS, is_zip
from ..packaging.package import default_dir_mode
from .progress import step


@click.command("pack")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "--output_path", "--output-path", "output", required=True,
              type=click.Path(path_type=Path),
              help="Directory to write the package into; the package is OUTPUT/NAME.")
@click.option("--name", "-p", help="Package name (default: the first model's file name without extension).")
@click.option("--config", "-c", type=click.Path(path_type=Path),
              help="Runtime configuration (KEY=VALUE lines) stored as metadata/FILE.")
@click.option("--connect", "connects", multiple=True, metavar="FROM=TO[,TO...]",
              help="Feed output M:S:O of one model to inputs M:S:I of others; repeatable.")
@click.option("--pkg-input", "--pkg_input", "pkg_inputs", multiple=True, metavar="M:S:I",
              help="A package input (default with --connect: every input no connection feeds).")
@click.option("--pkg-output", "--pkg_output", "pkg_outputs", multiple=True, metavar="M:S:O",
              help="A package output (default with --connect: every output no connection reads).")
@click.option("--with-test-data", "--with_test_data", "with_test_data", is_flag=True,
              help="Run the package on seeded random inputs; store metadata/tc/input.h5 and expected.h5.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the test inputs.")
@click.option("--backend", help="Backend that computes the test data (default: the first installed).")
def pack_command(models: tuple[Path, ...], output: Path, name: str | None, config: Path | None,
                 connects: tuple[str, ...], pkg_inputs: tuple[str, ...], pkg_outputs: tuple[str, ...],
                 with_test_data: bool, seed: int, backend: str | None) -> None:
    """Package MODELS (.circle or .tflite) as an nnpackage OUTPUT/NAME, ONE's layout.

    Triples are MODEL:SUBGRAPH:IO, IO being the position among the subgraph's inputs or outputs."""
    if (backend is not None or seed != 0) and not with_test_data:
        raise InputError("--seed and --backend only apply with --with-test-data")
    test_data = RandomTestData(seed, backend) if with_test_data else None
    with step(f"packing {len(models)} model(s)"):
        path = pack(list(models), output, name=name, config=config, connect=list(connects),
                    pkg_inputs=list(pkg_inputs), pkg_outputs=list(pkg_outputs), test_data=test_data)
    with open_package(path) as pkg:
        m = pkg.manifest
        ins, outs = pkg.io_names()
    extra = ", test data metadata/tc/{input,expected}.h5" if with_test_data else ""
    click.echo(f"{path}: {len(m.models)} model(s), MANIFEST {m.version_string}, "
               f"inputs {', '.join(ins) or '-'}, outputs {', '.join(outs) or '-'}{extra}")


@click.command("unpack")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Directory to create for the package (must not exist, or be empty).")
@click.option("--max-size", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_total_bytes, show_default=True,
              help="Refuse archives holding more bytes than this, uncompressed.")
@click.option("--max-entries", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_entries, show_default=True,
              help="Refuse archives with more entries than this.")
def unpack_command(archive: Path, output: Path, max_size: int, max_entries: int) -> None:
    """Extract a zipped nnpackage ARCHIVE into OUTPUT, safely, and validate it.

    Entries with absolute paths, `..`, links or special files are refused, as are archives over
    the limits; nothing is written outside a temporary directory beside OUTPUT until the whole
    package has been extracted and checked, then it is renamed to OUTPUT."""
    if not archive.is_file():
        raise InputError(f"{archive}: no such file")
    if not is_zip(archive):
        raise InputError(f"{archive}: not a zip archive")
    if output.exists() and not (output.is_dir() and not any(output.iterdir())):
        raise InputError(f"{output}: exists and is not an empty directory")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{output}: directory {parent} does not exist")
    with step(f"extracting {archive}"):
        # extracted into a temporary directory beside OUTPUT and validated there
        pkg = open_package(archive, limits=ZipLimits(max_size, max_entries), workdir=parent)
    with pkg:
        count, version = len(pkg.manifest.models), pkg.manifest.version_string
        if output.exists():
            output.rmdir()
        os.chmod(pkg.root, default_dir_mode())
        os.rename(pkg.root, output)
    click.echo(f"{output}: {count} model(s), MANIFEST {version}")
