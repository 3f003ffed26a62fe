"""Weight-only quantization (ONE's circle-quantizer `--quantize_weights`): activations stay
float, weights become integers.

int8 weights of CONV_2D, DEPTHWISE_CONV_2D (per channel) and FULLY_CONNECTED are symmetric
(per output channel or per tensor) and consumed as they are: TFLite's hybrid kernels (LiteRT, our
runtime) quantize the activations on the fly. int16 weights, per-tensor depthwise weights and
GATHER tables are stored as integers and widened by a DEQUANTIZE in front of their operator: the
file shrinks, the arithmetic stays float."""

from __future__ import annotations

import numpy as np

from one_core.errors import InputError
from one_core.ir import DType, Model, Operator, Tensor, verify
from one_core.ir.options import DequantizeOptions
from one_core.ir.tensor import Quantization

from . import params as P

#: Operator -> (weight input, per-channel axis) of the weights it quantizes.
WEIGHTS = {"CONV_2D": (1, 0), "DEPTHWISE_CONV_2D": (1, 3), "FULLY_CONNECTED": (1, 0), "GATHER": (0, 0)}
#: Operators whose kernels take int8 weights with float activations directly (LiteRT's hybrid
#: depthwise kernel reads per-channel scales only: per-tensor depthwise weights get a DEQUANTIZE).
HYBRID = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def _hybrid(op: Operator, per_channel: bool) -> bool:
    return op.name in HYBRID and (per_channel or op.name != "DEPTHWISE_CONV_2D")


def quantize_weights(model: Model, dtype: str = "int8", granularity: str = "channel") -> Model:
    """Quantize the float weights of the operators in WEIGHTS, in place; returns `model`."""
    if dtype not in ("int8", "int16"):
        raise InputError(f"weight-only quantization takes int8 or int16, not '{dtype}'")
    if granularity not in ("channel", "layer"):
        raise InputError(f"granularity '{granularity}' is unknown (known: layer, channel)")
    sg = model.main
    count = 0
    for op in list(sg.operators):
        if op.name not in WEIGHTS:
            continue
        index, axis = WEIGHTS[op.name]
        w = op.input(index)
        # Weights another operator shared are already integers, or read through a DEQUANTIZE.
        if w is None or not w.is_constant or w.dtype != DType.FLOAT32 or w.sparsity is not None:
            continue
        per_channel = granularity == "channel"
        data, quant = _symmetric(np.asarray(w.data), axis if per_channel else None, dtype)
        if dtype == "int8" and all(_hybrid(u, per_channel) for u in w.consumers):
            w.data, w.dtype, w.quantization = data, DType.INT8, quant
        else:
            _dequantized_input(model, op, w, data, quant)
        count += 1
    if count == 0:
        raise InputError("no float weights to quantize (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, GATHER)")
    sg.remove_unused_tensors()  # the float originals of DEQUANTIZE-fed weights
    verify(model)
    return model


def _symmetric(w: np.ndarray, axis: int | None, dtype: str) -> tuple[np.ndarray, Quantization]:
    if dtype == "int8":
        return P.symmetric_weights(w, axis)
    w64 = np.asarray(w, np.float64)
    if axis is None:
        amax = np.array([np.abs(w64).max(initial=0.0)])
    else:
        amax = np.abs(np.moveaxis(w64, axis, 0)).reshape(w64.shape[axis], -1).max(axis=1, initial=0.0)
    scale = np.where(amax > 0, amax / 32767.0, 1.0).astype(np.float32)
    shape = [1] * w64.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.clip(np.round(w64 / scale.astype(np.float64).reshape(shape)), -32767, 32767).astype(np.int16)
    return q, Quantization(scale=scale, zero_point=np.zeros(scale.size, np.int64),
                           quantized_dimension=0 if axis is None else axis)


def _dequantized_input(model: Model, op: Operator, w: Tensor, data: np.ndarray, quant: Quantization) -> None:
    """Store `w` as integers and feed its readers a DEQUANTIZE of it (placed before `op`)."""
    sg = model.main
    stored = sg.add_tensor(Tensor(f"{w.name}/quantized", DType.from_numpy(data.dtype), w.shape, data=data,
                                  quantization=quant))
    widened = sg.add_tensor(Tensor(w.name, DType.FLOAT32, w.shape))
    w.name = f"{w.name}/float"
    sg.add_operator(Operator("DEQUANTIZE", [stored], [widened], DequantizeOptions()), sg.operators.index(op))
    sg.replace_all_uses(w, widened)
