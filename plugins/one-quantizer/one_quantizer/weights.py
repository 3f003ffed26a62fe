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
_TYPES = {"int8": DType.INT8, "int16": DType.INT16}
#: Operators whose kernels take int8 weights with float activations directly (LiteRT's hybrid
#: depthwise kernel reads per-channel scales only: per-tensor depthwise weights get a DEQUANTIZE).
HYBRID = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def _hybrid(op: Operator, per_channel: bool) -> bool:
    return op.name in HYBRID and (per_channel or op.name != "DEPTHWISE_CONV_2D")


def quantize_weights(model: Model, dtype: str = "int8", granularity: str = "channel") -> Model:
    """Quantize the float weights of the operators in WEIGHTS, in place; returns `model`."""
    if dtype not in _TYPES:
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
        data, quant = P.symmetric_weights(w.data, axis if per_channel else None, _TYPES[dtype])
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


def _dequantized_input(model: Model, op: Operator, w: Tensor, data: np.ndarray, quant: Quantization) -> None:
    """Store `w` as integers and feed its readers a DEQUANTIZE of it (placed before `op`)."""
    sg = model.main
    stored = sg.add_tensor(Tensor(f"{w.name}/quantized", DType.from_numpy(data.dtype), w.shape, data=data,
                                  quantization=quant))
    widened = sg.add_tensor(Tensor(w.name, DType.FLOAT32, w.shape))
    w.name = f"{w.name}/float"
    sg.add_operator(Operator("DEQUANTIZE", [stored], [widened], DequantizeOptions()), sg.operators.index(op))
    sg.replace_all_uses(w, widened)
