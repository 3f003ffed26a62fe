"""`one passes` and `one optimize`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InputError
from .outputs import change_outputs, parse_output_names
from .manager import (
    PassManager,
    available_passes,
    normalize_name,
    select_passes,
    unknown_pass_error,
)


def _pass_rows() -> list[dict]:
    from ..plugin.manager import get_plugins

    registry = get_plugins().passes
    return [
        {"name": name, "description": p.description, "levels": sorted(p.levels),
         "plugin": registry.owner(name)}
        for name, p in registry.items()
    ]


@click.command("passes")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def passes_command(as_json: bool) -> None:
    """List the optimization passes: name (the `one optimize --NAME` flag), whether -O1
    runs it, and what it does. Passes run in this order."""
    rows = _pass_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no pass is installed (install one-passes)")
        return
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'NAME':<{width}}  O1  DESCRIPTION")
    for r in rows:
        mark = "yes" if "O1" in r["levels"] else "-"
        click.echo(f"{r['name']:<{width}}  {mark:<3} {r['description']}")


_EPILOG = """\b
Passes are chosen with flags named after them, as ONE's circle2circle spells them
(underscores or dashes): --fuse_batchnorm_with_conv --fold_dequantize ... and -O1 (or --O1)
for the O1 group, which is also the default when no flag is given. `one passes` lists them.
--change_outputs a,b makes those tensors the model's outputs first (operators only the old
outputs needed go).
"""


@click.command("optimize", epilog=_EPILOG,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="MODEL [-O1] [--PASS_NAME ...]")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="The optimized model to write (.tflite writes TFLite, anything else circle).")
@click.option("--report", is_flag=True, help="Print operators per type before/after and what each pass did.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def optimize_command(ctx: click.Context, args: tuple[str, ...], output: Path, report: bool,
                     as_json: bool) -> None:
    """Optimize MODEL (circle, TFLite, or any kind a frontend reads) with circle2circle passes
    and write the result."""
    from ..api import load, save
    from ..cli.progress import step

    model_path, level, names, new_outputs = _parse(args)
    registry = available_passes()
    chosen = select_passes(level, names, registry)
    if not chosen:
        raise InputError("no optimization pass is installed (install one-passes)")
    with step(f"loading {model_path}"):
        model = load(model_path)
    if new_outputs is not None:
        change_outputs(model, parse_output_names(new_outputs))
    debug = bool(ctx.obj and ctx.obj.get("debug")) or None
    with step("optimizing"):
        result = PassManager(chosen, debug=debug).run(model)
    with step(f"writing {output}"):
        save(model, output)
    if as_json:
        click.echo(json.dumps({"output": str(output), **result.as_dict()}, indent=1))
        return
    what = f"{level}" if level and not names else ", ".join(p.name for p in chosen) if len(chosen) <= 3 else f"{len(chosen)} passes"
    click.echo(
        f"{output}: {sum(result.before.values())} -> {sum(result.after.values())} operators "
        f"({what}, {result.rounds} round(s), {result.seconds * 1000:.0f} ms)"
    )
    if report:
        click.echo(result.render())


def _parse(args: tuple[str, ...]) -> tuple[Path, str | None, list[str], str | None]:
    """MODEL, the level, pass names and `--change_outputs NAMES` from the raw arguments."""
    model: Path | None = None
    level: str | None = None
    names: list[str] = []
    change_outputs: str | None = None
    known = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-O1", "--O1", "-o1", "--o1"):
            level = "O1"
        elif normalize_name(arg.split("=", 1)[0]) == "change_outputs":
            if "=" in arg:
                change_outputs = arg.split("=", 1)[1]
            elif rest:
                change_outputs = rest.pop(0)
            else:
                raise InputError("--change_outputs needs the comma-separated names of the new outputs")
        elif arg.startswith("-"):
            name = normalize_name(arg)
            if known is None:
                known = available_passes()
            if name not in known:
                raise unknown_pass_error(name, known)
            names.append(name)
        elif model is None:
            model = Path(arg)
        else:
            raise InputError(f"unexpected argument '{arg}' (one model at a time)")
    if model is None:
        raise InputError("missing the model to optimize: one optimize MODEL -o OUTPUT [-O1] [--PASS ...]")
    if level is None and not names:
        level = "O1"
    return model, level, names, change_outputs
