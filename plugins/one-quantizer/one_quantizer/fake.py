"""Fake quantization (ONE's circle-quantizer `--fake_quantize`): a quantized model turned back
into a float32 model that rounds where the quantized one does.

Quantized constants become the float values they stand for. Every quantized activation an
operator computes is computed in float and then passed through QUANTIZE and DEQUANTIZE with
its type and parameters, so readers see the values the quantized model represents; operators
that only move values (reshapes, concatenation, max pooling, ...) stay as they are when their
output shares the input's parameters, because their output is then already on that grid. The
model's own QUANTIZE operators (boundaries, requantization) stay and get a DEQUANTIZE; its
DEQUANTIZE operators become unnecessary and go. Inputs and outputs keep their names and become
float32. The result runs on any float runtime (LiteRT too) and lets a float toolchain see, or
train around, the quantized model's rounding."""

from __future__ import annotations

import numpy as np

from one_core.errors import InputError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor, verify
from one_core.ir.options import DequantizeOptions, QuantizeOptions

#: Operators whose output values are input values (or the zero point): on the input's grid.
MOVES_VALUES = frozenset({
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "MAX_POOL_2D", "PAD", "PADV2", "SLICE",
    "STRIDED_SLICE", "GATHER", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "REDUCE_MAX", "REDUCE_MIN", "TILE", "BROADCAST_TO", "REVERSE_V2",
})
_ACTIVATION_TYPES = (DType.INT8, DType.UINT8, DType.INT16)
_CONSTANT_TYPES = (*_ACTIVATION_TYPES, DType.INT32, DType.INT64)


def fake_quantize(model: Model) -> Model:
    """Turn a quantized model into its fake-quantized float32 twin, in place; returns `model`."""
    if len(model.subgraphs) > 1:
        raise InputError("fake quantization: models of more than one subgraph are not supported")
    sg = model.main
    if not any(_quantized(t) and t.data is None for t in sg.tensors):
        raise InputError("fake quantization: the model has no quantized activations (quantize it first)")
    for t in sg.tensors:
        if t.data is not None and _scaled(t) and t.dtype in _CONSTANT_TYPES:
            t.data, t.dtype, t.quantization = _dequantized(t), DType.FLOAT32, None
    _FakeQuantizer(sg).run()
    verify(model)
    return model


class _FakeQuantizer:
    def __init__(self, sg: Subgraph) -> None:
        self.sg = sg
        #: The parameters of the grid each activation's values lie on, by tensor id.
        self.grid = {id(t): _params(t) for t in sg.tensors if _quantized(t)}

    def run(self) -> None:
        sg = self.sg
        operators = list(sg.operators)
        for t in list(sg.inputs):
            if _quantized(t):
                self._fake(t, position=0)
        for op in operators:
            if op.type == "QUANTIZE":
                self._fake(op.outputs[0], sg.operators.index(op) + 1)
            elif op.type != "DEQUANTIZE":
                for t in op.outputs:
                    if not _quantized(t):
                        continue
                    if op.type in MOVES_VALUES and self.grid.get(id(op.inputs[0])) == self.grid[id(t)]:
                        t.dtype, t.quantization = DType.FLOAT32, None
                    else:
                        self._fake(t, sg.operators.index(op) + 1)
        for op in [op for op in sg.operators if op.type == "DEQUANTIZE" and op.inputs[0].dtype == DType.FLOAT32]:
            source, out = op.inputs[0], op.outputs[0]
            sg.remove_operator(op)
            sg.replace_all_uses(out, source)
            if any(x is source for x in sg.outputs):
                source.name = out.name
        sg.remove_unused_tensors()

    def _fake(self, t: Tensor, position: int) -> None:
        """Readers of quantized `t` read a new float tensor, DEQUANTIZE of `t` (a QUANTIZE's
        output, kept integer) or of QUANTIZE of `t` computed in float (inputs, other
        operators' outputs). The new tensor takes `t`'s name, except at model inputs."""
        sg = self.sg
        fake = sg.add_tensor(Tensor(t.name, DType.FLOAT32, t.shape, t.shape_signature))
        self.grid[id(fake)] = self.grid[id(t)]
        sg.replace_all_uses(t, fake)
        is_input = any(x is t for x in sg.inputs)
        from_quantize = t.producer is not None and t.producer.type == "QUANTIZE"
        if is_input:
            fake.name = f"{t.name}/fake_quantized"
        else:
            t.name = f"{t.name}/{'quantized' if from_quantize else 'float'}"
        quantized = t
        if is_input or not from_quantize:
            quantized = sg.add_tensor(Tensor(f"{fake.name}/quantized", t.dtype, t.shape, t.shape_signature,
                                             quantization=t.quantization))
            t.dtype, t.quantization = DType.FLOAT32, None
            sg.add_operator(Operator("QUANTIZE", [t], [quantized], QuantizeOptions()), position)
            position += 1
        sg.add_operator(Operator("DEQUANTIZE", [quantized], [fake], DequantizeOptions()), position)


def _scaled(t: Tensor) -> bool:
    q = t.quantization
    return q is not None and q.scale is not None and q.scale.size > 0


def _quantized(t: Tensor) -> bool:
    return t.dtype in _ACTIVATION_TYPES and _scaled(t)


def _params(t: Tensor) -> tuple[float, int]:
    zero = t.quantization.zero_point
    return float(t.quantization.scale[0]), int(zero[0]) if zero is not None and zero.size else 0


def _dequantized(t: Tensor) -> np.ndarray:
    q = t.quantization
    shape = [1] * t.data.ndim
    if q.scale.size > 1:
        shape[q.quantized_dimension] = -1
    zero = q.zero_point if q.zero_point is not None and q.zero_point.size else np.zeros(1, np.int64)
    values = (np.asarray(t.data, np.float64) - zero.reshape(shape)) * q.scale.astype(np.float64).reshape(shape)
    return values.astype(np.float32)
