"""Measure the 256-entry sigmoid table LiteRT's int16 LOGISTIC and TANH interpolate.

Its entries are close to round(65536 / (1 + exp(-i / 24))) but not reproducible from a formula,
so the runtime's table (kernels/activations.py, _SIGMOID_U16) is read off LiteRT instead. int16
TANH interpolates the table in steps of 256 and, where the scaled input a is a multiple of 256,
outputs exactly entry[a / 256] - 32768: one TANH over every input value with an input scale of
1/6144 (scaled input 2 * v, so every entry is hit) reads the whole table. Prints it as Python.

    .venv/bin/python scripts/derive_sigmoid_table.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import one_core
from one_core.ir import DType, Model, Operator, Quantization, Subgraph, Tensor


def _litert(op: str, values: np.ndarray, in_scale: float) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def q(name: str, scale: float) -> Tensor:
        return Tensor(name, DType.INT16, values.shape, quantization=Quantization(
            scale=np.array([scale], np.float32), zero_point=np.array([0], np.int64)))

    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    x, y = sg.add_tensor(q("x", in_scale)), sg.add_tensor(q("y", 1.0 / 32768.0))
    sg.add_operator(Operator(op, [x], [y]))
    sg.inputs, sg.outputs = [x], [y]
    with tempfile.TemporaryDirectory() as tmp:
        path = one_core.save(model, Path(tmp) / "op.tflite")
        it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], values)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"]).astype(np.int64)


def derive() -> list[int]:
    from one_backend_runtime.kernels.activations import _int16_sigmoid_tanh_params, _scale_int16_input

    scale = float(np.float32(1.0 / 6144.0))
    v = np.arange(0, 32768, dtype=np.int64)
    out = _litert("TANH", v.astype(np.int16), scale)
    a = _scale_int16_input(v, *_int16_sigmoid_tanh_params(scale, True))
    table = {}
    for ai, o in zip(a.tolist(), out.tolist()):
        if ai % 256 == 0 and ai >> 8 < 256:
            table.setdefault(ai >> 8, o + 32768)
    missing = [i for i in range(255) if i not in table]
    if missing:
        raise SystemExit(f"entries {missing[:5]}... not reached at this scale")
    table[255] = 65535  # past the last interval: the kernels saturate before reading it
    return [table[i] for i in range(256)]


def main() -> int:
    table = derive()
    print("_SIGMOID_U16 = np.array([")
    for i in range(0, 256, 12):
        print("    " + ", ".join(str(t) for t in table[i:i + 12]) + ",")
    print("], dtype=I64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
