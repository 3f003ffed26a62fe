"""What frontends, backends and packagers look like to the core.

Subclass these in a plugin and register instances through the hooks in `hookspecs`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OneError
from ..ir.model import Model

#: How strongly a frontend claims a source: not at all, by file extension, by file content.
NO_MATCH, EXTENSION_MATCH, CONTENT_MATCH = 0, 1, 2


class Frontend(ABC):
    """Turns a model made elsewhere (a file, a directory or a live object) into a circle Model."""

    name: str = ""
    description: str = ""
    extensions: tuple[str, ...] = ()

    def match(self, source: Any, head: bytes) -> int:
        """How strongly this frontend claims `source`; `head` is the first bytes of a file
        source (empty for directories and live objects). The default checks `extensions`."""
        if isinstance(source, (str, os.PathLike)):
            suffix = Path(source).suffix.lower()
            if suffix and suffix in self.extensions:
                return EXTENSION_MATCH
        return NO_MATCH

    @abstractmethod
    def load(self, source: Any, **options: Any) -> Model:
        """Convert `source` into a Model; raise OneError subclasses on bad input."""


class Executable(ABC):
    """A model prepared by a backend, ready to run."""

    @property
    @abstractmethod
    def inputs(self) -> Sequence[Any]:
        """Descriptions (name, shape, dtype) of the inputs, in order."""

    @property
    @abstractmethod
    def outputs(self) -> Sequence[Any]:
        """Descriptions (name, shape, dtype) of the outputs, in order."""

    @abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; inputs by name or in order; outputs by name."""

    def set_profiling(self, enabled: bool) -> None:
        """Start (or stop) timing each operator; backends that cannot say so."""
        raise OneError(f"{type(self).__name__} cannot time operators")

    def operator_times(self) -> list[tuple[str, str, float]]:
        """(operator type, first output's name, seconds summed over runs) for every operator."""
        raise OneError(f"{type(self).__name__} cannot time operators")


class Backend(ABC):
    """Runs circle models (an interpreter, or generated code)."""

    name: str = ""
    description: str = ""
    #: Which backend a Session without `backend=` takes: the lowest rank (then the first
    #: registered). Backends that are slow to prepare (code generators) rank higher.
    default_rank: int = 0

    @abstractmethod
    def prepare(self, model: Model, **options: Any) -> Executable:
        """Do the one-time work (planning, weight layout) and return something runnable."""


class Packager(ABC):
    """Wraps circle models and their metadata into a deployable package."""

    name: str = ""
    description: str = ""

    @abstractmethod
    def pack(self, models: Sequence[Path], output: Path, **options: Any) -> Path:
        """Write the package to `output` and return its path."""
