"""int8 -> uint8 requantization of a quantized model (ONE's circle-quantizer `--requantize`):
every int8 tensor moves by 128, values and zero point alike, so each real value stays the same.
Per-channel int8 weights become circle's per-channel uint8 weights (zero point 128 in every
channel): ONE's runtimes and ours run them, TFLite's uint8 kernels do not."""

from __future__ import annotations

import numpy as np

from one_core.errors import InputError
from one_core.ir import DType, Model, verify
from one_core.ir.tensor import Quantization


def requantize(model: Model, source: str = "int8", target: str = "uint8") -> Model:
    """Turn the int8 tensors of a quantized model into uint8 ones (in place; returns `model`)."""
    if (source, target) != ("int8", "uint8"):
        raise InputError(f"requantize: only int8 to uint8 is supported, not {source} to {target}")
    tensors = [t for sg in model.subgraphs for t in sg.tensors if t.dtype == DType.INT8]
    if not tensors:
        raise InputError("requantize: the model has no int8 tensors")
    for t in tensors:
        q = t.quantization
        if q is None or q.scale is None or q.scale.size == 0:
            raise InputError(f"requantize: int8 tensor '{t.name}' has no quantization parameters")
    for t in tensors:
        q = t.quantization
        zero = q.zero_point if q.zero_point is not None and q.zero_point.size else np.zeros(q.scale.size, np.int64)
        if t.data is not None:
            t.data = (np.asarray(t.data).astype(np.int16) + 128).astype(np.uint8)
        t.dtype = DType.UINT8
        t.quantization = Quantization(scale=q.scale.copy(), zero_point=zero.astype(np.int64) + 128, min=q.min,
                                      max=q.max, quantized_dimension=q.quantized_dimension)
    verify(model)
    return model
