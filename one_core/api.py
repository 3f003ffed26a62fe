"""The Python API: load any model, save circle or TFLite, run a model on a backend."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .circle.writer import write_model
from .errors import InputError
from .ir.model import Model
from .plugin.interfaces import NO_MATCH, Executable
from .plugin.manager import get_plugins


def load(source: Any, *, frontend: str | None = None, **options: Any) -> Model:
    """Load a model through the frontend that claims it (or the one named).

    `source` is a path (file or directory) or a live object a frontend accepts, such as a Keras
    model when the TensorFlow frontend is installed. Frontend options pass through."""
    plugins = get_plugins()
    head = b""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(64)
    if frontend is not None:
        chosen = plugins.frontends.get(frontend)
    else:
        best = (NO_MATCH, "")
        for name, fe in plugins.frontends.items():  # ties go to the first registered
            score = fe.match(source, head)
            if score > best[0]:
                best = (score, name)
        if best[0] == NO_MATCH:
            known = ", ".join(f"{n} ({', '.join(fe.extensions) or 'no extensions'})"
                              for n, fe in plugins.frontends.items())
            raise InputError(
                f"{_label(source)}: no installed frontend accepts this model (installed: {known})"
            )
        chosen = plugins.frontends.get(best[1])
    model = chosen.load(source, **options)
    if model.source is None:
        model.source = _label(source)
    return model


def optimize(model: Model, level: str | None = None, passes: Any = None, **options: Any) -> Any:
    """Optimize `model` in place with circle2circle passes and return it.

    `level="O1"` (the default when no pass is named) runs the O1 group; `passes=[...]` names
    passes by ONE's circle2circle option names (`"fuse_batchnorm_with_conv"`). Options:
    `debug=True` verifies after every pass, `report=True` returns `(model, report)`."""
    from .passes.manager import optimize as _optimize

    return _optimize(model, level, passes, **options)


def quantize(model: Model, calibration_data: Any, dtype: str | None = None, granularity: str | None = None, *,
             quantizer: str | None = None, **options: Any) -> Model:
    """Calibrate `model` on `calibration_data` and quantize it in place (returned), with an
    installed quantizer plugin: `quantizer` names one, default the first installed. `dtype`
    ("int8", "uint8", "int16") and `granularity` ("channel", "layer") and the other options are
    the quantizer's (the bundled one-quantizer: input_type, output_type, config, mode, ...)."""
    registry = get_plugins().quantizers
    if not len(registry):
        raise InputError("no quantizer is installed (install one-quantizer)")
    chosen = registry.get(quantizer or registry.names()[0])
    return chosen.quantize(model, calibration_data, dtype, granularity, **options)


def save(model: Model, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    """Write `model` as circle, or as TFLite for a `.tflite` path (or `format="tflite"`)."""
    return write_model(model, path, format)


class Session:
    """A model prepared for running on a backend.

    `source` is a path, a Model, anything `load` accepts, or an nnpackage (a directory with
    `metadata/`, or a zip file): its models run on the backend, wired as its MANIFEST says,
    and `package` is the opened Package (None otherwise). `backend` names a registered
    backend (default: the first one installed)."""

    def __init__(self, source: Any, backend: str | None = None, **options: Any) -> None:
        from .packaging import PackageExecutable, is_package, open_package

        self.package: Any = None
        if not isinstance(source, Model) and is_package(source):
            self.package = open_package(source)
            self.model = self.package.models()[0]
        else:
            self.model = source if isinstance(source, Model) else load(source)
        plugins = get_plugins()
        if backend is None:
            names = plugins.backends.names()
            if not names:
                raise InputError("no backend is installed (install one-backend-runtime)")
            # The preferred one (lowest default_rank), first registered among equals.
            backend = min(names, key=lambda n: getattr(plugins.backends.get(n), "default_rank", 0))
        self.backend = backend
        chosen = plugins.backends.get(backend)
        if self.package is not None:
            self._exe: Executable = PackageExecutable(
                self.package.manifest, self.package.models(), lambda m: chosen.prepare(m, **options),
                self.package.label,
            )
        else:
            self._exe = chosen.prepare(self.model, **options)

    @property
    def inputs(self) -> Sequence[Any]:
        return self._exe.inputs

    @property
    def outputs(self) -> Sequence[Any]:
        return self._exe.outputs

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: inputs by name or in order; returns outputs by name."""
        return self._exe.run(inputs)

    def set_profiling(self, enabled: bool) -> None:
        """Time every operator from now on (backends that can)."""
        self._exe.set_profiling(enabled)

    def operator_times(self) -> list[tuple[str, str, float]]:
        """(operator type, output name, seconds summed over the profiled runs) per operator."""
        return self._exe.operator_times()


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__} object>"
