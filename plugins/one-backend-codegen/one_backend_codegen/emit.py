"""What operator emitters see, and the registry that finds one for each operator.

An emitter turns one operator into C statements (usually one kernel call). It is registered
for operator names with a `check` that says, from the IR alone (types, quantization, options),
whether this variant is supported: generation refuses a model before writing anything when a
check fails. Emitters reach everything through `OpEmit`: shapes and known values, typed
pointers to activations (resolved to arena offsets after planning), constants (weights laid
out as the kernel wants them), per-step scratch memory and `static const` parameter blocks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.ir import DType, Operator, Tensor

from .static import StaticModel

C_TYPES: dict[DType, str] = {
    DType.FLOAT32: "float",
    DType.INT8: "int8_t",
    DType.UINT8: "uint8_t",
    DType.INT16: "int16_t",
    DType.INT32: "int32_t",
    DType.INT64: "int64_t",
    DType.BOOL: "uint8_t",
}

_NUMPY_C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.bool_): "uint8_t",
}


#: Tells a check whether a tensor's value is known at generation time (constant or folded).
Known = Callable[[Tensor | None], bool]


@dataclass(frozen=True)
class EmitterSpec:
    """How one operator type becomes C."""

    emit: Callable[[OpEmit], None]
    #: Whether this variant is supported: `check(op, known)`.
    check: Callable[[Operator, Known], bool]
    #: Whether output 0 may overwrite an input of the same shape read for the last time.
    inplace: bool = False
    #: Whether output 0 is a view of input 0 (same bytes; nothing to compute).
    view: bool = False


_VARIANTS: dict[str, list[EmitterSpec]] = {}


def register(name: str, check: Callable[[Operator, Known], bool], emit: Callable[[OpEmit], None],
             inplace: bool = False, view: bool = False) -> None:
    """Add one variant of operator `name` (float32 and integer ADD are two variants). Variants
    are tried in registration order: the first whose check accepts an operator emits it."""
    _VARIANTS.setdefault(name, []).append(EmitterSpec(emit, check, inplace, view))


def emitter(*names: str, check: Callable[[Operator, Known], bool] | None = None, inplace: bool = False,
            view: bool = False) -> Callable[[Callable[[OpEmit], None]], Callable[[OpEmit], None]]:
    """Decorator form of `register` for the named operators (no check: every variant)."""

    def add(fn: Callable[[OpEmit], None]) -> Callable[[OpEmit], None]:
        for name in names:
            register(name, check or _always, fn, inplace, view)
        return fn

    return add


def _always(op: Operator, known: Known) -> bool:
    return True


def emitters() -> dict[str, EmitterSpec]:
    """One emitter per operator name, its variants chained (importing the ops package
    registers them). In-place or view only when every variant is."""
    from . import ops  # noqa: F401

    return {name: specs[0] if len(specs) == 1 else _chained(name, specs) for name, specs in _VARIANTS.items()}


def _chained(name: str, specs: list[EmitterSpec]) -> EmitterSpec:
    def check(op: Operator, known: Known) -> bool:
        return any(s.check(op, known) for s in specs)

    def emit(e: OpEmit) -> None:
        def known(t: Tensor | None) -> bool:
            return t is not None and e.value(t) is not None

        next(s for s in specs if s.check(e.op, known)).emit(e)

    return EmitterSpec(emit, check, all(s.inplace for s in specs), all(s.view for s in specs))


def ctype_of(t: Tensor) -> str:
    return C_TYPES[t.dtype]


def dtypes(op: Operator) -> list[DType]:
    """The element types of an operator's present inputs, then outputs (for checks)."""
    return [t.dtype for t in (*op.inputs, *op.outputs) if t is not None]


