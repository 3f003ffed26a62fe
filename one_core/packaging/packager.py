"""nnpackage as a Packager plugin item, registered by the core through `one_register_packagers`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..plugin.interfaces import Packager
from .package import pack


class NnpackagePackager(Packager):
    """Writes ONE's nnpackage: models plus metadata/MANIFEST (1.3.0), configs and test data."""

    name = "nnpackage"
    description = "ONE's nnpackage directory (metadata/MANIFEST 1.3.0, multi-model wiring, tc test data)"

    def pack(self, models: Sequence[Path], output: Path, **options: Any) -> Path:
        """`output` is the directory the package NAME (option `name`, default the first model's
        stem) is written into; other options are those of `one_core.packaging.pack`."""
        return pack(models, output, **options)
