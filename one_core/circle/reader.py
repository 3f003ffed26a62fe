"""Reading .circle and .tflite files into the IR.

The file is memory-mapped; constant tensors become read-only numpy views of the mapping, so
loading a large model costs little time and memory. Every index and offset is checked before
use and any inconsistency becomes an InvalidModelError naming the file and the place.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, InvalidModelError
from ..ir.dtypes import DType
from ..ir.graph import Subgraph
from ..ir.model import Model, SignatureDef
from ..ir.operator import Operator
from ..ir.tensor import (
    BlockwiseQuantization,
    CustomQuantization,
    DimensionMetadata,
    MXQuantization,
    Quantization,
    Sparsity,
    Tensor,
    VariantSubType,
)
from ..ir.verify import verify
from . import _generated as fb
from .codec import name_of_opcode, options_from_fb, text

#: File identifiers at bytes 4..8: circle's and TFLite's.
CIRCLE_IDENTIFIER = b"CIR0"
TFLITE_IDENTIFIER = b"TFL3"

_INDEX_VECTOR_DTYPES = {1: np.int32, 2: np.uint16, 3: np.uint8}
_DECODE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeError)


def read_identifier(path: Path) -> bytes:
    """The 4-byte file identifier of a flatbuffer file (b"" when the file is too short)."""
    with open(path, "rb") as f:
        head = f.read(8)
    return head[4:8] if len(head) == 8 else b""


def read_model(path: str | os.PathLike[str]) -> Model:
    """Load a .circle or .tflite file; constants stay views of the memory-mapped file."""
    path = Path(path)
    buf = _map(path)
    ident = bytes(buf[4:8])
    if ident not in (CIRCLE_IDENTIFIER, TFLITE_IDENTIFIER):
        raise InvalidModelError(
            f"{path}: not a circle or TFLite model (file identifier {ident!r}, "
            f"expected {CIRCLE_IDENTIFIER!r} or {TFLITE_IDENTIFIER!r})"
        )
    root = struct.unpack_from("<I", buf, 0)[0]
    if root + 4 > len(buf):
        raise InvalidModelError(f"{path}: root table offset {root} is past the end ({len(buf)} bytes)")
    try:
        model_t = fb.ModelT.InitFromPackedBuf(buf, 0)
    except _DECODE_ERRORS as exc:
        raise InvalidModelError(f"{path}: corrupt flatbuffer ({exc})") from None
    except RecursionError:
        raise InvalidModelError(f"{path}: corrupt flatbuffer (tables nested too deeply)") from None
    try:
        model = _Converter(path, buf, model_t).model()
    except InvalidModelError as exc:
        raise InvalidModelError(f"{path}: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise InvalidModelError(f"{path}: corrupt model ({type(exc).__name__}: {exc})") from None
    try:
        verify(model)
    except InvalidModelError as exc:
        raise InvalidModelError(f"{path}: {exc}") from None
    model.source = str(path)
    return model


def _map(path: Path) -> np.ndarray:
    """The file's bytes as a read-only uint8 array backed by mmap."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise InvalidModelError(
                    f"{path}: file is too small to be a model ({size} bytes)"
                )
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a model file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    return np.frombuffer(mapping, dtype=np.uint8)


