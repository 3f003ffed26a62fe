"""Recurrent layers, control flow, quantization and NMS converters, against onnxruntime on the
variants the ONNX backend suite leaves out (constant weights, sequence_lens, clip, activations,
dynamic batch, captured values, run-time trip counts, per-axis and blocked quantization, ...)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper

import one_core

import onnx_compare

RNG = np.random.default_rng(7)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = oh.make_graph(nodes, "g", inputs, outputs, list(inits))
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])


def _info(name, dtype, shape=None):
    return oh.make_tensor_value_info(name, dtype, shape)


def _check(model, feeds, rtol=1e-5):
    """Ours equals onnxruntime: floats within rtol of the output's scale, the rest exactly."""
    return onnx_compare.assert_matches(model, feeds, rtol)


def _op_types(circle):
    return {op.name for sg in circle.subgraphs for op in sg.operators}


# --- LSTM, GRU, RNN -----------------------------------------------------------------------------------

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _rnn(op, attrs, hidden=4, size=3, steps=5, batch=2, const=(), lens=None, initial=True, peepholes=False):
    """An `op` layer with random weights; `const` names the inputs stored as initializers."""
    d = 2 if attrs.get("direction") == "bidirectional" else 1
    g = GATES[op] * hidden
    values = {"X": RNG.standard_normal((steps, batch, size)), "W": RNG.standard_normal((d, g, size)) * 0.5,
              "R": RNG.standard_normal((d, g, hidden)) * 0.5, "B": RNG.standard_normal((d, 2 * g)) * 0.5,
              "sequence_lens": lens, "initial_h": RNG.standard_normal((d, batch, hidden)) if initial else None}
    if op == "LSTM":
        values["initial_c"] = RNG.standard_normal((d, batch, hidden)) if initial else None
        values["P"] = RNG.standard_normal((d, 3 * hidden)) * 0.5 if peepholes else None
    names = [n if v is not None else "" for n, v in values.items()]
    while not names[-1]:
        names.pop()
    outputs = ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    node = oh.make_node(op, names, outputs, hidden_size=hidden, **attrs)
    inputs, inits, feeds = [], [], []
    for name, v in values.items():
        if v is None:
            continue
        v = v.astype(np.int32 if name == "sequence_lens" else np.float32)
        if name in const:
            inits.append(numpy_helper.from_array(v, name))
        else:
            inputs.append(_info(name, oh.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
            feeds.append(v)
    return _model([node], inputs, [_info(o, TP.FLOAT) for o in outputs], inits, opset=14), feeds


@pytest.mark.parametrize("op, attrs", [
    ("LSTM", {"clip": 0.4}),
    ("LSTM", {"input_forget": 1, "direction": "reverse"}),
    ("LSTM", {"direction": "bidirectional", "activations": ["HardSigmoid", "LeakyRelu", "Softsign"] * 2,
              "activation_alpha": [0.3, 0.2, 0.25, 0.1], "activation_beta": [0.4, 0.6]}),
    ("LSTM", {"activations": ["Affine", "ScaledTanh", "Elu"], "activation_alpha": [0.3, 0.7, 0.5],
              "activation_beta": [0.4, 1.2]}),
    ("LSTM", {"activations": ["ThresholdedRelu", "Softplus", "Tanh"], "activation_alpha": [0.1]}),
    ("GRU", {"linear_before_reset": 1}),
    ("GRU", {"clip": 0.5, "direction": "bidirectional"}),
    ("RNN", {"activations": ["Relu"], "direction": "reverse"}),
])
@pytest.mark.parametrize("variant", ["inputs", "constants", "lens", "no_state"])
def test_recurrent(op, attrs, variant):
    kwargs = {"inputs": {}, "constants": {"const": ("W", "R", "B", "P"), "peepholes": True},
              "lens": {"lens": np.array([5, 2])}, "no_state": {"initial": False}}[variant]
    _check(*_rnn(op, attrs, **kwargs))


def test_recurrent_constant_sequence_lens_shorter():
    model, feeds = _rnn("GRU", {"direction": "bidirectional"}, const=("sequence_lens",), lens=np.array([3, 5]))
    _check(model, feeds)


def test_recurrent_dynamic_batch_and_layout():
    """Batch unknown at import, no initial state; layout 1 (batch first), which onnxruntime lacks,
    checked against ONNX's reference."""
    w = numpy_helper.from_array(RNG.standard_normal((1, 16, 3)).astype(np.float32), "W")
    r = numpy_helper.from_array(RNG.standard_normal((1, 16, 4)).astype(np.float32), "R")
    for layout, shape in ((0, [6, None, 3]), (1, [None, 6, 3])):
        node = oh.make_node("LSTM", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=4, layout=layout)
        model = _model([node], [_info("X", TP.FLOAT, shape)], [_info("Y", TP.FLOAT), _info("Y_h", TP.FLOAT)],
                       [w, r], opset=14)
        x = RNG.standard_normal([6, 3, 3] if layout == 0 else [3, 6, 3]).astype(np.float32)
        onnx_compare.assert_matches(model, [x], 1e-6, reference=True)


def test_recurrent_unsupported():
    model, _ = _rnn("RNN", {})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    with pytest.raises(one_core.errors.UnsupportedOperatorError, match="sequence length"):
        one_core.load(model)


# --- If, Loop, Scan -----------------------------------------------------------------------------------

def _branch(name, nodes, output, dtype=TP.FLOAT):
    return oh.make_graph(nodes, name, [], [_info(output, dtype)])


def test_if_branches_capture_different_values():
    then = _branch("then", [oh.make_node("Add", ["a", "b"], ["t"])], "t")
    other = _branch("else", [oh.make_node("Mul", ["c", "c"], ["e"])], "e")
    node = oh.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)
    model = _model([node], [_info("cond", TP.BOOL, []), *[_info(n, TP.FLOAT, [3]) for n in "abc"]],
                   [_info("y", TP.FLOAT, [3])])
    values = [RNG.standard_normal(3).astype(np.float32) for _ in range(3)]
    for cond in (True, False):
        circle = _check(model, [np.array(cond), *values])
    assert "IF" in _op_types(circle)


def test_if_branch_returns_outer_value_and_constant_condition():
    then = _branch("then", [oh.make_node("Identity", ["a"], ["same"])], "same")
    other = _branch("else", [oh.make_node("Neg", ["a"], ["n"])], "n")
    node = oh.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)
    model = _model([node], [_info("cond", TP.BOOL, []), _info("a", TP.FLOAT, [2])], [_info("y", TP.FLOAT, [2])])
    _check(model, [np.array(False), np.array([1.5, -2], np.float32)])
    for cond in (True, False):  # known at import: the taken branch is inlined
        inlined = _model([oh.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(cond))),
                          node], [_info("a", TP.FLOAT, [2])], [_info("y", TP.FLOAT, [2])])
        circle = _check(inlined, [np.array([1.5, -2], np.float32)])
        assert "IF" not in _op_types(circle)


