"""`one build`: ONE's onecc configuration (.cfg) and workflow (.json) files, run with the
installed frontends, passes and packager; `one init` writes a starter cfg for a model.

    from one_core.build import build
    build("model.cfg")                          # onecc -C model.cfg
    build(workflow="flow.json", level="O1")     # onecc -W flow.json, every one-optimize with O1
"""

from .cfg import ORDER, read_cfg
from .runner import PlannedStep, build, plan, run
from .steps import DRIVERS, Driver, StepSpec, Strictness, driver_for, path_of
from .template import starter_cfg, write_starter_cfg
from .workflow import read_workflow, run_order

__all__ = [
    "DRIVERS",
    "Driver",
    "ORDER",
    "PlannedStep",
    "StepSpec",
    "Strictness",
    "build",
    "driver_for",
    "path_of",
    "plan",
    "read_cfg",
    "read_workflow",
    "run",
    "run_order",
    "starter_cfg",
    "write_starter_cfg",
]
