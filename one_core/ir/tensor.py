"""Tensors of the IR and the parameters that travel with them (quantization, sparsity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

from .dtypes import DType

if TYPE_CHECKING:
    from .operator import Operator


@dataclass(eq=False)
class CustomQuantization:
    """Opaque, tool-specific quantization parameters."""

    custom: bytes | None = None


@dataclass(eq=False)
class MXQuantization:
    """Microscaling (MX) quantization along one axis."""

    axis: int = 0


@dataclass(eq=False)
class BlockwiseQuantization:
    """Block-wise quantization: scales and zero points live in other tensors (by index)."""

    scales: int = 0
    zero_points: int = 0
    block_size: int = 0


QuantizationDetails = Union[CustomQuantization, MXQuantization, BlockwiseQuantization]


@dataclass(eq=False)
class Quantization:
    """Affine quantization `real = scale * (q - zero_point)`, per tensor or along an axis.

    Vectors are numpy arrays (float32 for scale, min and max; int64 for zero_point) or None when
    the file does not carry them.
    """

    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    quantized_dimension: int = 0
    details: QuantizationDetails | None = None

    @property
    def is_per_channel(self) -> bool:
        return self.scale is not None and self.scale.size > 1


@dataclass(eq=False)
class DimensionMetadata:
    """How one traversal dimension of a sparse tensor is stored.

    `array_segments` and `array_indices` are int32, uint16 or uint8 arrays; their dtype is the
    index vector type the file uses.
    """

    format: int = 0  # 0 = DENSE, 1 = SPARSE_CSR
    dense_size: int = 0
    array_segments: np.ndarray | None = None
    array_indices: np.ndarray | None = None


@dataclass(eq=False)
class Sparsity:
    """TACO-style sparse encoding of a constant tensor's buffer."""

    traversal_order: list[int] | None = None
    block_map: list[int] | None = None
    dim_metadata: list[DimensionMetadata] | None = None


@dataclass(eq=False)
class VariantSubType:
    """The element type of a VARIANT tensor."""

    shape: list[int] | None = None
    dtype: DType = DType.FLOAT32
    has_rank: bool = False


@dataclass(eq=False)
class Tensor:
    """A value in a subgraph: an activation, an input or output, or a constant.

    `data` is set for constants: a numpy array of the tensor's shape and element type, or a flat
    byte array (uint8) when the bytes do not map one-to-one to elements (sparse, packed or string
    tensors). Arrays read from a file are read-only views of the file; call `writable_data()`
    before changing them in place, or assign a new array.
    """

    name: str
    dtype: DType
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None = None
    data: np.ndarray | None = None
    quantization: Quantization | None = None
    sparsity: Sparsity | None = None
    is_variable: bool = False
    has_rank: bool = False
    variant_tensors: list[VariantSubType] | None = None
    compression_type: int = 0
    producer: Operator | None = field(default=None, repr=False, compare=False)
    consumers: list[Operator] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.dtype = DType(self.dtype)
        self.shape = tuple(int(d) for d in self.shape)
        if self.shape_signature is not None:
            self.shape_signature = tuple(int(d) for d in self.shape_signature)

    __hash__ = object.__hash__

    @property
    def is_constant(self) -> bool:
        return self.data is not None and not self.is_variable

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        """True when some dimension is unknown (-1 in the shape signature)."""
        return self.shape_signature is not None and any(d < 0 for d in self.shape_signature)

    @property
    def nbytes(self) -> int:
        """Size of the constant data in bytes (0 for non-constants)."""
        return 0 if self.data is None else int(self.data.nbytes)

    def writable_data(self) -> np.ndarray:
        """The constant's data as an array that may be changed in place (copied on first call)."""
        if self.data is None:
            raise ValueError(f"tensor '{self.name}' has no constant data")
        if not self.data.flags.writeable:
            self.data = np.array(self.data, copy=True)
        return self.data

    def __repr__(self) -> str:
        kind = "const " if self.data is not None else ""
        return f"<Tensor {self.name!r} {kind}{self.dtype.name}{list(self.shape)}>"