def _loop_body(extra_nodes=(), scan=True):
    """v_out = v_in * 2 + x (x from the outer graph); cond_out = sum(v_out) < 50; scan output v_out."""
    nodes = [oh.make_node("Mul", ["v_in", "two"], ["v2"]), oh.make_node("Add", ["v2", "x"], ["v_out"]),
             oh.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
             oh.make_node("Less", ["total", "fifty"], ["cond_out"]), *extra_nodes]
    nodes.insert(0, oh.make_node("Constant", [], ["fifty"], value=numpy_helper.from_array(np.array(50, np.float32))))
    nodes.insert(0, oh.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2, np.float32))))
    outputs = [_info("cond_out", TP.BOOL, []), _info("v_out", TP.FLOAT, [2])]
    if scan:
        nodes.append(oh.make_node("Cast", ["i"], ["i_float"], to=TP.FLOAT))
        nodes.append(oh.make_node("Add", ["v_out", "i_float"], ["scan_out"]))
        outputs.append(_info("scan_out", TP.FLOAT, [2]))
    inputs = [_info("i", TP.INT64, []), _info("cond_in", TP.BOOL, []), _info("v_in", TP.FLOAT, [2])]
    return oh.make_graph(nodes, "body", inputs, outputs)


@pytest.mark.parametrize("trip, cond", [("run", "run"), ("const", ""), ("", "run"), ("run", "")])
def test_loop(trip, cond):
    inputs = [_info("x", TP.FLOAT, [2]), _info("v", TP.FLOAT, [2])]
    feeds = [np.array([0.5, 1], np.float32), np.array([1, -1], np.float32)]
    nodes = []
    if trip == "run":
        inputs.append(_info("M", TP.INT64, []))
        feeds.append(np.array(4, np.int64))
    elif trip == "const":
        nodes.append(oh.make_node("Constant", [], ["M"], value=numpy_helper.from_array(np.array(3, np.int64))))
    if cond:
        inputs.append(_info("c", TP.BOOL, []))
        feeds.append(np.array(True))
    nodes.append(oh.make_node("Loop", ["M" if trip else "", "c" if cond else "", "v"], ["v_final", "stacked"],
                              body=_loop_body()))
    model = _model(nodes, inputs, [_info("v_final", TP.FLOAT, [2]), _info("stacked", TP.FLOAT, [None, 2])])
    assert "WHILE" in _op_types(_check(model, feeds))


