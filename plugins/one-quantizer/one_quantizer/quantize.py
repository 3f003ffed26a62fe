"""Full-integer quantization of a calibrated float model (ONE's circle-quantizer with
`--quantize_with_minmax`), producing what TFLite's integer kernels accept."""

from __future__ import annotations

from typing import Any

import numpy as np

from one_core.errors import InputError, OneError, UnsupportedOperatorError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor, verify
from one_core.ir.options import DequantizeOptions, QuantizeOptions
from one_core.ir.tensor import Quantization

from . import params as P
from .calibration import activations, calibrate
from .config import ConfigSource, LayerParams, QuantConfig, layer_params, read_config
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
    dtype: str | None = None,
    granularity: str | None = None,
    *,
    input_type: str | None = None,
    output_type: str | None = None,
    config: ConfigSource | None = None,
    **calibration: Any,
) -> Model:
    """Calibrate `model` on `calibration_data` (see `calibrate` for the data and the options
    `mode`, `min_percentile`, ...) and quantize it, in place; returns the model. Arguments as
    `quantize_with_minmax`; a bad configuration or operator is refused before calibrating."""
    _plan(model, dtype, granularity, input_type, output_type, config)
    calibrate(model, calibration_data, **calibration)
    return quantize_with_minmax(model, dtype, granularity, input_type=input_type, output_type=output_type,
                                config=config)


