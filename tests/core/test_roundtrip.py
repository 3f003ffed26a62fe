"""load -> save -> load loses nothing, on real TFLite models made by TensorFlow.

Three independent checks per model: the IR compares equal field by field; the official
circle-schema bindings see the same flatbuffer content in the original and the re-written file
(buffer and opcode numbering aside); LiteRT gives bit-identical outputs on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelzoo
import one_core
from one_core.ir import diff_models

MODELS = sorted(modelzoo.ALL_MODELS)


@pytest.fixture(scope="module", params=MODELS)
def zoo_model(request) -> tuple[str, Path]:
    return request.param, modelzoo.ALL_MODELS[request.param]()


def test_ir_round_trip_is_equal_and_deterministic(zoo_model, tmp_path) -> None:
    _, path = zoo_model
    first = one_core.load(path)
    one_core.save(first, tmp_path / "a.circle")
    second = one_core.load(tmp_path / "a.circle")
    assert diff_models(first, second) == []
    one_core.save(second, tmp_path / "b.circle")
    one_core.save(first, tmp_path / "c.circle")
    data = (tmp_path / "a.circle").read_bytes()
    assert data[4:8] == b"CIR0"
    assert (tmp_path / "b.circle").read_bytes() == data
    assert (tmp_path / "c.circle").read_bytes() == data


def test_official_bindings_see_the_same_content(zoo_model, tmp_path) -> None:
    _, path = zoo_model
    out = tmp_path / "m.circle"
    one_core.save(one_core.load(path), out)
    assert _canonical(path.read_bytes()) == _canonical(out.read_bytes())


#: LiteRT has no kernel for the custom operator model's operator; the tests above cover it.
RUNNABLE = [name for name in MODELS if name != "custom_op_model"]


@pytest.mark.parametrize("name", RUNNABLE)
def test_litert_outputs_are_identical_after_rewrite(name: str, tmp_path) -> None:
    path = modelzoo.ALL_MODELS[name]()
    out = tmp_path / "m.tflite"
    one_core.save(one_core.load(path), out)
    assert out.read_bytes()[4:8] == b"TFL3"
    original = _run_litert(path, np.random.default_rng(7))
    rewritten = _run_litert(out, np.random.default_rng(7))
    assert original and original.keys() == rewritten.keys()
    for key in original:
        np.testing.assert_array_equal(original[key], rewritten[key])


def _run_litert(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    outputs: dict[str, np.ndarray] = {}
    for key in it.get_signature_list() or {"": None}:
        runner = it.get_signature_runner(key) if key else None
        if runner is None:
            it.allocate_tensors()
            for d in it.get_input_details():
                it.set_tensor(d["index"], _random(rng, d["shape"], d["dtype"]))
            it.invoke()
            outputs.update({d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()})
        else:
            feeds = {n: _random(rng, d["shape"], d["dtype"]) for n, d in runner.get_input_details().items()}
            outputs.update({f"{key}/{k}": v for k, v in runner(**feeds).items()})
    return outputs


def _random(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), size=shape, endpoint=True).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# -- a canonical form of a flatbuffer model, read with ONE's official bindings ---------------

def _canonical(data: bytes) -> Any:
    from circle_schema.v0_10.circle.Model import ModelT

    m = ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffers = [_bytes(b.data) for b in m.buffers or []]
    codes = [
        (max(c.builtinCode, c.deprecatedBuiltinCode) if c.deprecatedBuiltinCode >= 0 else c.deprecatedBuiltinCode,
         c.customCode, c.version)
        for c in m.operatorCodes or []
    ]
    subgraphs = []
    for sg in m.subgraphs or []:
        tensors = []
        for t in sg.tensors or []:
            d = _plain(t, skip={"buffer", "quantization"})
            d["data"] = buffers[t.buffer] if t.buffer else None
            d["quantization"] = _quantization(t.quantization)
            tensors.append(d)
        ops = []
        for op in sg.operators or []:
            d = _plain(op, skip={"opcodeIndex"})
            d["opcode"] = codes[op.opcodeIndex]
            d["intermediates"] = d["intermediates"] or None  # empty and absent mean the same
            ops.append(d)
        rest = _plain(sg, skip={"tensors", "operators"})
        subgraphs.append({"tensors": tensors, "operators": ops, **rest})
    return {
        "version": m.version,
        "description": m.description,
        "subgraphs": subgraphs,
        "metadata": [(md.name, buffers[md.buffer]) for md in m.metadata or []],
        "metadata_buffer": [buffers[i] for i in (m.metadataBuffer if m.metadataBuffer is not None else [])],
        "signatures": [_plain(s) for s in m.signatureDefs or []],
    }


def _quantization(q: Any) -> Any:
    if q is None:
        return None
    d = _plain(q)
    empty = all(d.get(k) in (None, []) for k in ("min", "max", "scale", "zeroPoint"))
    if empty and d.get("detailsType", 0) == 0 and d.get("quantizedDimension", 0) == 0:
        return None  # an empty table means the same as none
    return d


def _bytes(v: Any) -> bytes | None:
    if v is None:
        return None
    return np.asarray(v, dtype=np.uint8).tobytes()


def _plain(obj: Any, skip: set[str] = frozenset()) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if hasattr(obj, "__dict__"):
        return {k: _plain(v) for k, v in sorted(vars(obj).items()) if k not in skip}
    return obj
