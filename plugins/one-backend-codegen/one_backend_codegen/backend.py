"""The `c` backend: generated C, compiled and run through ctypes.

`one_core.Session(model, backend="c")` generates the model's C (for the input shapes of the
first run when the model has dynamic dimensions; a new shape generates again), compiles it
into a cached shared library and calls it. Options: `input_shapes`, `name`, `inline_limit`,
`threads` (see generate), `cflags` (compiler flags; default build.DEFAULT_CFLAGS, or
ONE_CODEGEN_CFLAGS). Each distinct model is one library with its own
static arena, so sessions of the same model share state and must not run concurrently."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from one_core.errors import InputError, OneError
from one_core.inputs import checked_inputs
from one_core.ir import Model
from one_core.plugin import Backend, Executable
from one_backend_runtime.backend import TensorInfo, tensor_info

if TYPE_CHECKING:  # generation loads the runtime's kernels: only when a model is prepared
    from .generate import GeneratedProject


class _Library:
    """One loaded library: its input and output buffers as numpy views of the arena."""

    def __init__(self, project: GeneratedProject, cflags: str | None = None) -> None:
        from .build import build_shared

        self.project = project
        path = build_shared(project, cflags)
        self.lib = ctypes.CDLL(str(path))
        name = project.name
        # Attribute lookups return the same function object; declare every signature once.
        lookup = {fn: getattr(self.lib, f"{name}_{fn}") for fn in ("init", "run", "input", "output")}
        for fn in ("input", "output"):
            lookup[fn].restype = ctypes.c_void_p
            lookup[fn].argtypes = [ctypes.c_int]
        lookup["init"].argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lookup["run"].argtypes = []
        self._run = lookup["run"]
        # Inline-mode libraries ignore the blob; keep it alive while the library may read it.
        self._blob = None if project.blob is None else np.frombuffer(project.blob, np.uint8)
        ptr = None if self._blob is None else self._blob.ctypes.data
        if lookup["init"](ptr, 0 if self._blob is None else self._blob.size) != 0:
            raise OneError(f"generated library '{name}' refused its weights")
        self.times = [0.0] * len(project.steps)
        self._started = 0.0
        self._hook = None
        self.inputs = [_view(lookup["input"](i), dt, shape) for i, (_, dt, shape) in enumerate(project.inputs)]
        self.outputs = [_view(lookup["output"](i), dt, shape) for i, (_, dt, shape) in enumerate(project.outputs)]

    def profile(self, enabled: bool) -> None:
        """Time every step (through the library's step hook) or stop timing."""
        self._hook = _HOOK(self._on_step) if enabled else None
        self.lib[f"{self.project.name}_set_step_hook"](self._hook)

    def _on_step(self, step: int, phase: int) -> None:
        now = time.perf_counter()
        if phase == 0:
            self._started = now
        else:
            self.times[step] += now - self._started

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        for dst, x in zip(self.inputs, arrays):
            dst[...] = x
        if self._run() != 0:
            raise OneError(f"generated library '{self.project.name}' failed to run")
        return [o.copy() for o in self.outputs]


_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int)


def _view(address: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = (ctypes.c_char * max(size, 1)).from_address(address)
    return np.frombuffer(buf, dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)


class CExecutable(Executable):
    """A model whose generated C runs in this process."""

    def __init__(self, model: Model, input_shapes: Sequence[Sequence[int]] | None, name: str,
                 generation: dict[str, Any], cflags: str | None) -> None:
        self.model = model
        self._name = name
        self._generation = generation
        self._cflags = cflags
        self._inputs = [tensor_info(t) for t in model.main.inputs]
        self._outputs = [tensor_info(t) for t in model.main.outputs]
        self._libraries: dict[tuple, _Library] = {}
        self._profiling = False
        dynamic = any(t.is_dynamic for t in model.main.inputs)
        if input_shapes is not None or not dynamic:
            self._library(None if input_shapes is None else [tuple(s) for s in input_shapes])

    @property
    def inputs(self) -> Sequence[TensorInfo]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorInfo]:
        return self._outputs

    def _library(self, shapes: list[tuple[int, ...]] | None) -> _Library:
        key = tuple(shapes) if shapes is not None else None
        found = self._libraries.get(key)
        if found is None:
            from .generate import generate

            project = generate(self.model, self._name, shapes, **self._generation)
            found = self._libraries[key] = _Library(project, self._cflags)
            if shapes is None:
                self._libraries[tuple(s for _, _, s in project.inputs)] = found
        return found

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        arrays = checked_inputs(self._inputs, inputs)
        key = tuple(tuple(x.shape) for x in arrays)
        library = self._libraries.get(key) or self._library([tuple(x.shape) for x in arrays])
        if self._profiling:
            library.profile(True)
        results = library.run(arrays)
        return {info.name: r for info, r in zip(self._outputs, results)}

    def set_profiling(self, enabled: bool) -> None:
        self._profiling = enabled
        for library in self._libraries.values():
            library.profile(enabled)

    def operator_times(self) -> list[tuple[str, str, float]]:
        rows = []
        for library in dict.fromkeys(self._libraries.values()):
            rows.extend((kind, out, t) for (kind, out), t in zip(library.project.steps, library.times))
        return rows


class CBackend(Backend):
    """Generated C99, compiled with the system compiler and called through ctypes. As a code
    generator (onecc's one-codegen with `backend=c`) it takes `one codegen`'s arguments."""

    name = "c"
    description = "generated C99 (one codegen), compiled with the system C compiler, run through ctypes"
    default_rank = 10  # compiling takes seconds: only the default when nothing else is installed

    def codegen_paths(self, args: Sequence[str]) -> tuple[list[Path], list[Path]]:
        """(files read, folders written) of `one codegen ARGS`."""
        from .cli import parse_command

        params = parse_command(list(args))
        return [params["model"]], [params["output"]]

    def codegen(self, args: Sequence[str]) -> str:
        """Run `one codegen ARGS`; returns its summary line."""
        from .cli import parse_command, run_codegen

        return run_codegen(**parse_command(list(args)))

    def prepare(self, model: Model, **options: Any) -> Executable:
        shapes = options.pop("input_shapes", None)
        name = options.pop("name", "model")
        limit = options.pop("inline_limit", None)
        generation = {"inline_limit": None if limit is None else int(limit),
                      "threads": int(options.pop("threads", 1))}
        cflags = options.pop("cflags", None)
        if options:
            raise InputError(f"c backend: unknown option(s) {', '.join(sorted(options))}")
        return CExecutable(model, shapes, name, generation, cflags)