def quantize_with_minmax(
    model: Model,
    dtype: str | None = None,
    granularity: str | None = None,
    *,
    input_type: str | None = None,
    output_type: str | None = None,
    config: ConfigSource | None = None,
) -> Model:
    """Quantize a model whose float activations carry min/max (from `calibrate`), in place.

    Activations become asymmetric `dtype` (symmetric for int16, 16x8); weights symmetric int8
    (per channel or per layer) or asymmetric uint8 (per layer; per channel is circle-only: ONE's
    runtimes and ours run it, TFLite's kernels do not); biases int32 (int64 for int16).
    `dtype` and `granularity` default to the config's defaults, else int8 and channel.
    `config` (ONE's mixed-precision JSON: a path, a dict or a `QuantConfig`) gives named
    layers another dtype or granularity; QUANTIZE operators convert between the types where
    layers meet. Inputs and outputs take `input_type` and `output_type` (default: `dtype`, as
    ONE does); other types get QUANTIZE/DEQUANTIZE."""
    default, chosen = _plan(model, dtype, granularity, input_type, output_type, config)
    tensors = activations(model)
    if not tensors:
        raise InputError("the model has no float activations: is it already quantized?")
    missing = [t.name for t in tensors if not _has_range(t)]
    if missing:
        raise InputError(f"{len(missing)} activation(s) have no recorded min/max (calibrate first): "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    quantizer = _Quantizer(model.main, _DTYPES[default.dtype], chosen)
    quantizer.run()
    _set_io(model, quantizer, _IO_TYPES[input_type or default.dtype], _IO_TYPES[output_type or default.dtype])
    verify(model)
    return model


def _plan(model: Model, dtype: str | None, granularity: str | None, input_type: str | None,
          output_type: str | None, config: ConfigSource | None) -> tuple[LayerParams, dict[int, LayerParams]]:
    """The default parameters and every operator's, checked against what the kernels take."""
    conf = read_config(config) if config is not None else QuantConfig()
    for what, given, from_config in (("quantized_dtype", dtype, conf.default_dtype),
                                     ("granularity", granularity, conf.default_granularity)):
        if given is not None and from_config is not None and given != from_config:
            raise InputError(f"{what} '{given}' contradicts the config's default '{from_config}'")
    default = LayerParams(dtype or conf.default_dtype or "int8", granularity or conf.default_granularity or "channel")
    _check_options(default, input_type, output_type)
    if len(model.subgraphs) > 1:
        raise UnsupportedOperatorError("the quantizer does not support models of more than one subgraph", [])
    chosen = layer_params(model, conf, default)
    for op in model.main.operators:
        params = chosen[id(op)]
        if params != default:
            _check_options(params, None, None, f"layer '{op.outputs[0].name}': ")
    for wide in (False, True):
        supported = INT16_OPERATORS if wide else SUPPORTED_OPERATORS
        unsupported = sorted({op.type for op in model.main.operators
                              if (chosen[id(op)].dtype == "int16") == wide and op.type not in supported})
        if unsupported:
            raise UnsupportedOperatorError(f"the quantizer does not support {', '.join(unsupported)}"
                                           f"{' in int16' if wide else ''} "
                                           f"(supported: {', '.join(sorted(supported))})", unsupported)
    return default, chosen


def _check_options(params: LayerParams, input_type: str | None, output_type: str | None, where: str = "") -> None:
    if params.dtype not in _DTYPES:
        raise InputError(f"{where}quantized_dtype '{params.dtype}' is not supported (supported: {', '.join(_DTYPES)})")
    if params.granularity not in ("layer", "channel"):
        raise InputError(f"{where}granularity '{params.granularity}' is unknown (known: layer, channel)")
    for what, value in (("input_type", input_type), ("output_type", output_type)):
        if value is not None and value not in _IO_TYPES:
            raise InputError(f"{what} '{value}' is not supported (supported: {', '.join(_IO_TYPES)})")


def _has_range(t: Tensor) -> bool:
    q = t.quantization
    return q is not None and q.min is not None and q.max is not None and q.min.size == 1


class _Quantizer:
    """Walks the main subgraph in order, deciding each tensor's type, parameters and integer
    data; an operator reading an activation of another type reads it through a QUANTIZE."""

    def __init__(self, sg: Subgraph, default: DType, chosen: dict[int, LayerParams]) -> None:
        self.sg, self.default, self.chosen = sg, default, chosen
        self.params: dict[int, P.QParams] = {}
        self.dtypes: dict[int, DType] = {}  # each quantized tensor's type, by id
        self.converted: dict[tuple[int, DType, P.QParams | None], Tensor] = {}
        self.float_data: dict[int, np.ndarray] = {}  # constants' float values, by id of the original

    def run(self) -> None:
        for t in self.sg.inputs:
            self._activation(t, self._from_range(t, self.default), self.default)
        for op in list(self.sg.operators):
            self._operator(op)

    def _operator(self, op: Operator) -> None:
        layer = self.chosen[id(op)]
        qtype = _DTYPES[layer.dtype]
        op.set_inputs([self._as_type(t, qtype) for t in op.inputs])
        weighted = op.name in WEIGHT_AXIS
        if weighted:
            self._weights(op, qtype, layer.granularity == "channel")
        for i, t in enumerate(op.inputs):
            if t is not None and (t.dtype == DType.FLOAT32 and t.data is not None or id(t) in self.float_data) \
                    and not (weighted and i > 0):
                data, quant = P.asymmetric_weights(self._float_value(t), qtype)
                t = self._constant(op, i, t, data, quant)
                self.params[id(t)] = P.QParams(float(quant.scale[0]), int(quant.zero_point[0]))
        out = op.outputs[0]
        if op.name in SAME_AS_INPUT:
            p = self.params[id(op.inputs[0])]
        else:
            p = P.fixed_output(op.name, qtype) or self._from_range(out, qtype)
        self._activation(out, p, qtype)
        if op.name == "CONCATENATION":
            op.set_inputs([self._converted(t, qtype, p, op) if self.params[id(t)] != p else t for t in op.inputs])

    def _as_type(self, t: Tensor | None, qtype: DType) -> Tensor | None:
        """`t`, or an activation of another type converted to `qtype` (constants: as they are)."""
        if t is None or id(t) not in self.dtypes or self.dtypes[id(t)] == qtype or t.data is not None:
            return t
        return self._converted(t, qtype, None)

    def _weights(self, op: Operator, qtype: DType, per_channel: bool) -> None:
        w, b = op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else None
        if w is None or w.dtype != DType.FLOAT32 and id(w) not in self.dtypes or w.data is None:
            raise OneError(f"{op.name} '{op.outputs[0].name}': weights must be float constants")
        if qtype == DType.UINT8:
            data, quant = P.asymmetric_weights(self._float_value(w), DType.UINT8,
                                               WEIGHT_AXIS[op.name] if per_channel else None)
        else:
            data, quant = P.symmetric_weights(self._float_value(w), WEIGHT_AXIS[op.name] if per_channel else None)
        w = self._constant(op, 1, w, data, quant)
        if b is not None:
            data, quant = P.bias(self._float_value(b), self.params[id(op.inputs[0])].scale, w.quantization.scale,
                                 wide=qtype == DType.INT16)
            self._constant(op, 2, b, data, quant)

    def _float_value(self, t: Tensor) -> np.ndarray:
        return self.float_data.get(id(t), t.data)

    def _constant(self, op: Operator, index: int, t: Tensor, data: np.ndarray, quant: Quantization) -> Tensor:
        """Give `op`'s input `index` the integer `data`. A constant already quantized for
        another reader, differently, is copied for this one."""
        if id(t) in self.dtypes:
            if np.array_equal(t.data, data) and t.dtype.numpy == data.dtype and _same(t.quantization, quant):
                return t
            copy = self.sg.add_tensor(Tensor(f"{t.name}/{op.outputs[0].name}", t.dtype, t.shape, t.shape_signature))
            self.float_data[id(copy)] = self.float_data[id(t)]
            op.set_inputs([copy if i == index else x for i, x in enumerate(op.inputs)])
            t = copy
        else:
            self.float_data[id(t)] = t.data
        t.data, t.dtype, t.quantization = data, DType.from_numpy(data.dtype), quant
        self.dtypes[id(t)] = t.dtype
        return t

    def _from_range(self, t: Tensor, qtype: DType) -> P.QParams:
        return P.asymmetric(float(t.quantization.min[0]), float(t.quantization.max[0]), qtype)

    def _activation(self, t: Tensor, p: P.QParams, qtype: DType) -> None:
        lo, hi = (float(t.quantization.min[0]), float(t.quantization.max[0])) if _has_range(t) else (None, None)
        t.dtype, t.quantization = qtype, p.quantization(lo, hi)
        self.params[id(t)], self.dtypes[id(t)] = p, qtype

    def converted_params(self, t: Tensor, qtype: DType) -> P.QParams:
        """The parameters `t` takes in `qtype`: between 8-bit types the same scale with the zero
        point moved by 128 (exact), else from its calibrated range."""
        p, src = self.params[id(t)], self.dtypes[id(t)]
        if qtype == src:
            return p
        if {src, qtype} == {DType.INT8, DType.UINT8}:
            return P.QParams(p.scale, p.zero_point + (128 if qtype == DType.UINT8 else -128))
        return self._from_range(t, qtype)

    def _converted(self, t: Tensor, qtype: DType, p: P.QParams | None, before: Operator | None = None) -> Tensor:
        """`t` requantized to `qtype` with parameters `p` (None: `converted_params`), placed after
        its producer (before `before` when given); made once per target."""
        key = (id(t), qtype, p)
        if key not in self.converted:
            suffix = "requantized" if qtype == self.dtypes[id(t)] else qtype.name.lower()
            new = self.sg.add_tensor(Tensor(f"{t.name}/{suffix}", qtype, t.shape, t.shape_signature,
                                            quantization=Quantization(min=t.quantization.min, max=t.quantization.max)))
            self._activation(new, p or self.converted_params(t, qtype), qtype)
            if before is not None:
                position = self.sg.operators.index(before)
            else:
                position = next((i + 1 for i, op in enumerate(self.sg.operators) if t in op.outputs), 0)
            self.link(t, new, position)
            self.converted[key] = new
        return self.converted[key]

    def link(self, src: Tensor, dst: Tensor, position: int) -> None:
        """A QUANTIZE from `src` to `dst` at `position`; int16 -> uint8 through int8 (TFLite's
        QUANTIZE has no direct kernel for it)."""
        if src.dtype == DType.INT16 and dst.dtype == DType.UINT8:
            p = self.params[id(dst)]
            mid = self.sg.add_tensor(Tensor(f"{dst.name}/int8", DType.INT8, dst.shape, dst.shape_signature))
            self._activation(mid, P.QParams(p.scale, p.zero_point - 128), DType.INT8)
            self.sg.add_operator(Operator("QUANTIZE", [src], [mid], QuantizeOptions()), position)
            src, position = mid, position + 1
        self.sg.add_operator(Operator("QUANTIZE", [src], [dst], QuantizeOptions()), position)

    def boundary(self, t: Tensor, dtype: DType) -> Tensor:
        """A new model input or output of `dtype` that takes `t`'s name (`t` is renamed)."""
        outer = self.sg.add_tensor(Tensor(t.name, dtype, t.shape, t.shape_signature))
        if dtype != DType.FLOAT32:
            self._activation(outer, self.converted_params(t, dtype), dtype)
        t.name = f"{t.name}/quantized"
        return outer


def _same(a: Quantization | None, b: Quantization) -> bool:
    return a is not None and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("scale", "zero_point"))


