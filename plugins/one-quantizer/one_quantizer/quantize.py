"""Full-integer quantization of a calibrated float model (ONE's circle-quantizer with
`--quantize_with_minmax`), producing what TFLite's integer kernels accept."""

from __future__ import annotations

from typing import Any

import numpy as np

from one_core.errors import InputError, OneError, UnsupportedOperatorError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor, verify
from one_core.ir.options import DequantizeOptions, QuantizeOptions

from . import params as P
from .calibration import activations, calibrate
from .data import Records

#: Weighted operators: the weight's per-channel axis (TFLite's layout); the bias is input 2.
WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
#: Output shares the input's parameters (the kernels move values without rescaling).
SAME_AS_INPUT = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "RESHAPE", "SQUEEZE", "TRANSPOSE", "EXPAND_DIMS"}
#: Output parameters come from the output's calibrated range (LOGISTIC, SOFTMAX, TANH: fixed).
OWN_RANGE = {"ADD", "SUB", "MUL", "MEAN", "CONCATENATION", "HARD_SWISH", "RELU", "RELU6",
             "LOGISTIC", "SOFTMAX", "TANH"}
SUPPORTED_OPERATORS = frozenset({*WEIGHT_AXIS, *SAME_AS_INPUT, *OWN_RANGE})
_DTYPES = {"int8": DType.INT8, "uint8": DType.UINT8, "int16": DType.INT16}
#: What TFLite's 16x8 kernels take (int16 activations, int8 weights).
INT16_OPERATORS = frozenset({*WEIGHT_AXIS, *SAME_AS_INPUT, "ADD", "SUB", "MUL", "MEAN", "CONCATENATION",
                             "LOGISTIC", "SOFTMAX", "TANH", "RELU", "RELU6"})
_IO_TYPES = {"float32": DType.FLOAT32, **_DTYPES}


def quantize(
    model: Model,
    calibration_data: Records,
    dtype: str = "int8",
    granularity: str = "channel",
    *,
    input_type: str | None = None,
    output_type: str | None = None,
    **calibration: Any,
) -> Model:
    """Calibrate `model` on `calibration_data` (see `calibrate` for the data and the options
    `mode`, `min_percentile`, ...) and quantize it, in place; returns the model."""
    _check_options(dtype, granularity, input_type, output_type)
    _check_supported(model, dtype)
    calibrate(model, calibration_data, **calibration)
    return quantize_with_minmax(model, dtype, granularity, input_type=input_type, output_type=output_type)


