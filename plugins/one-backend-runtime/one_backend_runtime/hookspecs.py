"""The runtime's own hook: third parties add kernels, for custom operators, as plugins."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookspec


@hookspec
def one_register_kernels(registry: Any) -> None:
    """Add kernel factories: `registry.add(factory, name=CUSTOM_CODE)`. A factory takes an
    OpContext and returns the function called on every run (see kernels/base.py)."""