def _set_io(model: Model, quantizer: _Quantizer, input_type: DType, output_type: DType) -> None:
    """Give the boundary tensors the requested types, converting with QUANTIZE/DEQUANTIZE."""
    sg = model.main
    for t in list(sg.inputs):
        if quantizer.dtypes[id(t)] != input_type:
            outer = quantizer.boundary(t, input_type)
            sg.inputs = [outer if x is t else x for x in sg.inputs]
            quantizer.link(outer, t, 0)
            _adopt(model, t, outer)
    for t in list(sg.outputs):
        if quantizer.dtypes[id(t)] != output_type:
            outer = quantizer.boundary(t, output_type)
            sg.outputs = [outer if x is t else x for x in sg.outputs]
            if output_type == DType.FLOAT32:
                sg.add_operator(Operator("DEQUANTIZE", [t], [outer], DequantizeOptions()))
            else:
                quantizer.link(t, outer, len(sg.operators))
            _adopt(model, t, outer)


def _adopt(model: Model, old: Tensor, new: Tensor) -> None:
    """Signatures name the boundary tensor `new` instead of `old`."""
    for sig in model.signature_defs:
        sig.inputs = [(n, new if x is old else x) for n, x in sig.inputs]
        sig.outputs = [(n, new if x is old else x) for n, x in sig.outputs]
