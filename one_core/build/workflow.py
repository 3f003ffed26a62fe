"""ONE's onecc workflow files (`onecc -W flow.json`).

    {"workflows": ["A", "B"],
     "A": {"steps": ["IMPORT", "OPTIMIZE"],
           "IMPORT": {"one-cmd": "one-import-tflite", "commands": {"input_path": ..., ...}},
           "OPTIMIZE": {...}},
     "B": {"run-after": ["A"], "cfg-reference": {"path": "b.cfg"}}}

A workflow has either `steps` (names of its step objects, run in that order; a step's
`commands` are the keys of the cfg section of its `one-cmd`) or `cfg-reference` (a cfg file run
as `-C` runs it). Workflows run in the listed order except that one runs after those its
`run-after` names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from .cfg import read_cfg
from .steps import DRIVERS, StepSpec, Strictness, path_of, unknown_key

WORKFLOWS = "workflows"
RUN_AFTER = "run-after"
CFG_REFERENCE = "cfg-reference"
STEPS = "steps"
ONE_CMD = "one-cmd"
COMMANDS = "commands"


def read_workflow(path: Path, strictness: Strictness) -> list[StepSpec]:
    """Every step of every workflow in `path`, in the order they run."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a valid workflow file ({exc})") from None
    if not isinstance(data, dict) or WORKFLOWS not in data:
        raise InputError(f'{path}: no "{WORKFLOWS}" key (the list of workflows to run)')
    names = _names(data[WORKFLOWS], f'{path}: "{WORKFLOWS}"')
    workflows = {}
    for name in names:
        workflow = data.get(name)
        if not isinstance(workflow, dict):
            raise InputError(f'{path}: workflow "{name}" is listed in "{WORKFLOWS}" but not defined')
        if (STEPS in workflow) == (CFG_REFERENCE in workflow):
            raise InputError(f'{path}: workflow "{name}" needs either "{STEPS}" or "{CFG_REFERENCE}" (one of them)')
        workflows[name] = workflow
    after = {name: _names(w.get(RUN_AFTER, []), f'{path}: "{name}": "{RUN_AFTER}"') for name, w in workflows.items()}
    for name, previous in after.items():
        for other in previous:
            if other not in workflows:
                raise InputError(f'{path}: "{name}" runs after "{other}", which is not a listed workflow')
    specs: list[StepSpec] = []
    for name in run_order(names, after, str(path)):
        workflow = workflows[name]
        if CFG_REFERENCE in workflow:
            ref = workflow[CFG_REFERENCE]
            if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
                raise InputError(f'{path}: "{name}": "{CFG_REFERENCE}" must be {{"path": "file.cfg"}}')
            specs += read_cfg(path_of(ref["path"]), strictness)
        else:
            specs += [_step(workflow, step, f"{path} {name}/{step}")
                      for step in _names(workflow[STEPS], f'{path}: "{name}": "{STEPS}"')]
    return specs


def run_order(names: list[str], after: dict[str, list[str]], label: str) -> list[str]:
    """`names` in their order, except that each comes after those it runs after; a cycle is an
    error naming it."""
    done: list[str] = []
    pending = list(names)
    while pending:
        ready = next((n for n in pending if all(p in done for p in after[n])), None)
        if ready is None:
            raise InputError(f"{label}: workflows run after each other in a cycle: {_cycle(pending, after)}")
        done.append(ready)
        pending.remove(ready)
    return done


def _cycle(pending: list[str], after: dict[str, list[str]]) -> str:
    path = [pending[0]]
    while True:  # every pending workflow waits for another pending one: walk back until one repeats
        step = next(p for p in after[path[-1]] if p in pending)
        if step in path:
            loop = path[path.index(step):] + [step]
            return " -> ".join(reversed(loop))
        path.append(step)


def _step(workflow: dict[str, Any], step: str, origin: str) -> StepSpec:
    body = workflow.get(step)
    if not isinstance(body, dict):
        raise InputError(f"{origin}: the step is listed but not defined")
    driver, commands = body.get(ONE_CMD), body.get(COMMANDS)
    if not isinstance(driver, str) or not isinstance(commands, dict):
        raise InputError(f'{origin}: a step needs "{ONE_CMD}" (a driver name) and "{COMMANDS}" (its keys)')
    if driver not in DRIVERS:
        raise InputError(f"{origin}: {unknown_key(driver, DRIVERS, 'driver')}")
    return StepSpec(driver, {k: _text(v, f"{origin}: {k}") for k, v in commands.items()}, origin)


def _names(value: Any, label: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{label} must be a list of names")
    if len(set(value)) != len(value):
        raise InputError(f"{label} lists a name twice")
    return value


def _text(value: Any, label: str) -> str:
    """A command's value as the cfg text it stands for ("True" for true, as ONE writes it)."""
    if isinstance(value, (str, int, float)):  # bool too: True -> "True"
        return str(value)
    raise InputError(f"{label} must be a string, number or boolean")