def c_literal(value: Any) -> str:
    """A C initializer for a number, a sequence (braces) or an already formatted string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return "{" + ", ".join(c_literal(v) for v in value) + "}"
    if isinstance(value, (float, np.floating)):
        return float_literal(float(value))
    return str(int(value))


def float_literal(v: float) -> str:
    """An exact float32 C literal (hexadecimal; <math.h>'s INFINITY and NAN otherwise)."""
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    return float(np.float32(v)).hex() + "f"


class Constants:
    """Constant arrays the generated code reads, deduplicated by content: either compiled in
    (`static const` arrays in NAME_weights.c) or placed in an external blob."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.arrays: list[tuple[str, np.ndarray]] = []
        self._by_digest: dict[tuple[str, str], str] = {}

    def add(self, array: np.ndarray) -> str:
        """The C symbol of `array` (C-contiguous copy of it)."""
        array = np.ascontiguousarray(array)
        if array.dtype not in _NUMPY_C_TYPES:
            raise TypeError(f"no C type for constant of dtype {array.dtype}")
        digest = hashlib.sha1(array.tobytes()).hexdigest()
        key = (str(array.dtype), digest)
        found = self._by_digest.get(key)
        if found is None:
            found = f"{self.prefix}_w{len(self.arrays)}"
            self.arrays.append((found, array))
            self._by_digest[key] = found
        return found

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for _, a in self.arrays)


class OpEmit:
    """One operator being emitted."""

    def __init__(self, gen: Any, op: Operator, step: int) -> None:
        self._gen = gen
        self.op = op
        self.step = step
        self.lines: list[str] = []

    # What the operator is -------------------------------------------------------------------
    @property
    def static(self) -> StaticModel:
        return self._gen.static

    @property
    def options(self) -> Any:
        return self.op.options

    def input(self, i: int) -> Tensor | None:
        return self.op.input(i)

    def output(self, i: int = 0) -> Tensor:
        return self.op.outputs[i]

    def shape(self, t: Tensor) -> tuple[int, ...]:
        return self.static.shape(t)

    def value(self, t: Tensor | None) -> np.ndarray | None:
        return self.static.value(t)

    # What the C code refers to ---------------------------------------------------------------
    def ptr(self, t: Tensor, ctype: str | None = None, const: bool | None = None) -> str:
        """A typed pointer to `t`: its arena bytes, or its constant data."""
        ctype = ctype or ctype_of(t)
        value = self.value(t)
        if value is not None:
            return self.weights(value.astype(_numpy_of(ctype), copy=False), ctype)
        qual = "const " if (const if const is not None else t not in self.op.outputs) else ""
        return f"(({qual}{ctype} *)(one_arena + @T{id(t)}@))"

    def weights(self, array: np.ndarray, ctype: str | None = None) -> str:
        """A `const` pointer to a constant array (as laid out by the caller)."""
        ctype = ctype or _NUMPY_C_TYPES[np.dtype(array.dtype)]
        return self._gen.constant(np.asarray(array, _numpy_of(ctype)), ctype)

    @property
    def threads(self) -> int:
        """Scratch blocks to plan for kernels that give each OpenMP thread its own."""
        return self._gen.threads

    def scratch(self, nbytes: int, ctype: str = "float") -> str:
        """A pointer to `nbytes` of arena memory that only this step uses."""
        key = self._gen.scratch(nbytes, self.step)
        return f"(({ctype} *)(one_arena + @T{key}@))"

    def params(self, ctype: str, fields: Sequence[Any]) -> str:
        """`&Pn` of a `static const ctype Pn = {fields}` block (a parameter struct)."""
        return "&" + self._gen.static_const(ctype, "{" + ", ".join(c_literal(f) for f in fields) + "}")

    def array(self, ctype: str, values: Iterable[Any]) -> str:
        """A small `static const ctype An[] = {...}` array (multipliers, shapes) by name."""
        values = list(values)
        return self._gen.static_const(ctype, c_literal(values or [0]), array=len(values) or 1)

    def use(self, *families: str) -> None:
        """Kernel source files (csrc/NAME.c) this operator needs."""
        self._gen.families.update(families)

    def call(self, statement: str) -> None:
        self.lines.append(statement)


def _numpy_of(ctype: str) -> np.dtype:
    for k, v in _NUMPY_C_TYPES.items():
        if v == ctype and k != np.dtype(np.bool_):
            return k
    raise KeyError(ctype)
