"""`one run`: run a model on a backend, with given or seeded random inputs, and time it."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..api import Session
from ..errors import InputError, OneError
from ..packaging.check import compare_outputs
from ..tensorio import read_tensors, write_tensors
from .progress import step


def random_inputs(infos: Any, seed: int) -> list[np.ndarray]:
    """Seeded inputs for a model: N(0, 1) floats, small non-negative integers, random booleans.
    Dynamic dimensions (-1) become 1."""
    rng = np.random.default_rng(seed)
    out = []
    for info in infos:
        shape = tuple(1 if d < 0 else d for d in info.shape)
        dtype = np.dtype(info.dtype)
        if dtype.kind == "f":
            out.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind == "b":
            out.append(rng.random(shape) < 0.5)
        else:
            info_range = np.iinfo(dtype)
            out.append(rng.integers(max(info_range.min, -128), min(info_range.max, 127), size=shape, endpoint=True).astype(dtype))
    return out


@click.command("run")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--input", "-i", "input_file", type=click.Path(path_type=Path),
              help="Inputs: .npz keyed by tensor name, or ONE's .h5 layout. Default: seeded random.")
@click.option("--output", "-o", "output_file", type=click.Path(path_type=Path),
              help="Write outputs to .npz or .h5 (default: print a summary).")
@click.option("--backend", help="Backend to run on (default: the first installed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Timed runs.")
@click.option("--warmup", type=click.IntRange(min=0), default=0, show_default=True, help="Untimed runs first.")
@click.option("--report", type=click.Path(path_type=Path), help="Write latencies as JSON.")
@click.option("--profile", is_flag=True, help="Print time per operator.")
@click.option("--check", is_flag=True,
              help="nnpackage: run its metadata/tc/input.h5 and compare with expected.h5; exit 1 on mismatch.")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-5, show_default=True,
              help="With --check: float tolerance, relative to each output's largest magnitude.")
def run_command(model: Path, input_file: Path | None, output_file: Path | None, backend: str | None,
                seed: int, repeat: int, warmup: int, report: Path | None, profile: bool,
                check: bool, rtol: float) -> None:
    """Run MODEL (a model file or an nnpackage) on a backend; print or save its outputs, and
    latencies with --repeat."""
    with step(f"preparing {model}"):
        session = Session(model, backend=backend)
    names = [i.name for i in session.inputs]
    expected = None
    if check:
        pkg = session.package
        if pkg is None or pkg.test_inputs is None or pkg.test_expected is None:
            raise InputError(f"{model}: --check needs an nnpackage with metadata/tc/input.h5 and expected.h5")
        if input_file is not None:
            raise InputError("--check runs the package's stored inputs; leave out --input")
        input_file = pkg.test_inputs
        expected = read_tensors(pkg.test_expected, [o.name for o in session.outputs])
    inputs = read_tensors(input_file, names) if input_file else random_inputs(session.inputs, seed)
    for _ in range(warmup):
        session.run(inputs)
    if profile:
        session.set_profiling(True)
    times, outputs = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = session.run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    if output_file:
        write_tensors(output_file, outputs)
        click.echo(f"{output_file}: {len(outputs)} output(s)")
    elif expected is None:
        for name, value in outputs.items():
            click.echo(_summary(name, np.asarray(value)))
    failed = []
    if expected is not None:
        for result in compare_outputs(outputs, expected, rtol):
            click.echo(str(result))
            if not result.ok:
                failed.append(result.name)
    latency = {"min": min(times), "median": statistics.median(times), "max": max(times),
               "mean": statistics.fmean(times)}
    if repeat > 1 or report:
        click.echo(f"latency over {repeat} run(s) (backend {session.backend}): min {latency['min']:.3f} ms, "
                   f"median {latency['median']:.3f} ms, max {latency['max']:.3f} ms")
    if report:
        data = {"model": str(model), "backend": session.backend, "repeat": repeat, "warmup": warmup,
                "latency_ms": latency}
        report.write_text(json.dumps(data, indent=1) + "\n")
    if profile:
        _print_profile(session.operator_times(), repeat)
    if failed:
        raise OneError(f"{model}: {len(failed)} of {len(outputs)} output(s) differ from metadata/tc/expected.h5: "
                       f"{', '.join(failed)}")


def _summary(name: str, value: np.ndarray) -> str:
    text = f"{name}: {value.dtype} {list(value.shape)}"
    if value.size and value.dtype.kind in "fiub":
        v = value.astype(np.float64)
        text += f"  min {v.min():.6g} max {v.max():.6g} mean {v.mean():.6g}"
    return text


def _print_profile(rows: list[tuple[str, str, float]], runs: int) -> None:
    if not rows:
        raise InputError("the backend recorded no operator times")
    total = sum(r[2] for r in rows) or 1e-12
    by_type: dict[str, tuple[int, float]] = {}
    for op_type, _, seconds in rows:
        count, spent = by_type.get(op_type, (0, 0.0))
        by_type[op_type] = (count + 1, spent + seconds)
    click.echo(f"\n{'operator':<28} {'count':>5} {'ms/run':>9} {'share':>6}")
    for op_type, (count, spent) in sorted(by_type.items(), key=lambda kv: -kv[1][1]):
        click.echo(f"{op_type:<28} {count:>5} {spent / runs * 1e3:>9.3f} {spent / total:>6.1%}")
    slowest = sorted(rows, key=lambda r: -r[2])[:10]
    click.echo(f"\n{'slowest operators':<28} {'output':<40} {'ms/run':>9}")
    for op_type, name, seconds in slowest:
        click.echo(f"{op_type:<28} {name[:40]:<40} {seconds / runs * 1e3:>9.3f}")
