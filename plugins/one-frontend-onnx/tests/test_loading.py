"""Untrusted ONNX files: bad bytes, truncation, external data leaving the folder, broken graphs.
Every one is a one-line error from `one import`, with no output file left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import one_core
from one_core.errors import InvalidModelError, UnsupportedOperatorError


def _model(nodes, inputs=("x",), initializers=(), outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _with_external_weight(tmp_path: Path, location: str) -> Path:
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    path = tmp_path / "model.onnx"
    path.write_bytes(_model([helper.make_node("Add", ["x", "w"], ["y"])], initializers=[w]).SerializeToString())
    return path


def _one(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "one_core", *args], capture_output=True, text=True)


def test_external_data_is_mapped_from_inside_the_folder(tmp_path) -> None:
    path = _with_external_weight(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    model = one_core.load(path)
    x = np.ones((2, 3), np.float32)
    y = one_core.Session(model).run([x])["y"]
    assert np.array_equal(y, x + np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("location,reason", [
    ("../secret.bin", "must be a relative path inside"),
    ("/etc/passwd", "must be a relative path inside"),
    ("link.bin", "resolves outside the model's folder"),
    ("missing.bin", "not found"),
    ("short.bin", "does not hold 6"),
])
def test_external_data_outside_the_folder_is_refused(tmp_path, location: str, reason: str) -> None:
    inner = tmp_path / "model"
    inner.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.zeros(6, np.float32).tobytes())
    os.symlink(tmp_path / "secret.bin", inner / "link.bin")
    (inner / "short.bin").write_bytes(b"\0" * 8)
    path = _with_external_weight(inner, location)
    with pytest.raises(InvalidModelError, match=reason):
        one_core.load(path)


def test_cycle_and_undefined_input_are_named(tmp_path) -> None:
    cycle = _model([helper.make_node("Relu", ["b"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"]),
                    helper.make_node("Add", ["x", "b"], ["y"])])
    with pytest.raises(InvalidModelError, match="node 0 'first' \\(Relu\\) reads 'b' before .*cycle"):
        one_core.load(cycle)
    undefined = _model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")])
    with pytest.raises(InvalidModelError, match="'add' \\(Add\\) reads 'nowhere', which no input"):
        one_core.load(undefined)


def test_unsupported_operators_are_listed_together_or_kept_as_custom() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["a"]),
                    helper.make_node("MyOp", ["a"], ["b"], domain="com.example", name="mine"),
                    helper.make_node("Relu", ["b"], ["c"]),
                    helper.make_node("OtherOp", ["c"], ["y"], domain="com.example", name="other")])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOperatorError) as info:
        one_core.load(model)
    text = str(info.value)
    assert "2 nodes cannot be converted: MyOp (no converter" in text and "domain 'com.example'): 'mine'" in text
    assert "OtherOp (no converter" in text and "'other'" in text
    assert info.value.operators == ["MyOp", "OtherOp"]
    kept = one_core.load(model, custom_ops=True)
    customs = [op for _, op in kept.operators() if op.name == "CUSTOM"]
    assert [op.custom_code for op in customs] == ["com.example.MyOp", "com.example.OtherOp"]
    node = onnx.NodeProto()
    node.ParseFromString(customs[0].custom_options)
    assert node.op_type == "MyOp"


@pytest.mark.parametrize("content", [b"\x00\x01\x02garbage" * 50, None])
def test_bad_files_give_one_line_errors_and_no_output(tmp_path, content: bytes | None) -> None:
    good = _model([helper.make_node("Relu", ["x"], ["y"])]).SerializeToString()
    path = tmp_path / "bad.onnx"
    path.write_bytes(content if content is not None else good[: len(good) // 2])  # None: truncated
    out = tmp_path / "out.circle"
    result = _one("import", str(path), "-o", str(out))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_options_are_checked() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])])
    with pytest.raises(one_core.errors.InputError, match="unknown option.*colour"):
        one_core.load(model, colour="red")
    with pytest.raises(one_core.errors.InputError, match="io_layout must be one of"):
        one_core.load(model, io_layout="nchw4")
    with pytest.raises(one_core.errors.InputError, match="2 shape\\(s\\) for 1 input"):
        one_core.load(model, input_shapes="1,3:2,3")


def test_dynamic_dimensions_and_input_shapes() -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    dynamic = one_core.load(proto)
    assert dynamic.main.inputs[0].shape_signature == (-1, 3)
    session = one_core.Session(dynamic)
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        assert np.array_equal(session.run([x])["y"], np.maximum(x, 0))
    fixed = one_core.load(proto, input_shapes="4,3")
    assert fixed.main.inputs[0].shape == (4, 3) and fixed.main.inputs[0].shape_signature is None
    by_name = one_core.load(proto, input_shapes={"x": [2, 3]})
    assert by_name.main.inputs[0].shape == (2, 3)