def quantize_with_minmax(
    model: Model,
    dtype: str = "int8",
    granularity: str = "channel",
    *,
    input_type: str | None = None,
    output_type: str | None = None,
) -> Model:
    """Quantize a model whose float activations carry min/max (from `calibrate`), in place.

    Activations become asymmetric `dtype` (symmetric for int16, 16x8); weights symmetric int8
    (per channel or per layer) or asymmetric uint8 per layer; biases int32 (int64 for int16). Inputs and outputs take `input_type` and
    `output_type` (default: `dtype`, as ONE does); other types get QUANTIZE/DEQUANTIZE."""
    _check_options(dtype, granularity, input_type, output_type)
    _check_supported(model, dtype)
    qtype = _DTYPES[dtype]
    tensors = activations(model)
    if not tensors:
        raise InputError("the model has no float activations: is it already quantized?")
    missing = [t.name for t in tensors if not _has_range(t)]
    if missing:
        raise InputError(f"{len(missing)} activation(s) have no recorded min/max (calibrate first): "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    _Quantizer(model.main, qtype, granularity == "channel").run()
    _set_io(model, qtype, _IO_TYPES[input_type or dtype], _IO_TYPES[output_type or dtype])
    verify(model)
    return model


def _check_options(dtype: str, granularity: str, input_type: str | None, output_type: str | None) -> None:
    if dtype not in _DTYPES:
        raise InputError(f"quantized_dtype '{dtype}' is not supported (supported: {', '.join(_DTYPES)})")
    if granularity not in ("layer", "channel"):
        raise InputError(f"granularity '{granularity}' is unknown (known: layer, channel)")
    if dtype == "uint8" and granularity == "channel":
        raise InputError("uint8 quantization is per layer (TFLite's uint8 kernels have no per-channel weights)")
    if dtype == "int16" and any(v not in (None, "float32", "int16") for v in (input_type, output_type)):
        raise InputError("int16 models take float32 or int16 inputs and outputs")
    for what, value in (("input_type", input_type), ("output_type", output_type)):
        if value is not None and value not in _IO_TYPES:
            raise InputError(f"{what} '{value}' is not supported (supported: {', '.join(_IO_TYPES)})")


def _check_supported(model: Model, dtype: str = "int8") -> None:
    supported = INT16_OPERATORS if dtype == "int16" else SUPPORTED_OPERATORS
    found = {op.type for _, op in model.operators()}
    unsupported = sorted(found - supported)
    if unsupported or len(model.subgraphs) > 1:
        names = unsupported or ["more than one subgraph"]
        raise UnsupportedOperatorError(f"the quantizer does not support {', '.join(names)}"
                                       f"{' in int16' if dtype == 'int16' else ''} "
                                       f"(supported: {', '.join(sorted(supported))})", unsupported)


def _has_range(t: Tensor) -> bool:
    q = t.quantization
    return q is not None and q.min is not None and q.max is not None and q.min.size == 1


class _Quantizer:
    """Walks the main subgraph in order, deciding each tensor's parameters and integer data."""

    def __init__(self, sg: Subgraph, qtype: DType, per_channel: bool) -> None:
        self.sg, self.qtype, self.per_channel = sg, qtype, per_channel
        self.params: dict[int, P.QParams] = {}
        self.done: set[int] = set()

    def run(self) -> None:
        for t in self.sg.inputs:
            self._activation(t, self._from_range(t))
        for op in list(self.sg.operators):
            self._operator(op)

    def _operator(self, op: Operator) -> None:
        if op.name in WEIGHT_AXIS:
            self._weights(op)
        for t in op.inputs:
            if t is not None and t.data is not None and t.dtype == DType.FLOAT32 and id(t) not in self.done:
                data, t.quantization = P.asymmetric_weights(t.data, self.qtype)
                self._constant(t, data)
                self.params[id(t)] = P.QParams(float(t.quantization.scale[0]), int(t.quantization.zero_point[0]))
        out = op.outputs[0]
        if op.name in SAME_AS_INPUT:
            p = self.params[id(op.inputs[0])]
        else:
            p = P.fixed_output(op.name, self.qtype) or self._from_range(out)
        self._activation(out, p)
        if op.name == "CONCATENATION":
            for t in op.inputs:
                if self.params[id(t)] != p:
                    self._requantize(op, t, p)

    def _weights(self, op: Operator) -> None:
        w, b = op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else None
        if w is None or w.data is None or w.dtype != DType.FLOAT32:
            raise OneError(f"{op.name} '{op.outputs[0].name}': weights must be float constants")
        if id(w) not in self.done:
            if self.qtype == DType.UINT8:
                data, w.quantization = P.asymmetric_weights(w.data, DType.UINT8)
            else:
                data, w.quantization = P.symmetric_weights(w.data, WEIGHT_AXIS[op.name] if self.per_channel else None)
            self._constant(w, data)
        if b is not None and id(b) not in self.done:
            data, b.quantization = P.bias(b.data, self.params[id(op.inputs[0])].scale, w.quantization.scale,
                                          wide=self.qtype == DType.INT16)
            self._constant(b, data)

    def _constant(self, t: Tensor, data: np.ndarray) -> None:
        t.data, t.dtype = data, DType.from_numpy(data.dtype)
        self.done.add(id(t))

    def _from_range(self, t: Tensor) -> P.QParams:
        return P.asymmetric(float(t.quantization.min[0]), float(t.quantization.max[0]), self.qtype)

    def _activation(self, t: Tensor, p: P.QParams) -> None:
        lo, hi = (float(t.quantization.min[0]), float(t.quantization.max[0])) if _has_range(t) else (None, None)
        t.dtype, t.quantization = self.qtype, p.quantization(lo, hi)
        self.params[id(t)] = p

    def _requantize(self, op: Operator, t: Tensor, p: P.QParams) -> None:
        """Feed `op` a copy of `t` requantized to `p` (TFLite's int8 CONCATENATION needs equal parameters)."""
        new = self.sg.add_tensor(Tensor(f"{t.name}/requantized", self.qtype, t.shape, t.shape_signature))
        self._activation(new, p)
        self.sg.add_operator(Operator("QUANTIZE", [t], [new], QuantizeOptions()), self.sg.operators.index(op))
        op.set_inputs(new if x is t else x for x in op.inputs)


def _set_io(model: Model, qtype: DType, input_type: DType, output_type: DType) -> None:
    """Give the boundary tensors the requested types, converting with QUANTIZE/DEQUANTIZE."""
    sg = model.main
    if input_type != qtype:
        for t in list(sg.inputs):
            outer = _boundary_tensor(t, input_type)
            sg.inputs = [outer if x is t else x for x in sg.inputs]
            sg.add_operator(Operator("QUANTIZE", [outer], [t], QuantizeOptions()), 0)
            _adopt(model, t, outer)
    if output_type != qtype:
        for t in list(sg.outputs):
            outer = _boundary_tensor(t, output_type)
            sg.outputs = [outer if x is t else x for x in sg.outputs]
            kind = "DEQUANTIZE" if output_type == DType.FLOAT32 else "QUANTIZE"
            sg.add_operator(Operator(kind, [t], [outer], DequantizeOptions() if kind == "DEQUANTIZE"
                                     else QuantizeOptions()))
            _adopt(model, t, outer)


def _boundary_tensor(t: Tensor, dtype: DType) -> Tensor:
    """A new tensor of `dtype` taking `t`'s name (`t` is renamed); int8 <-> uint8 shift the zero point."""
    quant = None
    if dtype != DType.FLOAT32:
        shift = 128 if dtype == DType.UINT8 else -128
        quant = P.QParams(float(t.quantization.scale[0]), int(t.quantization.zero_point[0]) + shift).quantization()
    outer = Tensor(t.name, dtype, t.shape, t.shape_signature, quantization=quant)
    t.name = f"{t.name}/quantized"
    return outer


def _adopt(model: Model, old: Tensor, new: Tensor) -> None:
    """Add the boundary tensor `new` to the main graph; signatures name it instead of `old`."""
    model.main.add_tensor(new)
    for sig in model.signature_defs:
        sig.inputs = [(n, new if x is old else x) for n, x in sig.inputs]
        sig.outputs = [(n, new if x is old else x) for n, x in sig.outputs]
