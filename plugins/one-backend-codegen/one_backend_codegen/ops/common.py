"""Helpers shared by the emitters: activation clamps, padding, weight packing."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Operator
from one_backend_runtime.kernels.conv import out_size_and_pad

#: Columns of one packed weight panel (ONE_NR in conv_f32.h).
PANEL = 16
_FLOAT_CLAMPS = {0: (-np.inf, np.inf), 1: (0.0, np.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def activation(op: Operator) -> int:
    return int(getattr(op.options, "fused_activation_function", 0) or 0)


def float_clamp(op: Operator) -> tuple[float, float]:
    """The float clamp of the operator's fused activation (NONE, RELU, RELU_N1_TO_1, RELU6)."""
    return _FLOAT_CLAMPS[activation(op)]


def clampable(op: Operator) -> bool:
    return activation(op) in _FLOAT_CLAMPS


def all_float(op: Operator) -> bool:
    return all(t.dtype == DType.FLOAT32 for t in (*op.inputs, *op.outputs) if t is not None)


def pack_panels(w_kn: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """[K, N] weights as ONE_NR-column panels: [ceil(N / PANEL), K, PANEL], zero-padded."""
    k, n = w_kn.shape
    panels = -(-n // PANEL)
    padded = np.zeros((k, panels * PANEL), dtype)
    padded[:, :n] = w_kn
    return np.ascontiguousarray(padded.reshape(k, panels, PANEL).transpose(1, 0, 2))


def window(size: int, filt: int, stride: int, dilation: int, padding: int) -> tuple[int, int]:
    """(output size, padding before) as TFLite computes them."""
    return out_size_and_pad(padding, size, filt, stride, dilation)