class _Converter:
    """Turns the unpacked object-API tree into IR objects, checking indices as it goes."""

    def __init__(self, path: Path, buf: np.ndarray, model_t: Any) -> None:
        self.path = path
        self.buf = buf
        self.m = model_t
        self.buffers = [self._buffer_bytes(i, b) for i, b in enumerate(model_t.buffers or [])]
        self._views: dict[tuple[int, str, tuple[int, ...]], np.ndarray] = {}

    def model(self) -> Model:
        m = self.m
        model = Model(description=text(m.description, "model description") or None, version=m.version)
        opcodes = [name_of_opcode(c, i) for i, c in enumerate(m.operatorCodes or [])]
        subgraphs_t = m.subgraphs or []
        if not subgraphs_t:
            raise InvalidModelError("model has no subgraph")
        for sg_index, sg_t in enumerate(subgraphs_t):
            model.add_subgraph(self._subgraph(sg_index, sg_t, opcodes))
        for md in m.metadata or []:
            name = text(md.name, "metadata name")
            data = self._buffer(md.buffer, f"metadata '{name}'")
            model.metadata[name] = b"" if data is None else data.tobytes()
        for i in _ints(m.metadataBuffer):
            data = self._buffer(i, "metadata_buffer")
            model.legacy_metadata_buffers.append(np.empty(0, np.uint8) if data is None else data)
        for sig_t in m.signatureDefs or []:
            model.signature_defs.append(self._signature(model, sig_t))
        return model

    def _buffer_bytes(self, index: int, b: Any) -> np.ndarray | None:
        if b.offset > 1:
            end = b.offset + b.size
            if end > len(self.buf):
                raise InvalidModelError(
                    f"buffer {index}: data at offset {b.offset} size {b.size} is past the end of "
                    f"the file ({len(self.buf)} bytes)"
                )
            return self.buf[b.offset:end]
        if b.data is None:
            return None
        return np.asarray(b.data, dtype=np.uint8)

    def _buffer(self, index: int, where: str) -> np.ndarray | None:
        if not 0 <= index < len(self.buffers):
            raise InvalidModelError(
                f"{where}: buffer index {index} out of range (model has {len(self.buffers)} buffers)"
            )
        return self.buffers[index]

    def _subgraph(self, sg_index: int, sg_t: Any, opcodes: list[tuple[str, int, str | None]]) -> Subgraph:
        sg = Subgraph(text(sg_t.name, f"subgraph {sg_index} name"))
        sg.debug_metadata_index = int(getattr(sg_t, "debugMetadataIndex", -1))
        where = f"subgraph {sg_index}"
        for t_index, t_t in enumerate(sg_t.tensors or []):
            sg.add_tensor(self._tensor(f"{where}, tensor {t_index}", t_t))
        tensors = sg.tensors

        def tensor_at(i: int, at: str, optional: bool = False) -> Tensor | None:
            if optional and i == -1:
                return None
            if not 0 <= i < len(tensors):
                raise InvalidModelError(
                    f"{at}: tensor index {i} out of range ({len(tensors)} tensors)"
                )
            return tensors[i]

        sg.inputs = [tensor_at(i, f"{where} inputs") for i in _ints(sg_t.inputs)]  # type: ignore[misc]
        sg.outputs = [tensor_at(i, f"{where} outputs") for i in _ints(sg_t.outputs)]  # type: ignore[misc]
        for op_index, op_t in enumerate(sg_t.operators or []):
            at = f"{where}, operator {op_index}"
            if not 0 <= op_t.opcodeIndex < len(opcodes):
                raise InvalidModelError(
                    f"{at}: opcode index {op_t.opcodeIndex} out of range ({len(opcodes)} codes)"
                )
            name, version, custom_code = opcodes[op_t.opcodeIndex]
            sg.add_operator(
                Operator(
                    name,
                    [tensor_at(i, f"{at} ({name}) inputs", optional=True) for i in _ints(op_t.inputs)],
                    [tensor_at(i, f"{at} ({name}) outputs") for i in _ints(op_t.outputs)],  # type: ignore[misc]
                    options_from_fb(op_t.builtinOptionsType, op_t.builtinOptions, False, at),
                    options2=options_from_fb(
                        op_t.builtinOptions2Type, op_t.builtinOptions2, True, at
                    ),
                    custom_code=custom_code,
                    custom_options=self._custom_options(op_t, at),
                    custom_options_format=int(op_t.customOptionsFormat),
                    version=version,
                    intermediates=[
                        tensor_at(i, f"{at} ({name}) intermediates") for i in _ints(op_t.intermediates)  # type: ignore[misc]
                    ],
                    mutating_variable_inputs=(
                        None
                        if op_t.mutatingVariableInputs is None
                        else [bool(v) for v in op_t.mutatingVariableInputs]
                    ),
                    debug_metadata_index=int(getattr(op_t, "debugMetadataIndex", -1)),
                )
            )
        return sg

    def _custom_options(self, op_t: Any, at: str) -> bytes | None:
        if op_t.largeCustomOptionsOffset > 1:
            start, size = op_t.largeCustomOptionsOffset, op_t.largeCustomOptionsSize
            if start + size > len(self.buf):
                raise InvalidModelError(
                    f"{at}: custom options at offset {start} size {size} are past the end of the file"
                )
            return self.buf[start:start + size].tobytes()
        if op_t.customOptions is None:
            return None
        return np.asarray(op_t.customOptions, dtype=np.uint8).tobytes()

    def _tensor(self, where: str, t_t: Any) -> Tensor:
        name = text(t_t.name, f"{where} name")
        at = f"{where} ('{name}')"
        try:
            dtype = DType(t_t.type)
        except ValueError:
            raise InvalidModelError(f"{at}: unknown tensor type {t_t.type}") from None
        shape = tuple(_ints(t_t.shape))
        if any(d < 0 for d in shape):
            raise InvalidModelError(f"{at}: negative dimension in shape {list(shape)}")
        raw = self._buffer(t_t.buffer, at) if t_t.buffer else None
        sparsity = self._sparsity(t_t.sparsity, at) if t_t.sparsity is not None else None
        data = None if raw is None else self._view(t_t.buffer, raw, dtype, shape, sparsity is not None)
        return Tensor(
            name=name,
            dtype=dtype,
            shape=shape,
            shape_signature=None if t_t.shapeSignature is None else tuple(_ints(t_t.shapeSignature)),
            data=data,
            quantization=_quantization(t_t.quantization),
            sparsity=sparsity,
            is_variable=bool(t_t.isVariable),
            has_rank=bool(t_t.hasRank),
            variant_tensors=(
                None
                if t_t.variantTensors is None
                else [self._variant(v, at) for v in t_t.variantTensors]
            ),
            compression_type=int(getattr(t_t, "compressionType", 0)),
        )

    def _view(self, index: int, raw: np.ndarray, dtype: DType, shape: tuple[int, ...], sparse: bool) -> np.ndarray:
        """Typed view of a buffer: shaped when the bytes are exactly the elements, flat otherwise.

        Tensors sharing a buffer with the same type and shape share one array object, which lets
        the writer keep them sharing."""
        key = (index, dtype.name, shape if not sparse else (-1,))
        found = self._views.get(key)
        if found is not None:
            return found
        np_type = dtype.numpy
        view = raw
        if np_type is not None and raw.size % np_type.itemsize == 0:
            if not sparse and raw.size == math.prod(shape) * np_type.itemsize:
                view = raw.view(np_type).reshape(shape)
            elif sparse:
                view = raw.view(np_type)
        if view.flags.writeable:
            view.flags.writeable = False
        self._views[key] = view
        return view

    def _sparsity(self, s: Any, at: str) -> Sparsity:
        dims = None
        if s.dimMetadata is not None:
            dims = [
                DimensionMetadata(
                    format=int(d.format),
                    dense_size=int(d.denseSize),
                    array_segments=_index_vector(d.arraySegmentsType, d.arraySegments, at),
                    array_indices=_index_vector(d.arrayIndicesType, d.arrayIndices, at),
                )
                for d in s.dimMetadata
            ]
        return Sparsity(
            traversal_order=None if s.traversalOrder is None else _ints(s.traversalOrder),
            block_map=None if s.blockMap is None else _ints(s.blockMap),
            dim_metadata=dims,
        )

    def _variant(self, v: Any, at: str) -> VariantSubType:
        try:
            dtype = DType(v.type)
        except ValueError:
            raise InvalidModelError(f"{at}: unknown variant element type {v.type}") from None
        shape = None if v.shape is None else _ints(v.shape)
        return VariantSubType(shape=shape, dtype=dtype, has_rank=bool(v.hasRank))

    def _signature(self, model: Model, sig_t: Any) -> SignatureDef:
        key = text(sig_t.signatureKey, "signature key")
        if not 0 <= sig_t.subgraphIndex < len(model.subgraphs):
            raise InvalidModelError(
                f"signature '{key}': subgraph index {sig_t.subgraphIndex} out of range "
                f"({len(model.subgraphs)} subgraphs)"
            )
        sg = model.subgraphs[sig_t.subgraphIndex]

        def entries(maps: Any, kind: str) -> list[tuple[str, Tensor]]:
            out = []
            for tm in maps or []:
                name = text(tm.name, f"signature '{key}' {kind} name")
                if not 0 <= tm.tensorIndex < len(sg.tensors):
                    raise InvalidModelError(
                        f"signature '{key}' {kind} '{name}': tensor index {tm.tensorIndex} out of "
                        f"range ({len(sg.tensors)} tensors)"
                    )
                out.append((name, sg.tensors[tm.tensorIndex]))
            return out

        return SignatureDef(key, sg, entries(sig_t.inputs, "input"), entries(sig_t.outputs, "output"))