def test_loop_with_if_inside_reading_outer_values():
    then = _branch("then", [oh.make_node("Add", ["v_in", "x"], ["t"])], "t")
    other = _branch("else", [oh.make_node("Sub", ["v_in", "x"], ["e"])], "e")
    body = oh.make_graph([oh.make_node("Identity", ["cond_in"], ["cond_out"]),
                          oh.make_node("If", ["flag"], ["v_out"], then_branch=then, else_branch=other)],
                         "body", [_info("i", TP.INT64, []), _info("cond_in", TP.BOOL, []),
                                  _info("v_in", TP.FLOAT, [2])],
                         [_info("cond_out", TP.BOOL, []), _info("v_out", TP.FLOAT, [2])])
    node = oh.make_node("Loop", ["M", "", "v"], ["v_final"], body=body)
    model = _model([node], [_info("M", TP.INT64, []), _info("v", TP.FLOAT, [2]), _info("x", TP.FLOAT, [2]),
                            _info("flag", TP.BOOL, [])], [_info("v_final", TP.FLOAT, [2])])
    for flag in (True, False):
        _check(model, [np.array(3, np.int64), np.ones(2, np.float32), np.array([1, 2], np.float32), np.array(flag)])


def test_scan_directions_and_axes():
    """Two sequences (one scanned backwards along axis 1), a captured value, outputs stacked along
    axis 1 and backwards."""
    body = oh.make_graph(
        [oh.make_node("Add", ["s_in", "a"], ["t"]), oh.make_node("Mul", ["t", "b"], ["u"]),
         oh.make_node("Add", ["u", "k"], ["s_out"]), oh.make_node("Identity", ["s_out"], ["y1"]),
         oh.make_node("Sub", ["a", "b"], ["y2"])],
        "body", [_info("s_in", TP.FLOAT, [3]), _info("a", TP.FLOAT, [3]), _info("b", TP.FLOAT, [3])],
        [_info("s_out", TP.FLOAT, [3]), _info("y1", TP.FLOAT, [3]), _info("y2", TP.FLOAT, [3])])
    node = oh.make_node("Scan", ["s", "xa", "xb"], ["s_final", "ys1", "ys2"], body=body, num_scan_inputs=2,
                        scan_input_axes=[0, 1], scan_input_directions=[0, 1], scan_output_axes=[1, -2],
                        scan_output_directions=[1, 0])
    model = _model([node], [_info("s", TP.FLOAT, [3]), _info("xa", TP.FLOAT, [4, 3]), _info("xb", TP.FLOAT, [3, 4]),
                            _info("k", TP.FLOAT, [3])],
                   [_info("s_final", TP.FLOAT, [3]), _info("ys1", TP.FLOAT, [3, 4]), _info("ys2", TP.FLOAT, [4, 3])])
    feeds = [RNG.standard_normal(s).astype(np.float32) for s in ([3], [4, 3], [3, 4], [3])]
    _check(model, feeds)


