"""Operator converters, one function per ONNX operator type (or family), registered by decorator.

A converter receives the Context and the Node; it reads inputs with `cx.tensor(name)` or, for
import-time values, `cx.const(name)`; it creates outputs with `cx.output(name)` and emits circle
operators with `cx.emit(...)`; it raises `Unsupported("why")` for what circle cannot express.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from ..context import Context, Node

ConverterFn = Callable[[Context, Node], None]
_CONVERTERS: dict[tuple[str, str], ConverterFn] = {}
_loaded = False


def converts(*op_types: str, domain: str = "") -> Callable[[ConverterFn], ConverterFn]:
    """Register the decorated function as the converter of `op_types` in `domain`."""

    def register(fn: ConverterFn) -> ConverterFn:
        for op_type in op_types:
            key = (domain, op_type)
            if key in _CONVERTERS:
                raise RuntimeError(f"two converters for {domain or 'ai.onnx'}.{op_type}")
            _CONVERTERS[key] = fn
        return fn

    return register


def converter_for(domain: str, op_type: str) -> ConverterFn | None:
    _load()
    return _CONVERTERS.get(("" if domain == "ai.onnx" else domain, op_type))


def supported_operators() -> list[str]:
    _load()
    return sorted(f"{d}.{t}" if d else t for d, t in _CONVERTERS)


def _load() -> None:
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
