"""Parsing of frontend and command options given as Python values or `-X KEY=VALUE` strings,
shared by the frontends so that booleans, name lists and `--input_shapes` read the same everywhere."""

from __future__ import annotations

from typing import Any

from .errors import InputError

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def parse_choice(name: str, value: Any, choices: tuple[str, ...], label: str) -> str:
    text = str(value).strip().lower().lstrip("-")
    if text not in choices:
        raise InputError(f"{label}: {name} must be one of {', '.join(choices)} (got {value!r})")
    return text


def parse_bool(name: str, value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"{label}: {name} must be true or false (got {value!r})")


def parse_names(name: str, value: Any, label: str) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items]
    if not names or any(not n for n in names):
        raise InputError(f"{label}: {name} must be comma-separated names (got {value!r})")
    return names


def parse_shapes(value: Any, label: str) -> list[list[int] | None]:
    if isinstance(value, str):
        return [parse_shape(part, label) for part in value.split(":")]
    items = list(value)
    if items and all(isinstance(v, (int,)) or v is None for v in items):
        items = [items]  # one shape given as a flat list
    return [parse_shape(v, label) for v in items]


def parse_shape(value: Any, label: str) -> list[int]:
    try:
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            return [] if not text else [_dim(d) for d in text.split(",")]
        return [_dim(d) for d in value]
    except (TypeError, ValueError):
        raise InputError(
            f"{label}: input_shapes must be comma-separated integers per input, inputs separated "
            f"by ':' (e.g. 1,224,224,3:1,10), got {value!r}"
        ) from None


def _dim(d: Any) -> int:
    if d is None or (isinstance(d, str) and d.strip() in ("?", "None", "none")):
        return -1
    n = int(str(d).strip()) if isinstance(d, str) else int(d)
    if n < -1:
        raise ValueError(n)
    return n