# --- quantization -------------------------------------------------------------------------------------

def _const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _quantization_of(circle, op_type):
    """The quantization of the quantized tensor of the first `op_type` operator."""
    op = next(op for op in circle.subgraphs[0].operators if op.name == op_type)
    return (op.outputs[0] if op_type == "QUANTIZE" else op.inputs[0]).quantization


@pytest.mark.parametrize("dtype, zero", [(np.int8, -3), (np.uint8, 128), (np.int16, 7)])
def test_quantize_constant_parameters_round_half_to_even(dtype, zero):
    x = np.array([[-3.75, -1.25, -0.25, 0.25, 0.75, 1.25], [2.5, 3.75, 300, -300, 1e4, -1e4]], np.float32)
    node = oh.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
    model = _model([node], [_info("x", TP.FLOAT, [2, 6])], [_info("y", oh.np_dtype_to_tensor_dtype(np.dtype(dtype)))],
                   [_const("s", np.float32(0.5)), _const("z", dtype(zero))], opset=21)
    circle = _check(model, [x])
    q = _quantization_of(circle, "QUANTIZE")
    assert q.scale.tolist() == [0.5] and q.zero_point.tolist() == [zero]


@pytest.mark.parametrize("axis", [1, -1])
def test_quantize_dequantize_per_axis(axis):
    """Q then DQ with the same parameters: DEQUANTIZE reads the QUANTIZE output's parameters."""
    channels = 3 if axis == 1 else 4
    scale = np.array([0.5, 0.25, 0.125, 1.0][:channels], np.float32)
    zero = np.array([0, 3, -2, 5][:channels], np.int8)
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=axis),
             oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis)]
    model = _model(nodes, [_info("x", TP.FLOAT, [2, 3, 5, 4])], [_info("q", TP.INT8), _info("y", TP.FLOAT)],
                   [_const("s", scale), _const("z", zero)])
    circle = _check(model, [(RNG.standard_normal((2, 3, 5, 4)) * 20).astype(np.float32)])
    q = _quantization_of(circle, "DEQUANTIZE")
    assert q.scale.size == channels and q.quantized_dimension == axis % 4
    assert {"QUANTIZE", "DEQUANTIZE"} <= _op_types(circle)


def test_dequantize_run_time_and_conflicting_parameters():
    """A tensor quantized with other parameters, and run-time parameters: plain arithmetic."""
    nodes = [oh.make_node("QuantizeLinear", ["x", "s1", "z1"], ["q"]),
             oh.make_node("DequantizeLinear", ["q", "s2", "z2"], ["y1"]),
             oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y2"])]
    model = _model(nodes, [_info("x", TP.FLOAT, [6]), _info("s", TP.FLOAT, []), _info("z", TP.UINT8, [])],
                   [_info("y1", TP.FLOAT), _info("y2", TP.FLOAT)],
                   [_const("s1", np.float32(0.1)), _const("z1", np.uint8(10)), _const("s2", np.float32(0.3)),
                    _const("z2", np.uint8(100))])
    _check(model, [np.linspace(-2, 20, 6).astype(np.float32), np.array(0.7, np.float32), np.array(9, np.uint8)])


def test_dequantize_float16_scale():
    node = oh.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])
    model = _model([node], [_info("x", TP.INT8, [5])], [_info("y", TP.FLOAT16)],
                   [_const("s", np.float16(0.3)), _const("z", np.int8(-4))], opset=21)
    _check(model, [np.array([-128, -4, 0, 77, 127], np.int8)])


def test_quantize_dequantize_blocked_constants():
    scale = np.array([[0.5, 0.25], [1.0, 0.125]], np.float32)
    zero = np.array([[1, -2], [0, 3]], np.int8)
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1, block_size=3),
             oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, block_size=3)]
    model = _model(nodes, [_info("x", TP.FLOAT, [2, 5])], [_info("q", TP.INT8), _info("y", TP.FLOAT)],
                   [_const("s", scale), _const("z", zero)], opset=21)
    _check(model, [(RNG.standard_normal((2, 5)) * 10).astype(np.float32)])


