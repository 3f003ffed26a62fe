"""ONE's onecc configuration files (.cfg): INI sections, keys case-sensitive.

`[onecc]` switches drivers on (`one-import-tf=True`); each switched-on driver reads its own
section; they run in onecc's fixed order whatever the order in the file. `[Environment]` sets
environment variables while the steps run. `[one-build]` is the deprecated name of `[onecc]`."""

from __future__ import annotations

import configparser
from pathlib import Path

from ..errors import InputError
from ..options import parse_bool
from .steps import DRIVERS, StepSpec, Strictness, unknown_key

ONECC = "onecc"
LEGACY_ONECC = "one-build"
ENVIRONMENT = "Environment"

#: The order onecc runs drivers in, whatever their order in the file.
ORDER = tuple(DRIVERS)


def read_cfg(path: Path, strictness: Strictness) -> list[StepSpec]:
    """The steps `path` switches on, in onecc's order, with their sections' keys (not yet
    checked against what each step honours: see `runner.plan`)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise InputError(f"{path}: not a readable configuration file ({_one_line(exc)})") from None
    switches = [s for s in (ONECC, LEGACY_ONECC) if parser.has_section(s)]
    if not switches:
        raise InputError(f"{path}: no [onecc] section (it lists the steps to run, e.g. one-import-tflite=True)")
    if switches == [LEGACY_ONECC]:
        strictness.warn(f"{path}: [one-build] is deprecated; name the section [onecc]")
    for section in parser.sections():
        if section not in (ONECC, LEGACY_ONECC, ENVIRONMENT) and section not in DRIVERS:
            strictness.problem(f"{path}: {unknown_key(section, [ONECC, ENVIRONMENT, *ORDER], 'section')}")
    enabled: set[str] = set()
    for section in switches:
        for key, value in parser.items(section):
            label = f"{path} [{section}]"
            if key not in DRIVERS:
                strictness.problem(f"{label}: {unknown_key(key, ORDER)}")
            elif parse_bool(key, value, label):
                enabled.add(key)
    if not enabled:
        raise InputError(f"{path}: no step is switched on in [onecc] (e.g. one-import-tflite=True)")
    env = dict(parser.items(ENVIRONMENT)) if parser.has_section(ENVIRONMENT) else {}
    steps = []
    for driver in (d for d in ORDER if d in enabled):
        if not parser.has_section(driver):
            raise InputError(f"{path}: {driver} is switched on in [onecc] but there is no [{driver}] section")
        steps.append(StepSpec(driver, dict(parser.items(driver)), f"{path} [{driver}]", env))
    return steps


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
