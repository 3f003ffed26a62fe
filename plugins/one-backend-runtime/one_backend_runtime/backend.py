"""The runtime backend: prepares a circle model once, then runs it on numpy arrays."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.errors import InputError, OneError
from one_core.inputs import checked_inputs
from one_core.ir import Model, Tensor
from one_core.plugin import Backend, Executable, get_plugins

from . import hookspecs
from .executor import ModelProgram
from .kernels.base import KernelFactory, builtin_kernels


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output as users see it: dynamic dimensions are -1."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


def installed_kernels() -> tuple[dict[str, KernelFactory], dict[str, KernelFactory]]:
    """Built-in kernels and those plugins add: (builtin by operator name, custom by code).

    A plugin's `one_register_kernels(registry)` calls `registry.add(factory, name="CODE")`
    for a custom operator's code (or a builtin name, to replace nothing: duplicates of
    built-in names are refused)."""
    builtin = builtin_kernels()
    custom: dict[str, KernelFactory] = {}
    registry = get_plugins().registry("kernel", "one_register_kernels", hookspecs)
    for name, factory in registry.items():
        if name in builtin:
            raise OneError(
                f"kernel '{name}' from plugin '{registry.owner(name)}' clashes with the built-in one"
            )
        custom[name] = factory
    return builtin, custom


def _tune_allocator() -> None:
    """Keep freed activation buffers in the C heap instead of returning them to the system:
    every run allocates the same large arrays again, and fresh pages fault in one by one
    (EfficientNetB0: 25 -> 20 ms). glibc only; ONE_RUNTIME_TUNE_MALLOC=0 leaves malloc alone.
    The process keeps up to 256 MiB of freed memory for reuse."""
    global _allocator_tuned
    if _allocator_tuned or os.environ.get("ONE_RUNTIME_TUNE_MALLOC", "1") == "0":
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, _KEEP_BYTES)
    mallopt(m_trim_threshold, _KEEP_BYTES)


_allocator_tuned = False
_KEEP_BYTES = 256 * 1024 * 1024


class RuntimeExecutable(Executable):
    """A prepared model: `run` takes inputs by name or in order, returns outputs by name."""

    def __init__(self, model: Model) -> None:
        _tune_allocator()
        builtin, custom = installed_kernels()
        self.model = model
        self.program = ModelProgram(model, builtin, custom)
        main = model.main
        self._inputs = [tensor_info(t) for t in main.inputs]
        self._outputs = [tensor_info(t) for t in main.outputs]
        self._input_tensors = list(main.inputs)

    @property
    def inputs(self) -> Sequence[TensorInfo]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorInfo]:
        return self._outputs

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        arrays = checked_inputs(self._inputs, inputs)
        results = self.program.run_subgraph(0, arrays)
        return {info.name: _owned(np.asarray(r), arrays) for info, r in zip(self._outputs, results)}

    def set_profiling(self, enabled: bool) -> None:
        for program in self.program.programs:
            if program is not None:
                program.profile = {} if enabled else None

    def operator_times(self) -> list[tuple[str, str, float]]:
        rows = []
        for program in self.program.programs:
            if program is None or program.profile is None:
                continue
            for i, step in enumerate(program.steps):
                name = step.op.outputs[0].name if step.op.outputs else ""
                rows.append((step.label, name, program.profile.get(i, 0.0)))
        return rows



def _owned(result: np.ndarray, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """An output the caller may keep and change: views of constants or of the caller's own
    inputs are copied."""
    if not result.flags.writeable or any(np.shares_memory(result, x) for x in inputs):
        return result.copy()
    return result


def tensor_info(t: Tensor) -> TensorInfo:
    """The description users see of a model input or output."""
    shape = t.shape_signature if t.shape_signature is not None and len(t.shape_signature) == len(t.shape) else t.shape
    np_type = t.dtype.numpy
    if np_type is None:
        raise OneError(f"tensor '{t.name}': type {t.dtype.name} cannot be a model input or output")
    return TensorInfo(t.name, tuple(shape), np_type)


class RuntimeBackend(Backend):
    """Runs circle models on the CPU with numpy kernels."""

    name = "runtime"
    description = "CPU interpreter with numpy kernels (float32 and TFLite-exact integer paths)"

    def prepare(self, model: Model, **options: Any) -> Executable:
        if options:
            raise InputError(f"runtime backend: unknown option(s) {', '.join(sorted(options))}")
        return RuntimeExecutable(model)

