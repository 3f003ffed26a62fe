"""Small models built with the IR API alone (no TensorFlow), for fast core tests."""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Model, Operator, Quantization, SignatureDef, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType, AddOptions, FullyConnectedOptions


def tiny_mlp(seed: int = 0) -> Model:
    """x[1,4] -> FULLY_CONNECTED(relu) -> ADD(const) -> y[1,3], with a signature and metadata."""
    rng = np.random.default_rng(seed)
    model = Model(description="tiny mlp")
    sg = model.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (1, 4), shape_signature=(-1, 4)))
    w = sg.add_tensor(Tensor("w", DType.FLOAT32, (3, 4), data=rng.standard_normal((3, 4)).astype(np.float32)))
    b = sg.add_tensor(Tensor("b", DType.FLOAT32, (3,), data=rng.standard_normal(3).astype(np.float32)))
    h = sg.add_tensor(Tensor("h", DType.FLOAT32, (1, 3), shape_signature=(-1, 3)))
    c = sg.add_tensor(Tensor("c", DType.FLOAT32, (1, 3), data=np.ones((1, 3), np.float32)))
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, (1, 3), shape_signature=(-1, 3)))
    sg.add_operator(
        Operator("FULLY_CONNECTED", [x, w, b], [h],
                 FullyConnectedOptions(fused_activation_function=ActivationFunctionType.RELU))
    )
    sg.add_operator(Operator("ADD", [h, c], [y], AddOptions()))
    sg.inputs, sg.outputs = [x], [y]
    model.signature_defs.append(SignatureDef("serving_default", sg, [("x", x)], [("y", y)]))
    model.metadata["note"] = b"built by irbuild"
    return model


def reference_tiny_mlp(model: Model, x: np.ndarray) -> np.ndarray:
    """What tiny_mlp computes, in numpy."""
    sg = model.main
    w, b, c = (sg.tensor_by_name(n).data for n in ("w", "b", "c"))
    return np.maximum(x @ w.T + b, 0) + c


def quantized_tensor(name: str = "q") -> Tensor:
    """A per-channel int8 constant, for quantization round trips."""
    data = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    q = Quantization(scale=np.array([0.1, 0.2, 0.3], np.float32), zero_point=np.zeros(3, np.int64),
                     quantized_dimension=0)
    return Tensor(name, DType.INT8, (3, 4), data=data, quantization=q)