def _ints(values: Any) -> list[int]:
    if values is None:
        return []
    return [int(v) for v in values]


def _floats(values: Any) -> np.ndarray | None:
    if values is None:
        return None
    return np.asarray(values, dtype=np.float32)


def _quantization(q: Any) -> Quantization | None:
    if q is None:
        return None
    details = None
    if q.detailsType and q.details is not None:
        d = q.details
        if isinstance(d, fb.CustomQuantizationT):
            details = CustomQuantization(None if d.custom is None else np.asarray(d.custom, np.uint8).tobytes())
        elif isinstance(d, fb.MXQuantizationT):
            details = MXQuantization(int(d.axis))
        elif isinstance(d, fb.BlockwiseQuantizationT):
            details = BlockwiseQuantization(int(d.scales), int(d.zeroPoints), int(d.blockSize))
    elif q.detailsType:
        raise InvalidModelError(f"unknown quantization details type {q.detailsType}")
    result = Quantization(
        scale=_floats(q.scale),
        zero_point=None if q.zeroPoint is None else np.asarray(q.zeroPoint, np.int64),
        min=_floats(q.min),
        max=_floats(q.max),
        quantized_dimension=int(q.quantizedDimension),
        details=details,
    )
    empty = all(v is None or v.size == 0 for v in (result.scale, result.zero_point, result.min, result.max))
    if empty and details is None and result.quantized_dimension == 0:
        return None
    return result


def _index_vector(kind: int, vec: Any, at: str) -> np.ndarray | None:
    if kind == 0:
        return None
    dtype = _INDEX_VECTOR_DTYPES.get(kind)
    if dtype is None or vec is None:
        raise InvalidModelError(f"{at}: unknown sparse index vector type {kind}")
    return np.asarray([] if vec.values is None else vec.values, dtype=dtype)
