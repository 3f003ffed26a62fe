"""The ONNX backend test suite (shipped inside the `onnx` package) run through import + runtime.

Each case is a model plus data sets of inputs and expected outputs. A case passes when every
output has the expected element type and shape and matches within the case's own rtol/atol, as
ONNX's backend test runner checks. The same runner drives onnxruntime, for the comparison.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

#: element types the acceptance counts (issue 5): float32, float16, int8/16/32/64, uint8, bool
COUNTED_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT8, onnx.TensorProto.INT16,
                 onnx.TensorProto.INT32, onnx.TensorProto.INT64, onnx.TensorProto.UINT8, onnx.TensorProto.BOOL}

Runner = Callable[[onnx.ModelProto, list[np.ndarray]], list[np.ndarray]]


def load_cases(kind: str = "node") -> list[Any]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return sorted(load_model_tests(kind=kind), key=lambda c: c.name)


def case_model(case: Any) -> onnx.ModelProto:
    """The case's model: node cases carry it, the others keep it in their folder."""
    if case.model is not None:
        return case.model
    return onnx.load(str(Path(case.model_dir) / "model.onnx"))


def counted(case: Any) -> bool:
    """True when every graph input and output is a tensor of a counted element type."""
    model = case_model(case)
    for v in (*model.graph.input, *model.graph.output):
        if not v.type.HasField("tensor_type") or v.type.tensor_type.elem_type not in COUNTED_TYPES:
            return False
    return True


def operator_of(case: Any) -> str:
    """The operator a node case tests: the op type of its (first) node."""
    model = case_model(case)
    return model.graph.node[0].op_type if model.graph.node else "?"


def data_sets(case: Any) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    if case.data_sets is not None:
        return [(list(i), list(o)) for i, o in case.data_sets]
    out = []
    for d in sorted(Path(case.model_dir).glob("test_data_set_*")):
        inputs = [_read(p) for p in sorted(d.glob("input_*.pb"), key=_index)]
        outputs = [_read(p) for p in sorted(d.glob("output_*.pb"), key=_index)]
        out.append((inputs, outputs))
    return out


def _index(p: Path) -> int:
    return int(p.stem.split("_")[-1])


def _read(path: Path) -> np.ndarray:
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def check(case: Any, run: Runner) -> str | None:
    """None when `run` passes the case, else the reason it does not (one line)."""
    try:
        model = case_model(case)
        for inputs, expected in data_sets(case):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                got = run(model, inputs)
            problem = compare(got, expected, case.rtol, case.atol)
            if problem:
                return problem
    except Exception as exc:  # the reason is the result
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
    return None


def compare(got: Sequence[np.ndarray], expected: Sequence[np.ndarray], rtol: float, atol: float) -> str | None:
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        g = np.asarray(g)
        if g.dtype != e.dtype:
            return f"output {i}: element type {g.dtype}, expected {e.dtype}"
        if g.shape != e.shape:
            return f"output {i}: shape {g.shape}, expected {e.shape}"
        if e.dtype.kind in "fc":
            ok = np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            ok = np.array_equal(g, e)
        if not ok:
            return f"output {i}: values differ (max abs diff {_max_diff(g, e)})"
    return None


def _max_diff(g: np.ndarray, e: np.ndarray) -> str:
    try:
        return f"{float(np.nanmax(np.abs(g.astype(np.float64) - e.astype(np.float64)))):.3g}"
    except (TypeError, ValueError):
        return "?"


def run_ours(proto: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import one_core

    model = one_core.load(proto)
    session = one_core.Session(model, backend="runtime")
    result = session.run(list(inputs))
    names = [name for name, _ in model.signature_defs[0].outputs]
    return [result[n] for n in names]


def run_onnxruntime(proto: onnx.ModelProto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)
