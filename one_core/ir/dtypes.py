"""Element types of circle tensors and their numpy counterparts."""

from __future__ import annotations

import enum

import numpy as np


class DType(enum.IntEnum):
    """Circle's TensorType: TFLite's codes, plus circle-only types with negative codes."""

    MXINT8 = -7
    MXFP4 = -6
    GGML_Q8_1 = -5
    GGML_Q8_0 = -4
    GGML_Q4_1 = -3
    GGML_Q4_0 = -2
    UINT4 = -1
    FLOAT32 = 0
    FLOAT16 = 1
    INT32 = 2
    UINT8 = 3
    INT64 = 4
    STRING = 5
    BOOL = 6
    INT16 = 7
    COMPLEX64 = 8
    INT8 = 9
    FLOAT64 = 10
    COMPLEX128 = 11
    UINT64 = 12
    RESOURCE = 13
    VARIANT = 14
    UINT32 = 15
    UINT16 = 16
    INT4 = 17
    BFLOAT16 = 18

    @property
    def numpy(self) -> np.dtype | None:
        """The numpy dtype holding one element, or None when elements are not byte-addressable
        numbers (strings, packed 4-bit and block-quantized types, resources, variants)."""
        return _NUMPY.get(self)

    @property
    def is_circle_only(self) -> bool:
        """True for types TFLite does not know (the negative codes)."""
        return self.value < 0

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type) -> DType:
        """The circle type of a numpy dtype; raises ValueError when there is none."""
        found = _FROM_NUMPY.get(np.dtype(dtype))
        if found is None:
            raise ValueError(f"numpy dtype {np.dtype(dtype)} has no circle tensor type")
        return found


_NUMPY: dict[DType, np.dtype] = {
    DType.FLOAT32: np.dtype("<f4"),
    DType.FLOAT16: np.dtype("<f2"),
    DType.INT32: np.dtype("<i4"),
    DType.UINT8: np.dtype("u1"),
    DType.INT64: np.dtype("<i8"),
    DType.BOOL: np.dtype("?"),
    DType.INT16: np.dtype("<i2"),
    DType.COMPLEX64: np.dtype("<c8"),
    DType.INT8: np.dtype("i1"),
    DType.FLOAT64: np.dtype("<f8"),
    DType.COMPLEX128: np.dtype("<c16"),
    DType.UINT64: np.dtype("<u8"),
    DType.UINT32: np.dtype("<u4"),
    DType.UINT16: np.dtype("<u2"),
}
_FROM_NUMPY: dict[np.dtype, DType] = {v: k for k, v in _NUMPY.items()}
