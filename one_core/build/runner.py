"""A build: read a cfg or workflow file, check every step before any runs, then run them.

Checked first, so that a mistake stops the build before it writes anything: each section's keys
(unknown or unsupported keys are errors, or warnings with `lenient`), required keys, steps not
available here, and that every input exists or is the output of an earlier step."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, OneError
from ..passes.manager import select_passes
from .cfg import read_cfg
from .steps import Driver, StepSpec, Strictness, Warn, driver_for, path_of
from .workflow import read_workflow

Progress = Callable[[str], AbstractContextManager[Any]]


@dataclass
class PlannedStep:
    spec: StepSpec
    driver: Driver
    options: dict[str, str]  # the keys the step honours


def plan(specs: Sequence[StepSpec], strictness: Strictness) -> list[PlannedStep]:
    """Check `specs` and return the steps to run (with `lenient`, unavailable ones are left out)."""
    planned: list[PlannedStep] = []
    produced: set[Path] = set()
    skipped: dict[Path, str] = {}  # outputs of skipped steps: for a clearer message
    for spec in specs:
        driver = driver_for(spec.driver)
        reason = driver.unavailable()
        if reason is not None:
            strictness.problem(f"{spec.origin}: {reason}", "step skipped")
            output = spec.options.get("output_path", "").strip()
            if output:
                skipped[_key(path_of(output))] = spec.driver
            continue
        options = driver.validate(spec, strictness)
        try:
            inputs, outputs = driver.inputs(options), driver.outputs(options)
        except InputError as exc:  # a step's own arguments (one-codegen's command) are wrong
            raise InputError(f"{spec.origin}: {exc}") from None
        for path in inputs:
            if not path.exists() and _key(path) not in produced:
                why = f" (the skipped {skipped[_key(path)]} would have written it)" if _key(path) in skipped else ""
                key = next((k for k, v in options.items() if path_of(v) == path), "input")
                raise InputError(f"{spec.origin}: {key} {path}: no such file or directory{why}")
        for path in outputs:
            if not driver.makes_directories and not path.parent.is_dir():
                raise InputError(f"{spec.origin}: output_path {path}: directory {path.parent} does not exist")
            produced.add(_key(path))
        planned.append(PlannedStep(spec, driver, options))
    if not planned:
        raise InputError("nothing to build: no step can run")
    return planned


def run(planned: Sequence[PlannedStep], level: str | None = None, progress: Progress | None = None,
        report: Callable[[str], None] | None = None) -> list[str]:
    """Run the steps in order and return their one-line summaries (also given to `report`).
    Each step's [Environment] is set from its start to the end of the build, then restored.
    A step's error is raised with the cfg section or workflow step it came from."""
    summaries: list[str] = []
    saved: dict[str, str | None] = {}
    try:
        for i, step in enumerate(planned, 1):
            for key, value in step.spec.env.items():
                saved.setdefault(key, os.environ.get(key))
                os.environ[key] = value
            with (progress or _quiet)(f"[{i}/{len(planned)}] {step.spec.driver} ({step.spec.origin})"):
                try:
                    summary = f"{step.spec.driver}: {step.driver.run(step.options, level)}"
                except OneError as exc:
                    exc.args = (f"{step.spec.origin}: {exc}", *exc.args[1:])
                    raise
            summaries.append(summary)
            if report is not None:
                report(summary)
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return summaries


def build(config: str | os.PathLike[str] | None = None, workflow: str | os.PathLike[str] | None = None, *,
          level: str | None = None, lenient: bool = False, warn: Warn | None = None,
          progress: Progress | None = None, report: Callable[[str], None] | None = None) -> list[str]:
    """Run ONE's onecc `config` (.cfg) or `workflow` (.json) file, as `onecc -C` / `-W` does;
    `level` ("O1" or "1") adds that optimization level to every one-optimize step. Returns the
    steps' one-line summaries. Warnings go to `warn` (default: stderr)."""
    if level is not None:
        level = level if level.upper().startswith("O") else f"O{level}"
        select_passes(level)  # an unknown level is an error before anything runs
    strictness = Strictness(lenient, warn or _warn)
    if config is not None and workflow is None:
        specs = read_cfg(Path(config), strictness)
    elif workflow is not None and config is None:
        specs = read_workflow(Path(workflow), strictness)
    else:
        raise InputError("give a configuration file (-C) or a workflow file (-W), one of them")
    planned = plan(specs, strictness)
    if level is not None and not any(s.spec.driver == "one-optimize" for s in planned):
        strictness.warn(f"-{level} changes nothing: no one-optimize step runs")
    return run(planned, level, progress, report)


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _quiet(message: str) -> AbstractContextManager[Any]:
    return nullcontext()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
