"""Hook implementation that registers the ONNX frontend."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .frontend import OnnxFrontend


@hookimpl
def one_register_frontends(registry: Any) -> None:
    registry.add(OnnxFrontend())