def test_dynamic_quantize_linear():
    node = oh.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    model = _model([node], [_info("x", TP.FLOAT, [2, 3, 4])],
                   [_info("y", TP.UINT8), _info("s", TP.FLOAT), _info("z", TP.UINT8)], opset=11)
    for x in (RNG.standard_normal((2, 3, 4)) * 3 - 5, np.zeros((2, 3, 4))):
        _check(model, [x.astype(np.float32)])


def test_qlinear_matmul_constant_b():
    b = RNG.integers(-128, 127, (4, 3), dtype=np.int8)
    node = oh.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    model = _model([node], [_info("a", TP.UINT8, [2, 5, 4])], [_info("y", TP.UINT8)],
                   [_const("sa", np.float32(0.02)), _const("za", np.uint8(120)), _const("b", b),
                    _const("sb", np.float32(0.01)), _const("zb", np.int8(0)), _const("sy", np.float32(0.05)),
                    _const("zy", np.uint8(100))], opset=10)
    _check(model, [RNG.integers(0, 255, (2, 5, 4), dtype=np.uint8)])


@pytest.mark.parametrize("op", ["ConvInteger", "QLinearConv"])
def test_integer_convolutions_constant_weights(op):
    w = RNG.integers(-20, 20, (4, 3, 3, 3), dtype=np.int8)
    attrs = {"pads": [1, 0, 1, 2], "strides": [1, 2]}
    if op == "ConvInteger":
        node = oh.make_node(op, ["x", "w", "zx", "zw"], ["y"], **attrs)
        inits = [_const("w", w), _const("zx", np.uint8(7)), _const("zw", np.int8(2))]
        out = TP.INT32
    else:
        node = oh.make_node(op, ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], **attrs)
        inits = [_const("w", w), _const("sx", np.float32(0.05)), _const("zx", np.uint8(7)),
                 _const("sw", np.array([0.01, 0.02, 0.005, 0.04], np.float32)), _const("zw", np.zeros(4, np.int8)),
                 _const("sy", np.float32(0.2)), _const("zy", np.uint8(128)),
                 _const("b", np.array([100, -2000, 0, 5000], np.int32))]
        out = TP.UINT8
    model = _model([node], [_info("x", TP.UINT8, [1, 3, 6, 7])], [_info("y", out)], inits, opset=10)
    _check(model, [RNG.integers(0, 255, (1, 3, 6, 7), dtype=np.uint8)])


def test_integer_convolution_too_large_for_float32():
    w = np.full((1, 512, 3, 3), 127, np.int8)
    node = oh.make_node("ConvInteger", ["x", "w"], ["y"])
    model = _model([node], [_info("x", TP.UINT8, [1, 512, 3, 3])], [_info("y", TP.INT32)], [_const("w", w)], opset=10)
    with pytest.raises(one_core.errors.UnsupportedOperatorError, match="2\\*\\*24"):
        one_core.load(model)


# --- NonMaxSuppression --------------------------------------------------------------------------------

@pytest.mark.parametrize("center, const", [(0, True), (1, False)])
def test_non_max_suppression(center, const):
    """Two batches, three classes; thresholds as constants or inputs, a huge max output count."""
    corners = RNG.random((2, 8, 2)).astype(np.float32) * 4
    size = RNG.random((2, 8, 2)).astype(np.float32) + 0.5
    boxes = np.concatenate([corners, size], -1) if center else np.concatenate([corners, corners + size], -1)
    scores = RNG.random((2, 3, 8)).astype(np.float32)
    params = [np.array([2 ** 40], np.int64), np.array([0.25], np.float32), np.array([0.2], np.float32)]
    names = ["boxes", "scores", "max", "iou", "score"]
    node = oh.make_node("NonMaxSuppression", names, ["selected"], center_point_box=center)
    inputs = [_info("boxes", TP.FLOAT, [2, 8, 4]), _info("scores", TP.FLOAT, [2, 3, 8])]
    feeds = [boxes, scores]
    inits = []
    for name, value in zip(names[2:], params):
        if const:
            inits.append(_const(name, value))
        else:
            inputs.append(_info(name, oh.np_dtype_to_tensor_dtype(value.dtype), [1]))
            feeds.append(value)
    model = _model([node], inputs, [_info("selected", TP.INT64, [None, 3])], inits, opset=11)
    _check(model, feeds)


