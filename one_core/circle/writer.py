"""Writing the IR as .circle (identifier CIR0) or .tflite (TFL3) files.

Output is deterministic: the same model gives the same bytes. Constant data is 16-byte aligned
inside the flatbuffer; when it would not fit in a flatbuffer's 2 GiB, it is appended after the
flatbuffer and referenced by Buffer offset/size, as ONE and TFLite do.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from ..errors import InputError, OneError
from ..ir.model import Model
from ..ir.operators import encode_opcode, is_circle_only, opcode_of
from ..ir.options import FullyConnectedOptionsWeightsFormat
from ..ir.tensor import (
    BlockwiseQuantization,
    CustomQuantization,
    MXQuantization,
    Quantization,
    Sparsity,
    Tensor,
)
from ..ir.verify import verify
from . import _generated as fb
from .codec import options_to_fb
from .reader import CIRCLE_IDENTIFIER, TFLITE_IDENTIFIER

#: Constant data at or above this size is stored after the flatbuffer (2 GiB less headroom for
#: the flatbuffer's own tables).
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
_ALIGN = 16
_INDEX_VECTOR_TYPES = {np.dtype(np.int32): 1, np.dtype(np.uint16): 2, np.dtype(np.uint8): 3}


def write_model(
    model: Model,
    path: str | os.PathLike[str],
    file_format: str | None = None,
    *,
    external_data_threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Path:
    """Write `model` to `path` atomically. The format ("circle" or "tflite") defaults to the
    file extension: `.tflite` writes TFLite, anything else circle."""
    path = Path(path)
    fmt = file_format or ("tflite" if path.suffix.lower() == ".tflite" else "circle")
    if fmt not in ("circle", "tflite"):
        raise InputError(f"{path}: unknown model format '{fmt}' (expected circle or tflite)")
    verify(model)
    if fmt == "tflite":
        check_tflite_compatible(model, path)
    identifier = TFLITE_IDENTIFIER if fmt == "tflite" else CIRCLE_IDENTIFIER
    chunks = serialize(model, identifier, external_data_threshold=external_data_threshold)
    atomic_write(path, chunks)
    return path


def serialize(
    model: Model, identifier: bytes = CIRCLE_IDENTIFIER, *, external_data_threshold: int = EXTERNAL_DATA_THRESHOLD
) -> list[memoryview]:
    """The file's bytes as a list of chunks to write in order.

    Constant data is not copied into the flatbuffer builder: its place is reserved and the
    chunks list refers to the arrays themselves, so writing a model costs little memory."""
    blobs, tensor_buffers = _collect_buffers(model)
    total = sum(b.nbytes for b in blobs if b is not None)
    if total < external_data_threshold:
        return _build(model, blobs, tensor_buffers, identifier, total, None)
    # Data goes after the flatbuffer. Offsets are absolute, so build once with placeholders to
    # learn the flatbuffer's size (fixed-width fields keep it unchanged), then with real offsets.
    placeholder = [(2, 2) if b is not None and b.nbytes else (0, 0) for b in blobs]
    size = sum(len(c) for c in _build(model, blobs, tensor_buffers, identifier, 0, placeholder))
    offsets, position = [], _aligned(size)
    for b in blobs:
        n = 0 if b is None else b.nbytes
        offsets.append((position, n) if n else (0, 0))
        position = _aligned(position + n)
    chunks = _build(model, blobs, tensor_buffers, identifier, 0, offsets)
    assert sum(len(c) for c in chunks) == size, "flatbuffer size changed between passes"
    position = size
    for b, (offset, n) in zip(blobs, offsets):
        if b is not None and n:
            chunks.append(memoryview(bytes(offset - position)))
            chunks.append(_bytes_of(b))
            position = offset + n
    return chunks


def check_tflite_compatible(model: Model, path: Path | str = "model") -> None:
    """Refuse, naming them, the circle-only operators, types and fields TFLite cannot hold."""
    problems: list[str] = []
    for sg_index, sg in enumerate(model.subgraphs):
        for op in sg.operators:
            if is_circle_only(op.name):
                problems.append(f"operator {op.name} (subgraph {sg_index})")
            elif getattr(op.options, "weights_format", None) == FullyConnectedOptionsWeightsFormat.SHUFFLED16x1FLOAT32:
                problems.append(f"weights format SHUFFLED16x1FLOAT32 of {op.name} '{op.outputs[0].name}'")
        for t in sg.tensors:
            if t.dtype.is_circle_only:
                problems.append(f"type {t.dtype.name} of tensor '{t.name}'")
            if t.compression_type:
                problems.append(f"compression of tensor '{t.name}'")
            q = t.quantization
            if q is not None and isinstance(q.details, (MXQuantization, BlockwiseQuantization)):
                problems.append(f"{type(q.details).__name__} of tensor '{t.name}'")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise OneError(f"{path}: cannot be written as TFLite, it uses circle-only " + ", ".join(unique))


def _collect_buffers(model: Model) -> tuple[list[np.ndarray | None], dict[int, int]]:
    """Buffer contents in file order (index 0 is the empty sentinel) and tensor -> buffer index.

    Arrays shared by several tensors are stored once."""
    blobs: list[np.ndarray | None] = [None]
    by_array: dict[int, int] = {}
    tensor_buffers: dict[int, int] = {}
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.data is None:
                continue
            index = by_array.get(id(t.data))
            if index is None:
                index = by_array[id(t.data)] = len(blobs)
                blobs.append(_raw(t))
            tensor_buffers[id(t)] = index
    return blobs, tensor_buffers


def _raw(t: Tensor) -> np.ndarray:
    data = t.data
    assert data is not None
    np_type = t.dtype.numpy
    if np_type is not None and data.dtype != np.uint8 and data.dtype != np_type:
        raise OneError(f"tensor '{t.name}': data of dtype {data.dtype} for a {t.dtype.name} tensor")
    return np.ascontiguousarray(data).reshape(-1).view(np.uint8)


def _build(
    model: Model,
    blobs: list[np.ndarray | None],
    tensor_buffers: dict[int, int],
    identifier: bytes,
    data_size: int,
    external: list[tuple[int, int]] | None,
) -> list[memoryview]:
    meta_names = list(model.metadata)
    holes: list[tuple[int, np.ndarray]] = []
    buffers: list[Any] = [
        _BufferPacker(b, None if external is None else external[i], holes) for i, b in enumerate(blobs)
    ]
    m = fb.ModelT()
    m.version = model.version
    m.description = model.description
    codes: dict[tuple[str, int, str | None], int] = {}
    m.subgraphs = [_subgraph_t(model, sg, codes, tensor_buffers) for sg in model.subgraphs]
    m.operatorCodes = [_opcode_t(*key) for key in codes]
    m.metadata = []
    for name in meta_names:
        entry = fb.MetadataT()
        entry.name = name
        entry.buffer = len(buffers)
        buffers.append(_BufferPacker(np.frombuffer(model.metadata[name], np.uint8), None, holes))
        m.metadata.append(entry)
    m.metadataBuffer = []
    for legacy in model.legacy_metadata_buffers:
        m.metadataBuffer.append(len(buffers))
        buffers.append(_BufferPacker(np.asarray(legacy, np.uint8), None, holes))
    m.buffers = buffers
    m.signatureDefs = [_signature_t(model, sig) for sig in model.signature_defs]
    if not m.metadata:
        m.metadata = None
    if not m.metadataBuffer:
        m.metadataBuffer = None
    if not m.signatureDefs:
        m.signatureDefs = None
    builder = _lazy_builder(data_size + 64 * len(buffers) + 1024 * 1024)
    root = m.Pack(builder)
    builder.Finish(root, file_identifier=identifier)
    flat = memoryview(builder.Bytes)[builder.Head():]
    chunks, cursor = [], 0
    for from_end, data in sorted(holes, key=lambda h: -h[0]):
        start = len(builder.Bytes) - from_end - builder.Head()
        chunks += [flat[cursor:start], _bytes_of(data)]
        cursor = start + data.nbytes
    chunks.append(flat[cursor:])
    return chunks


def _lazy_builder(capacity: int) -> flatbuffers.Builder:
    """A builder over an anonymous mapping whose pages the OS provides only when written: the
    space reserved for constant data is never written, so it costs no memory. (Huge pages are
    declined, or each small table written between two holes would commit 2 MiB.)"""
    area = mmap.mmap(-1, capacity)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        area.madvise(mmap.MADV_NOHUGEPAGE)
    builder = flatbuffers.Builder(0)
    builder.Bytes = memoryview(area)
    builder.head = capacity
    return builder


class _BufferPacker:
    """Stands in for a BufferT: reserves 16-byte aligned room for the data (recorded in
    `holes` by distance from the builder's end, filled when writing), or refers to data stored
    after the flatbuffer by offset and size. `data` None is the empty sentinel."""

    def __init__(
        self, data: np.ndarray | None, external: tuple[int, int] | None, holes: list[tuple[int, np.ndarray]]
    ) -> None:
        self.data = data
        self.external = external
        self.holes = holes

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 - object-API protocol
        data_offset = None
        if self.data is not None and (self.external is None or not self.external[1]):
            n = self.data.nbytes
            builder.StartVector(1, n, _ALIGN)
            builder.head = builder.head - n
            if n:
                self.holes.append((len(builder.Bytes) - builder.head, self.data))
            data_offset = builder.EndVector()
        fb.BufferStart(builder)
        if data_offset is not None:
            fb.BufferAddData(builder, data_offset)
        if self.external is not None and self.external[1]:
            fb.BufferAddOffset(builder, self.external[0])
            fb.BufferAddSize(builder, self.external[1])
        return fb.BufferEnd(builder)


def _bytes_of(a: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _opcode_t(name: str, version: int, custom_code: str | None) -> Any:
    code = fb.OperatorCodeT()
    code.deprecatedBuiltinCode, code.builtinCode = encode_opcode(opcode_of(name))
    code.version = version
    code.customCode = custom_code
    return code


def _subgraph_t(model: Model, sg: Any, codes: dict, tensor_buffers: dict[int, int]) -> Any:
    index = {id(t): i for i, t in enumerate(sg.tensors)}

    def ids(items: Iterable[Tensor | None]) -> list[int]:
        return [-1 if t is None else index[id(t)] for t in items]

    s = fb.SubGraphT()
    s.name = sg.name
    s.debugMetadataIndex = sg.debug_metadata_index
    s.tensors = [_tensor_t(t, tensor_buffers.get(id(t), 0)) for t in sg.tensors]
    s.inputs = ids(sg.inputs)
    s.outputs = ids(sg.outputs)
    s.operators = []
    for op in sg.operators:
        o = fb.OperatorT()
        key = (op.name, op.version, op.custom_code)
        o.opcodeIndex = codes.setdefault(key, len(codes))
        o.inputs = ids(op.inputs)
        o.outputs = ids(op.outputs)
        if op.options is not None:
            o.builtinOptionsType, o.builtinOptions = options_to_fb(op.options)
        if op.options2 is not None:
            o.builtinOptions2Type, o.builtinOptions2 = options_to_fb(op.options2)
        if op.custom_options is not None:
            o.customOptions = np.frombuffer(op.custom_options, np.uint8)
        o.customOptionsFormat = op.custom_options_format
        if op.mutating_variable_inputs is not None:
            o.mutatingVariableInputs = list(op.mutating_variable_inputs)
        if op.intermediates:
            o.intermediates = ids(op.intermediates)
        o.debugMetadataIndex = op.debug_metadata_index
        s.operators.append(o)
    return s


def _tensor_t(t: Tensor, buffer_index: int) -> Any:
    x = fb.TensorT()
    x.name = t.name
    x.type = int(t.dtype)
    x.shape = list(t.shape)
    x.shapeSignature = None if t.shape_signature is None else list(t.shape_signature)
    x.buffer = buffer_index
    x.quantization = None if t.quantization is None else _quantization_t(t.quantization)
    x.sparsity = None if t.sparsity is None else _sparsity_t(t.sparsity)
    x.isVariable = t.is_variable
    x.hasRank = t.has_rank
    if t.variant_tensors is not None:
        x.variantTensors = []
        for v in t.variant_tensors:
            vt = fb.VariantSubTypeT()
            vt.shape = v.shape
            vt.type = int(v.dtype)
            vt.hasRank = v.has_rank
            x.variantTensors.append(vt)
    x.compressionType = t.compression_type
    return x


def _quantization_t(q: Quantization) -> Any:
    x = fb.QuantizationParametersT()
    x.scale = None if q.scale is None else np.asarray(q.scale, np.float32)
    x.zeroPoint = None if q.zero_point is None else np.asarray(q.zero_point, np.int64)
    x.min = None if q.min is None else np.asarray(q.min, np.float32)
    x.max = None if q.max is None else np.asarray(q.max, np.float32)
    x.quantizedDimension = q.quantized_dimension
    d = q.details
    if isinstance(d, CustomQuantization):
        x.detailsType, x.details = fb.QuantizationDetails.CustomQuantization, fb.CustomQuantizationT()
        x.details.custom = None if d.custom is None else np.frombuffer(d.custom, np.uint8)
    elif isinstance(d, MXQuantization):
        x.detailsType, x.details = fb.QuantizationDetails.MXQuantization, fb.MXQuantizationT()
        x.details.axis = d.axis
    elif isinstance(d, BlockwiseQuantization):
        x.detailsType, x.details = fb.QuantizationDetails.BlockwiseQuantization, fb.BlockwiseQuantizationT()
        x.details.scales, x.details.zeroPoints, x.details.blockSize = d.scales, d.zero_points, d.block_size
    return x


def _sparsity_t(s: Sparsity) -> Any:
    x = fb.SparsityParametersT()
    x.traversalOrder = s.traversal_order
    x.blockMap = s.block_map
    if s.dim_metadata is not None:
        x.dimMetadata = []
        for d in s.dim_metadata:
            dm = fb.DimensionMetadataT()
            dm.format = d.format
            dm.denseSize = d.dense_size
            dm.arraySegmentsType, dm.arraySegments = _index_vector_t(d.array_segments)
            dm.arrayIndicesType, dm.arrayIndices = _index_vector_t(d.array_indices)
            x.dimMetadata.append(dm)
    return x


def _index_vector_t(values: np.ndarray | None) -> tuple[int, Any]:
    if values is None:
        return 0, None
    kind = _INDEX_VECTOR_TYPES.get(values.dtype)
    if kind is None:
        raise OneError(f"sparse index vector of dtype {values.dtype}: expected int32, uint16 or uint8")
    vec = (fb.Int32VectorT, fb.Uint16VectorT, fb.Uint8VectorT)[kind - 1]()
    vec.values = values
    return kind, vec


def _signature_t(model: Model, sig: Any) -> Any:
    index = {id(t): i for i, t in enumerate(sig.subgraph.tensors)}

    def maps(entries: list[tuple[str, Tensor]]) -> list[Any]:
        out = []
        for name, t in entries:
            tm = fb.TensorMapT()
            tm.name = name
            tm.tensorIndex = index[id(t)]
            out.append(tm)
        return out

    x = fb.SignatureDefT()
    x.signatureKey = sig.key
    x.subgraphIndex = model.subgraph_index(sig.subgraph)
    x.inputs = maps(sig.inputs)
    x.outputs = maps(sig.outputs)
    return x


def atomic_write(path: Path, chunks: list[memoryview] | list[bytes]) -> None:
    """Write to a temporary file next to `path`, then rename it into place."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
