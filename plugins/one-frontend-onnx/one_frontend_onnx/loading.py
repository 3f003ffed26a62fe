"""Reading an ONNX file as untrusted input: the protobuf, external data kept inside the model's
folder, and a graph whose every value is defined before it is read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from one_core.errors import InvalidModelError


def read_model(path: Path) -> onnx.ModelProto:
    """Parse `path` and check what the converter relies on; raise InvalidModelError otherwise."""
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise InvalidModelError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from None
    check_model(model, str(path))
    return model


def check_model(model: onnx.ModelProto, label: str) -> None:
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise InvalidModelError(f"{label}: not an ONNX model (no IR version or no graph)")
    if not model.opset_import and model.ir_version >= 3:
        raise InvalidModelError(f"{label}: the model imports no operator set")
    check_graph(model.graph, label, outer=set())


def check_graph(graph: onnx.GraphProto, label: str, outer: set[str]) -> None:
    """Every node reads only values defined earlier (graph inputs, initializers, earlier nodes or,
    in a subgraph, the enclosing graphs); a cycle shows up as a read before the definition."""
    defined = set(outer) | {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {t.values.name for t in graph.sparse_initializer}
    producers = {o: n for n in graph.node for o in n.output if o}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in defined:
                where = f"{label}: node {index} '{node.name or node.op_type}' ({node.op_type}) reads '{name}'"
                if name in producers:
                    raise InvalidModelError(f"{where} before node '{producers[name].name or name}' computes it "
                                            "(the graph has a cycle or is not in topological order)")
                raise InvalidModelError(f"{where}, which no input, initializer or node defines")
        for attr in node.attribute:
            for sub in _subgraphs(attr):
                check_graph(sub, f"{label}: subgraph '{attr.name}' of node '{node.name or node.op_type}'", defined)
        defined.update(o for o in node.output if o)
    for out in graph.output:
        if out.name not in defined:
            raise InvalidModelError(f"{label}: graph output '{out.name}' is never computed")


def _subgraphs(attr: onnx.AttributeProto) -> Iterator[onnx.GraphProto]:
    if attr.type == onnx.AttributeProto.GRAPH:
        yield attr.g
    elif attr.type == onnx.AttributeProto.GRAPHS:
        yield from attr.graphs


def tensor_array(tensor: onnx.TensorProto, folder: Path | None, label: str) -> np.ndarray:
    """The value of an initializer or constant. Raw data is viewed in place, not copied; external
    data is memory-mapped, and only from files inside `folder`."""
    where = f"{label}: tensor '{tensor.name}'"
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return _external(tensor, folder, where)
    try:
        np_type = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    except Exception:
        raise InvalidModelError(f"{where}: unknown element type {tensor.data_type}") from None
    shape = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in shape):
        raise InvalidModelError(f"{where}: negative dimension in {list(shape)}")
    if tensor.HasField("raw_data") and np_type.kind in "biuf" and np_type.itemsize in (1, 2, 4, 8) \
            and tensor.data_type not in _PACKED:
        count = int(np.prod(shape, dtype=np.int64))
        if len(tensor.raw_data) != count * np_type.itemsize:
            raise InvalidModelError(f"{where}: {len(tensor.raw_data)} bytes of data for shape {list(shape)} "
                                    f"of {np_type}")
        array = np.frombuffer(tensor.raw_data, dtype=np_type.newbyteorder("<"), count=count).reshape(shape)
        return array if np_type.byteorder in "<=|" and np.little_endian else array.astype(np_type)
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:
        raise InvalidModelError(f"{where}: unreadable data ({_first_line(exc)})") from None


# element types whose raw bytes do not map one-to-one onto numpy elements
_PACKED = {onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT8E4M3FN, onnx.TensorProto.FLOAT8E4M3FNUZ,
           onnx.TensorProto.FLOAT8E5M2, onnx.TensorProto.FLOAT8E5M2FNUZ, onnx.TensorProto.UINT4,
           onnx.TensorProto.INT4, onnx.TensorProto.STRING}


def _external(tensor: onnx.TensorProto, folder: Path | None, where: str) -> np.ndarray:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    if folder is None:
        raise InvalidModelError(f"{where}: external data '{location}' needs the model loaded from a file")
    rel = Path(location)
    if not location or rel.is_absolute() or ".." in rel.parts or location.startswith(("/", "\\")):
        raise InvalidModelError(f"{where}: external data location '{location}' must be a relative path "
                                "inside the model's folder")
    base = folder.resolve()
    target = (base / rel).resolve()  # follows symlinks: a link leaving the folder is caught here
    if base not in target.parents:
        raise InvalidModelError(f"{where}: external data '{location}' resolves outside the model's folder")
    if not target.is_file():
        raise InvalidModelError(f"{where}: external data file '{location}' not found next to the model")
    np_type = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64))
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", count * np_type.itemsize))
    except ValueError:
        raise InvalidModelError(f"{where}: external data offset/length are not integers") from None
    size = os.path.getsize(target)
    if offset < 0 or length != count * np_type.itemsize or offset + length > size:
        raise InvalidModelError(f"{where}: external data [{offset}, {offset + length}) of '{location}' "
                                f"does not hold {count} {np_type} elements within its {size} bytes")
    if count == 0:
        return np.zeros(shape, np_type)
    return np.memmap(target, dtype=np_type.newbyteorder("<"), mode="r", offset=offset, shape=shape)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
