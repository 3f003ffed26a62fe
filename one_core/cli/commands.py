"""The core's commands: import, inspect, plugins."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..api import load, save
from ..errors import InputError
from ..inspection import describe, render_text
from ..plugin.manager import get_plugins
from .progress import step


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option '{pair}': expected KEY=VALUE")
        options[key.replace("-", "_")] = value
    return options


@click.command("import")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="The circle file to write (.tflite writes TFLite instead).")
@click.option("--frontend", help="Frontend to use (default: chosen from the file kind).")
@click.option("--option", "-X", "options", multiple=True, metavar="KEY=VALUE",
              help="An option for the frontend; may be repeated.")
def import_command(model: Path, output: Path, frontend: str | None, options: tuple[str, ...]) -> None:
    """Convert MODEL (TFLite, circle, or any kind a frontend accepts) into a circle file."""
    with step(f"importing {model}"):
        m = load(model, frontend=frontend, **_parse_options(options))
    with step(f"writing {output}"):
        save(m, output)
    n_ops = sum(len(sg.operators) for sg in m.subgraphs)
    click.echo(f"{output}: {len(m.subgraphs)} subgraph(s), {n_ops} operators")


@click.command("inspect")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--frontend", help="Frontend to read MODEL with (default: chosen from the file kind).")
def inspect_command(model: Path, as_json: bool, frontend: str | None) -> None:
    """Show a model's operators, tensors, quantization, signatures and metadata; for an
    nnpackage (directory or zip), its MANIFEST, configs, inputs, outputs and every model."""
    from ..packaging import is_package, open_package
    from ..packaging.inspection import describe_package, render_package_text

    if frontend is None and is_package(model):
        with open_package(model) as pkg:
            desc = describe_package(pkg)
        click.echo(json.dumps(desc, indent=1) if as_json else render_package_text(desc))
        return
    desc = describe(load(model, frontend=frontend))
    click.echo(json.dumps(desc, indent=1) if as_json else render_text(desc))


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins and what each registers."""
    plugins = get_plugins()  # commands were recorded per plugin when the group loaded them
    rows = [
        {"plugin": i.name, "distribution": i.distribution, "version": i.version,
         "provides": i.provides, **({"error": i.error} if i.error else {})}
        for i in plugins.info.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        click.echo(f"{r['plugin']} ({r['distribution']} {r['version']})")
        if "error" in r:
            click.echo(f"    failed to load: {r['error']}")
        for kind, names in sorted(r["provides"].items()):
            click.echo(f"    {kind}: {', '.join(names)}")
