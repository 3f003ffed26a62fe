"""Layout propagation: channels-first ONNX graphs become channels-last circle graphs with
Transposes only at real boundaries, and compute what onnxruntime computes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import one_core

RNG = np.random.default_rng(7)


def _const(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.5).astype(np.float32), name)


def _residual_net() -> onnx.ModelProto:
    """conv -> relu -> depthwise conv + skip -> scale by a per-channel constant -> 1x1 conv + skip
    -> padded 3x3 conv -> per-channel bias broadcast from rank 3 -> relu."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["a"]),
        helper.make_node("Mul", ["a", "scale"], ["m"]),
        helper.make_node("Conv", ["m", "w3"], ["c3"]),
        helper.make_node("Add", ["c3", "m"], ["s"]),
        helper.make_node("Conv", ["s", "w4"], ["c4"], pads=[0, 1, 2, 1], strides=[2, 2]),
        helper.make_node("Add", ["c4", "bias"], ["b"]),
        helper.make_node("Relu", ["b"], ["y"]),
    ]
    inits = [_const("w1", 8, 3, 3, 3), _const("b1", 8), _const("w2", 8, 1, 3, 3), _const("scale", 8, 1, 1),
             _const("w3", 8, 8, 1, 1), _const("w4", 4, 8, 3, 3), _const("bias", 4, 1, 1)]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _transposes(model: one_core.Model) -> list:
    return [op for op in model.main.operators if op.name == "TRANSPOSE"]


@pytest.mark.parametrize("io_layout", ["onnx", "nhwc"])
def test_only_boundaries_keep_a_transpose(io_layout: str) -> None:
    proto = _residual_net()
    model = one_core.load(proto, io_layout=io_layout)
    transposes = _transposes(model)
    sg = model.main
    if io_layout == "onnx":  # one into channels-last after the input, one back before the output
        assert len(transposes) == 2
        assert transposes[0].inputs[0] is sg.inputs[0] and transposes[1].outputs[0] is sg.outputs[0]
    else:
        assert transposes == []
    assert [op.name for op in sg.operators if op.name != "TRANSPOSE"] == [
        "CONV_2D", "RELU", "DEPTHWISE_CONV_2D", "ADD", "MUL", "CONV_2D", "ADD", "PAD", "CONV_2D", "ADD", "RELU"]
    assert [t.name for t in sg.inputs] == ["x"] and [t.name for t in sg.outputs] == ["y"]
    x = RNG.standard_normal((1, 3, 9, 9)).astype(np.float32)
    want = onnxruntime.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    feed = x if io_layout == "onnx" else x.transpose(0, 2, 3, 1)
    got = one_core.Session(model).run([feed])["y"]
    if io_layout == "nhwc":
        got = got.transpose(0, 3, 1, 2)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_a_layout_dependent_reader_keeps_its_transpose() -> None:
    """Reshape reads the channels-first order: the Transpose before it must stay."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["y"])]
    inits = [_const("w", 4, 2, 1, 1), numpy_helper.from_array(np.array([1, -1], np.int64), "shape")]
    graph = helper.make_graph(nodes, "flat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = one_core.load(proto)
    names = [op.name for op in model.main.operators]
    assert names == ["TRANSPOSE", "CONV_2D", "RELU", "TRANSPOSE", "RESHAPE"]
    x = RNG.standard_normal((1, 2, 3, 3)).astype(np.float32)
    want = onnxruntime.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    got = one_core.Session(model).run([x])["y"]
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
