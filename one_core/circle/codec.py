"""Conversions between the IR's plain objects and the generated flatbuffers object API.

The object API (`...T` classes) names fields in camelCase; the IR uses the schema's snake_case.
"""

from __future__ import annotations

import enum
from dataclasses import fields
from typing import Any

import numpy as np

from ..errors import InvalidModelError
from ..ir import options as ir_options
from ..ir.operators import decode_opcode, opcode_name
from . import _generated as fb


def camel(name: str) -> str:
    """The object-API attribute for a schema field: `stride_w` -> `strideW`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def options_from_fb(union_type: int, table: Any, second: bool, where: str) -> Any:
    """An IR options dataclass from an unpacked union member (None when the union is empty)."""
    if union_type == 0:
        return None
    classes = ir_options.BUILTIN_OPTIONS_2 if second else ir_options.BUILTIN_OPTIONS
    cls = classes.get(union_type)
    if cls is None or table is None:
        union = "builtin_options_2" if second else "builtin_options"
        raise InvalidModelError(f"{where}: unknown {union} type {union_type}")
    values = {}
    for f in fields(cls):
        value = getattr(table, camel(f.name))
        values[f.name] = _plain(value, f.default)
    return cls(**values)


def _plain(value: Any, default: Any) -> Any:
    """A field value of an object-API table as the IR holds it."""
    if isinstance(default, enum.IntEnum):
        try:
            return type(default)(value)
        except ValueError:
            return int(value)
    if isinstance(value, np.ndarray):
        return value.tobytes() if value.dtype == np.uint8 else value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return value


def options_to_fb(options: Any) -> tuple[int, Any]:
    """The union type and the object-API table of an IR options dataclass."""
    table = getattr(fb, type(options).__name__ + "T")()
    for f in fields(options):
        value = getattr(options, f.name)
        if isinstance(value, enum.IntEnum):
            value = int(value)
        elif isinstance(value, str):
            value = value.encode("utf-8", errors="surrogateescape")
        elif isinstance(value, bytes):
            value = np.frombuffer(value, dtype=np.uint8)
        setattr(table, camel(f.name), value)
    return options.UNION_TYPE, table


def name_of_opcode(code: Any, index: int) -> tuple[str, int, str | None]:
    """(operator name, version, custom code) of an OperatorCodeT."""
    where = f"operator code {index}"
    value = decode_opcode(code.deprecatedBuiltinCode, code.builtinCode, where)
    name = opcode_name(value, where)
    custom = text(code.customCode, where) if code.customCode is not None else None
    return name, int(code.version), custom


def text(raw: bytes | str | None, where: str) -> str:
    """A schema string as Python text; invalid UTF-8 is a model error."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModelError(f"{where}: not valid UTF-8 text ({exc})") from None
