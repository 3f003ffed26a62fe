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


LIGHT = "onnx/backend/test/data/light/"


def _light_path(case: Any) -> Path | None:
    """The file of a 'real' case shipped as a light model (weights made by ConstantOfShape)."""
    if case.url and case.url.startswith(LIGHT):
        return Path(onnx.__file__).parent.parent / case.url
    return None


def case_model(case: Any) -> onnx.ModelProto:
    """The case's model: node cases carry it, the others keep it in their folder or, for the
    light real-world models, in the onnx package."""
    if case.model is not None:
        return case.model
    light = _light_path(case)
    return onnx.load(str(light if light is not None else Path(case.model_dir) / "model.onnx"))


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
    if case.data_sets is not None:  # some values come as TensorProto (float16, blocked int16)
        return [([_array(v) for v in i], [_array(v) for v in o]) for i, o in case.data_sets]
    light = _light_path(case)
    if light is not None:  # inputs as ONNX's runner makes them, outputs stored next to the model
        from onnx.backend.test.runner import Runner

        graph = case_model(case).graph
        inits = {t.name for t in graph.initializer}
        inputs = [Runner.generate_dummy_data(i, seed=0, name=case.model_name, random=False)
                  for i in graph.input if i.name not in inits]
        outputs = [_read(light.with_name(f"{light.stem}_output_{k}.pb")) for k in range(len(graph.output))]
        return [(inputs, outputs)]
    out = []
    for d in sorted(Path(case.model_dir).glob("test_data_set_*")):
        inputs = [_read(p) for p in sorted(d.glob("input_*.pb"), key=_index)]
        outputs = [_read(p) for p in sorted(d.glob("output_*.pb"), key=_index)]
        out.append((inputs, outputs))
    return out


def _array(value: Any) -> np.ndarray:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


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


KINDS = ("node", "simple", "pytorch-converted", "pytorch-operator", "real")


def selected_cases() -> list[Any]:
    """What the acceptance test runs: counted node cases and every case of the other kinds."""
    return [c for kind in KINDS for c in load_cases(kind) if kind != "node" or counted(c)]


def expected_failures_text() -> str:
    """The content of backend_expected_failures.txt for the current converters and runtime."""
    import re

    lines = ["# ONNX backend test cases that do not pass through import + runtime, with the reason (from the error).",
             "# test_backend_suite.py checks that each of these fails and that every other selected case passes.",
             "# Regenerate: python plugins/one-frontend-onnx/tests/backend_cases.py > "
             "plugins/one-frontend-onnx/tests/backend_expected_failures.txt", ""]
    for case in selected_cases():
        reason = check(case, run_ours)
        if reason is not None:
            one_line = re.sub(r"\s+", " ", reason).replace("ONNX model: ", "")
            lines.append(f"{case.name}: {one_line[:240]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(expected_failures_text(), end="")