def test_non_max_suppression_defaults_and_boundary():
    """No max count (no box), then an IoU exactly at the threshold (kept: ONNX suppresses above it)."""
    boxes = np.array([[[0, 0, 1, 1], [0, 0.5, 1, 1.5], [0, 3, 1, 4]]], np.float32)  # IoU of the first two: 1/3
    scores = np.array([[[0.9, 0.8, 0.7]]], np.float32)
    empty = oh.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"])
    inputs = [_info("boxes", TP.FLOAT, [1, 3, 4]), _info("scores", TP.FLOAT, [1, 1, 3])]
    _check(_model([empty], inputs, [_info("selected", TP.INT64, [None, 3])], opset=11), [boxes, scores])
    node = oh.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou"], ["selected"])
    iou = np.float32(1) / np.float32(3)
    model = _model([node], inputs, [_info("selected", TP.INT64, [None, 3])],
                   [_const("max", np.array([5], np.int64)), _const("iou", np.array([iou], np.float32))], opset=11)
    _check(model, [boxes, scores])


def test_quantize_dequantize_run_time_per_axis_parameters():
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=0),
             oh.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)]
    model = _model(nodes, [_info("x", TP.FLOAT, [3, 4]), _info("s", TP.FLOAT, [3]), _info("z", TP.INT8, [3])],
                   [_info("q", TP.INT8), _info("y", TP.FLOAT)])
    _check(model, [np.linspace(-30, 30, 12, dtype=np.float32).reshape(3, 4), np.array([0.5, 0.2, 4], np.float32),
                   np.array([1, -3, 0], np.int8)])


def test_scan_opset8_batches():
    body = oh.make_graph([oh.make_node("Add", ["s_in", "x"], ["s_out"]), oh.make_node("Mul", ["s_out", "x"], ["y"])],
                         "body", [_info("s_in", TP.FLOAT, [2]), _info("x", TP.FLOAT, [2])],
                         [_info("s_out", TP.FLOAT, [2]), _info("y", TP.FLOAT, [2])])
    node = oh.make_node("Scan", ["", "s", "xs"], ["s_final", "ys"], body=body, num_scan_inputs=1, directions=[1])
    model = _model([node], [_info("s", TP.FLOAT, [3, 2]), _info("xs", TP.FLOAT, [3, 4, 2])],
                   [_info("s_final", TP.FLOAT, [3, 2]), _info("ys", TP.FLOAT, [3, 4, 2])], opset=8)
    model.ir_version = 8
    _check(model, [RNG.standard_normal((3, 2)).astype(np.float32), RNG.standard_normal((3, 4, 2)).astype(np.float32)])


def test_scan_sequence_length_unknown_at_import():
    body = oh.make_graph([oh.make_node("Add", ["s_in", "x"], ["s_out"]), oh.make_node("Identity", ["s_out"], ["y"])],
                         "body", [_info("s_in", TP.FLOAT, [2]), _info("x", TP.FLOAT, [2])],
                         [_info("s_out", TP.FLOAT, [2]), _info("y", TP.FLOAT, [2])])
    node = oh.make_node("Scan", ["s", "xs"], ["s_final", "ys"], body=body, num_scan_inputs=1,
                        scan_input_directions=[1])
    model = _model([node], [_info("s", TP.FLOAT, [2]), _info("xs", TP.FLOAT, ["T", 2])],
                   [_info("s_final", TP.FLOAT, [2]), _info("ys", TP.FLOAT, ["T", 2])])
    for steps in (1, 5):
        _check(model, [np.ones(2, np.float32), RNG.standard_normal((steps, 2)).astype(np.float32)])
