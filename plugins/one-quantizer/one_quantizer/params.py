"""Quantization parameters as TFLite's integer kernels require them.

Activations: asymmetric, the range widened to hold 0, zero point nudged as TFLite's
`GetAsymmetricQuantizationParams`; int16 (16x8) activations symmetric (zero point 0, scale
max|x| / 32767). Weights: symmetric int8 in [-127, 127] (per channel or per tensor), or
asymmetric uint8 per tensor. Biases: int32, or int64 for int16 activations, scale = input scale
* weight scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from one_core.ir import DType
from one_core.ir.tensor import Quantization

QRANGE = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767)}


@dataclass(frozen=True)
class QParams:
    """Per-tensor affine parameters of an activation."""

    scale: float
    zero_point: int

    def quantization(self, lo: float | None = None, hi: float | None = None) -> Quantization:
        """As the IR's Quantization (keeping the calibrated range when given)."""
        rng = {} if lo is None else {"min": np.array([lo], np.float32), "max": np.array([hi], np.float32)}
        return Quantization(scale=np.array([self.scale], np.float32),
                            zero_point=np.array([self.zero_point], np.int64), **rng)


def asymmetric(lo: float, hi: float, dtype: DType) -> QParams:
    """Parameters for real values in [lo, hi] (widened to hold 0); symmetric for int16."""
    qmin, qmax = QRANGE[dtype]
    if dtype == DType.INT16:
        amax = max(abs(float(lo)), abs(float(hi)))
        return QParams(float(np.float32(amax / qmax)) if amax > 0 else 1.0, 0)
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0.0:
        return QParams(1.0, 0 if dtype == DType.INT8 else 128)
    scale = (hi - lo) / (qmax - qmin)
    from_min, from_max = qmin - lo / scale, qmax - hi / scale
    use_min = abs(qmin) + abs(lo / scale) < abs(qmax) + abs(hi / scale)
    zp = from_min if use_min else from_max
    return QParams(float(np.float32(scale)), int(np.clip(np.round(zp), qmin, qmax)))


def fixed_output(op_type: str, dtype: DType) -> QParams | None:
    """The output parameters TFLite's kernels insist on (LOGISTIC, SOFTMAX, TANH), or None."""
    if dtype == DType.INT16:  # TFLite's 16-bit kernels: outputs in [-1, 1) or [0, 1) over 2^15 steps
        return QParams(1.0 / 32768.0, 0) if op_type in ("LOGISTIC", "SOFTMAX", "TANH") else None
    offset = 0 if dtype == DType.INT8 else 128
    if op_type in ("LOGISTIC", "SOFTMAX"):
        return QParams(1.0 / 256.0, -128 + offset)
    if op_type == "TANH":
        return QParams(1.0 / 128.0, offset)
    return None


def quantize_array(x: np.ndarray, p: QParams, dtype: DType) -> np.ndarray:
    qmin, qmax = QRANGE[dtype]
    q = np.round(np.asarray(x, np.float64) / p.scale) + p.zero_point
    return np.clip(q, qmin, qmax).astype(dtype.numpy)


def symmetric_weights(w: np.ndarray, axis: int | None, dtype: DType = DType.INT8) -> tuple[np.ndarray, Quantization]:
    """int8 in [-127, 127] (or int16 in [-32767, 32767]) with zero point 0, one scale per slice
    along `axis` (None: one)."""
    qmax = 127 if dtype == DType.INT8 else 32767
    w = np.asarray(w, np.float64)
    if axis is None:
        amax = np.array([np.abs(w).max(initial=0.0)])
    else:
        amax = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1, initial=0.0)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.clip(np.round(w / scale.astype(np.float64).reshape(shape)), -qmax, qmax).astype(dtype.numpy)
    quant = Quantization(scale=scale, zero_point=np.zeros(scale.size, np.int64),
                         quantized_dimension=0 if axis is None else axis)
    return q, quant


def asymmetric_weights(w: np.ndarray, dtype: DType, axis: int | None = None) -> tuple[np.ndarray, Quantization]:
    """Asymmetric scales and zero points, one for the whole tensor (uint8 weights, float
    constants of ADD, MUL...) or one per slice along `axis` (circle's per-channel uint8
    weights, which ONE's runtimes take and TFLite's kernels do not)."""
    w = np.asarray(w)
    if axis is None:
        p = asymmetric(float(w.min(initial=0.0)), float(w.max(initial=0.0)), dtype)
        return quantize_array(w, p, dtype), p.quantization()
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    ps = [asymmetric(float(r.min(initial=0.0)), float(r.max(initial=0.0)), dtype) for r in rows]
    shape = [1] * w.ndim
    shape[axis] = -1
    scale = np.array([p.scale for p in ps], np.float32)
    zero = np.array([p.zero_point for p in ps], np.int64)
    qmin, qmax = QRANGE[dtype]
    q = np.round(np.asarray(w, np.float64) / scale.astype(np.float64).reshape(shape)) + zero.reshape(shape)
    return np.clip(q, qmin, qmax).astype(dtype.numpy), Quantization(scale=scale, zero_point=zero,
                                                                    quantized_dimension=axis)


def bias(b: np.ndarray, input_scale: float, weight_scale: np.ndarray,
         wide: bool = False) -> tuple[np.ndarray, Quantization]:
    """int32 (int64 when `wide`: 16-bit activations) with scale input_scale * weight_scale (per
    channel when the weights are)."""
    scale = (np.float32(input_scale) * np.asarray(weight_scale, np.float32)).astype(np.float32)
    per_channel = np.broadcast_to(scale, np.shape(b)) if scale.size > 1 else scale
    q = np.round(np.asarray(b, np.float64) / per_channel.astype(np.float64))
    limit = 2**63 - 1024 if wide else 2**31 - 1
    q = np.clip(q, -limit, limit).astype(np.int64 if wide else np.int32)
    return q, Quantization(scale=scale, zero_point=np.zeros(scale.size, np.int64))
