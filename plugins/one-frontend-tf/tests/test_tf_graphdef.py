"""Frozen GraphDefs (TF1 style): placeholders, tf.cond and tf.while_loop become IF and WHILE
subgraphs, with converter v1 (ONE's default) and v2, and the results match TensorFlow's."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import one_core
from one_core.errors import InputError, InvalidModelError
from one_frontend_tf import CustomOperatorWarning, custom_operators

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")


def _control_flow_graph(v1_control_flow: bool):
    """x: float32[?, 8], n: int32[] -> out = while_n(tanh(. @ W)) applied to cond(sum(x) > 0, ...)."""
    rng = np.random.default_rng(7)
    was_v2 = tf.compat.v1.control_flow_v2_enabled()
    if v1_control_flow:
        tf.compat.v1.disable_control_flow_v2()
    try:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
            n = tf.compat.v1.placeholder(tf.int32, [], name="n")
            a = tf.constant((rng.standard_normal((8, 8)) / np.sqrt(8)).astype(np.float32))
            w = tf.constant((rng.standard_normal((8, 8)) / np.sqrt(8)).astype(np.float32))
            b = tf.constant((0.1 * rng.standard_normal(8)).astype(np.float32))
            y = tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.tanh(tf.matmul(x, a)), lambda: x * 0.5 - 1.0)
            _, y = tf.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, tf.tanh(tf.matmul(y, w) + b)),
                                 [tf.constant(0), y])
            tf.identity(y, name="out")
    finally:
        if was_v2:
            tf.compat.v1.enable_control_flow_v2()
    return graph


def _reference(graph, x: np.ndarray, n: int) -> np.ndarray:
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run("out:0", {"x:0": x, "n:0": n})


@pytest.fixture(scope="module", params=["v1_control_flow", "v2_control_flow"])
def frozen(request, tmp_path_factory):
    graph = _control_flow_graph(request.param == "v1_control_flow")
    path = tmp_path_factory.mktemp("graphdef") / "model.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    kinds = {node.op for node in graph.as_graph_def().node}
    assert ("Enter" in kinds) == (request.param == "v1_control_flow")  # really TF1 control flow
    return graph, path


@pytest.mark.parametrize("converter", ["v1", "v2"])
def test_frozen_graph_with_control_flow_matches_tensorflow(frozen, converter: str) -> None:
    graph, path = frozen
    model = one_core.load(path, input_arrays="x,n", input_shapes="1,8:", output_arrays="out",
                          converter_version=converter)
    ops = {op.name for _, op in model.operators()}
    assert {"IF", "WHILE"} <= ops and len(model.subgraphs) == 5
    assert [t.name for t in model.main.inputs] == ["x", "n"]
    assert model.main.inputs[0].shape == (1, 8) and model.main.inputs[0].shape_signature is None
    session = one_core.Session(model, backend="runtime")
    rng = np.random.default_rng(0)
    for n in (0, 1, 4):
        for sign in (1.0, -1.0):
            x = (sign * np.abs(rng.standard_normal((1, 8)))).astype(np.float32)  # both branches
            got = next(iter(session.run([x, np.array(n, np.int32)]).values()))
            np.testing.assert_allclose(got, _reference(graph, x, n), rtol=1e-5, atol=1e-6)


def test_text_graph_def(frozen, tmp_path) -> None:
    from google.protobuf import text_format

    graph, _ = frozen
    path = tmp_path / "model.pbtxt"
    path.write_text(text_format.MessageToString(graph.as_graph_def()))
    model = one_core.load(path, input_arrays="x,n", input_shapes="1,8:", output_arrays="out")
    assert {"IF", "WHILE"} <= {op.name for _, op in model.operators()}


def _simple_graph_def(tmp_path, shape=(1, 4), variable: bool = False):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape, name="x")
        if variable:
            v = tf.compat.v1.get_variable("v", [4], initializer=tf.compat.v1.zeros_initializer())
            x = x + v
        tf.tanh(x, name="y")
    path = tmp_path / "simple.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def test_graph_def_needs_its_arrays(tmp_path) -> None:
    path = _simple_graph_def(tmp_path)
    with pytest.raises(InputError, match=r"simple.pb: a frozen GraphDef needs input_arrays and output_arrays "
                                         r"\(placeholders: x; nodes nothing reads: y\)"):
        one_core.load(path)
    with pytest.raises(InputError, match=r"needs output_arrays"):
        one_core.load(path, input_arrays="x")
    with pytest.raises(InputError, match=r"output_arrays names 'z', not in the GraphDef \(nodes nothing reads: y\)"):
        one_core.load(path, input_arrays="x", output_arrays="z")
    with pytest.raises(InputError, match=r"input_arrays names 'q', not in the GraphDef \(placeholders: x\)"):
        one_core.load(path, input_arrays="q", output_arrays="y")


def test_graph_def_shape_checks(tmp_path) -> None:
    path = _simple_graph_def(tmp_path, shape=None)
    with pytest.raises(InputError, match=r"input 'x' has no known shape; give it with input_shapes"):
        one_core.load(path, input_arrays="x", output_arrays="y")
    model = one_core.load(path, input_arrays="x", output_arrays="y", input_shapes="2,3")
    assert model.main.inputs[0].shape == (2, 3)
    with pytest.raises(InputError, match=r"input_shapes has 2 shape\(s\) but input_arrays names 1 input"):
        one_core.load(path, input_arrays="x", output_arrays="y", input_shapes="2,3:4")
    fixed = _simple_graph_def(tmp_path, shape=(1, 4))
    with pytest.raises(InputError, match=r"only dynamic dimensions can be fixed"):
        one_core.load(fixed, input_arrays="x", output_arrays="y", input_shapes="2,4", converter_version="v2")


def test_graph_def_must_be_frozen(tmp_path) -> None:
    path = _simple_graph_def(tmp_path, variable=True)
    with pytest.raises(InvalidModelError, match=r"the GraphDef is not frozen \(variables: v\)"):
        one_core.load(path, input_arrays="x", output_arrays="y")


def test_not_a_graph_def(tmp_path) -> None:
    path = tmp_path / "junk.pb"
    path.write_bytes(b"\xff\xfe not a protobuf at all \x00\x01")
    with pytest.raises(InvalidModelError, match=r"junk.pb: not a TensorFlow GraphDef"):
        one_core.load(path, input_arrays="x", output_arrays="y")


def test_unknown_op_becomes_a_custom_operator(tmp_path) -> None:
    """An op this TensorFlow does not know (a custom op of another project) is described from
    its node (inputs, attributes) and kept as a custom operator, as ONE's one-import-tf does."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
        tf.tanh(x, name="t")
    graph_def = graph.as_graph_def()
    node = graph_def.node.add()
    node.name, node.op = "fancy", "MyFancyOpForOneTests"
    node.input.append("t")
    node.attr["T"].type = tf.float32.as_datatype_enum
    node.attr["alpha"].f = 0.5
    path = tmp_path / "custom.pb"
    path.write_bytes(graph_def.SerializeToString())
    with pytest.warns(CustomOperatorWarning, match=r"custom.pb: 1 operator\(s\) without a TFLite builtin "
                                                   r"kept as custom operators: MyFancyOpForOneTests"):
        model = one_core.load(path, input_arrays="x", output_arrays="fancy")
    assert custom_operators(model) == ["MyFancyOpForOneTests"]
    op = model.main.operators[-1]
    assert op.name == "CUSTOM" and b"alpha" in bytes(op.custom_options)  # the attributes, as a flexbuffer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(one_core.errors.UnsupportedOperatorError, match="MyFancyOpForOneTests"):
            one_core.load(path, input_arrays="x", output_arrays="fancy", allow_custom_ops=False)
