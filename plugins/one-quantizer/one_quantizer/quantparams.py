"""Setting quantization parameters by hand on a quantized model: ONE's circle-quantizer
`--force_quantparam` (a tensor gets the given scale and zero point) and `--copy_quantparam`
(a tensor gets another's parameters)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.errors import InputError
from one_core.ir import DType, Model, Tensor
from one_core.ir.tensor import Quantization

_RANGES = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767)}


def force_quantparam(model: Model, names: Sequence[str], scales: Sequence[float],
                     zero_points: Sequence[int]) -> Model:
    """Give each named integer tensor one scale and zero point (in place; returns `model`)."""
    if not len(names) == len(scales) == len(zero_points) or not names:
        raise InputError("force_quantparam: give as many tensor names, scales and zero points, at least one")
    for name, scale, zp in zip(names, scales, zero_points):
        t = _quantized_tensor(model, name, "force_quantparam")
        lo, hi = _RANGES[t.dtype]
        if not (float(scale) > 0 and np.isfinite(float(scale))):
            raise InputError(f"force_quantparam: tensor '{name}': scale must be positive, got {scale}")
        if not lo <= int(zp) <= hi:
            raise InputError(f"force_quantparam: tensor '{name}': zero point {zp} is outside {t.dtype.name.lower()}")
        t.quantization = Quantization(scale=np.array([scale], np.float32), zero_point=np.array([int(zp)], np.int64))
    return model


def copy_quantparam(model: Model, sources: Sequence[str], destinations: Sequence[str]) -> Model:
    """Give each destination tensor the parameters of the source at the same position."""
    if len(sources) != len(destinations) or not sources:
        raise InputError("copy_quantparam: give as many source as destination tensors, at least one")
    for src_name, dst_name in zip(sources, destinations):
        src = _quantized_tensor(model, src_name, "copy_quantparam")
        dst = _quantized_tensor(model, dst_name, "copy_quantparam")
        if src.dtype != dst.dtype:
            raise InputError(f"copy_quantparam: '{src_name}' is {src.dtype.name.lower()} but '{dst_name}' is "
                             f"{dst.dtype.name.lower()}")
        q = src.quantization
        dst.quantization = Quantization(scale=q.scale.copy(), zero_point=q.zero_point.copy(),
                                        min=None if q.min is None else q.min.copy(),
                                        max=None if q.max is None else q.max.copy(),
                                        quantized_dimension=q.quantized_dimension)
    return model


def _quantized_tensor(model: Model, name: str, what: str) -> Tensor:
    found = [t for sg in model.subgraphs for t in sg.tensors if t.name == name]
    if not found:
        raise InputError(f"{what}: no tensor named '{name}'")
    t = found[0]
    if t.dtype not in _RANGES or t.quantization is None or t.quantization.scale is None:
        raise InputError(f"{what}: tensor '{name}' is not quantized ({t.dtype.name.lower()})")
    if t.quantization.scale.size > 1:
        raise InputError(f"{what}: tensor '{name}' is quantized per channel")
    return t
