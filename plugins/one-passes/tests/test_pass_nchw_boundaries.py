"""nchw_to_nhwc_input_shape and nchw_to_nhwc_output_shape: the rank-4 inputs and outputs of a
channels-first model become channels-last, so the Transposes layout propagation leaves at the
boundaries go. The model's interface changes, so the comparison feeds the optimized model the
inputs transposed to NHWC and expects the original's outputs transposed to NHWC."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from one_passes.forward import NHWC_IO_METADATA
from passcheck import (
    Graph,
    assert_close,
    check_unchanged,
    counts,
    optimized,
    random_inputs,
    run,
    run_litert,
)

import one_core
from one_core.ir import Model, Tensor, verify
from one_core.ir.options import AddOptions, Conv2DOptions, Padding, TransposeOptions

BOUNDARIES = ["nchw_to_nhwc_input_shape", "nchw_to_nhwc_output_shape"]
ALL = ["convert_nchw_to_nhwc", *BOUNDARIES]


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def _nhwc_shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape[p] for p in (0, 2, 3, 1)) if len(t.shape) == 4 else t.shape


def check_nhwc(model: Model, passes: Sequence[str], delta: Mapping[str, int], litert: bool = True) -> Model:
    """Optimize a copy of `model` and check: it verifies; operator counts changed by exactly
    `delta`; every rank-4 input and output kept its name and is channels-last, the others are
    unchanged; fed the original's inputs transposed to NHWC, the runtime (and with `litert`,
    LiteRT) gives the original's outputs transposed to NHWC; a second optimization of the saved
    result changes nothing. Returns the optimized model."""
    opt, _ = optimized(model, passes)
    verify(opt)
    before, after = counts(model), counts(opt)
    change = {t: after[t] - before[t] for t in set(before) | set(after) if after[t] != before[t]}
    assert change == dict(delta), f"operator counts changed by {change}, expected {dict(delta)}"
    for old, new in zip([*model.main.inputs, *model.main.outputs], [*opt.main.inputs, *opt.main.outputs], strict=True):
        assert (new.name, new.shape) == (old.name, _nhwc_shape(old))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "opt.tflite"
        one_core.save(opt, path)
        for seed in (0, 1):
            xs = random_inputs(model, seed)
            want = [_nhwc(y) for y in run(model, xs)]
            feed = [_nhwc(x) for x in xs]
            assert_close(run(opt, feed), want)
            if litert:
                assert_close(run_litert(path, feed), want)
        _, second = optimized(one_core.load(path), passes)
    assert not any(p.changes for p in second.passes if p.name != "remove_dead_operators"), "not idempotent"
    return opt


def _transpose(g: Graph, x: Tensor, perm: Sequence[int]) -> Tensor:
    shape = tuple(x.shape[p] for p in perm)
    return g.op("TRANSPOSE", [x, g.const(np.array(perm, np.int32))], shape, TransposeOptions())


def _conv(g: Graph, x: Tensor, cout: int) -> Tensor:
    """A 3x3 SAME channels-last convolution."""
    n, h, w, cin = x.shape
    return g.op("CONV_2D", [x, g.randn(cout, 3, 3, cin), g.randn(cout)], (n, h, w, cout),
                Conv2DOptions(padding=Padding.SAME, stride_h=1, stride_w=1))


def _imported_conv(also_read: bool = False) -> Model:
    """[1, 3, 8, 8] -> TRANSPOSE to NHWC -> CONV_2D -> RELU -> TRANSPOSE back -> [1, 4, 8, 8], as
    an operator-by-operator import leaves a channels-first convolution; with `also_read`, the
    output also feeds an ADD writing a second output."""
    g = Graph()
    x = g.input("x", (1, 3, 8, 8))
    r = g.op("RELU", [_conv(g, _transpose(g, x, (0, 2, 3, 1)), 4)], (1, 8, 8, 4))
    y = _transpose(g, r, (0, 3, 1, 2))
    if not also_read:
        return g.done([y])
    return g.done([y, g.op("ADD", [y, g.const(np.full((4, 1, 1), 0.5, np.float32))], y.shape, AddOptions())])


@pytest.mark.parametrize("passes", [ALL, BOUNDARIES], ids=["with_convert", "alone"])
def test_boundary_transposes_go(passes: list[str]) -> None:
    model = _imported_conv()
    opt = check_nhwc(model, passes, {"TRANSPOSE": -2})
    sg = opt.main
    assert [op.type for op in sg.operators] == ["CONV_2D", "RELU"]
    assert sg.operators[0].inputs[0] is sg.inputs[0] and sg.operators[-1].outputs[0] is sg.outputs[0]
    names = {"inputs": ["x"], "outputs": [model.main.outputs[0].name]}
    assert json.loads(opt.metadata[NHWC_IO_METADATA]) == names


def test_an_output_also_read_inside() -> None:
    """The ADD after the output reads the channels-first value: the back-Transpose now runs on
    the (channels-last) output and sinks below the ADD, whose constant is permuted."""
    opt = check_nhwc(_imported_conv(also_read=True), ALL, {"TRANSPOSE": -2})
    assert [op.type for op in opt.main.operators] == ["CONV_2D", "RELU", "ADD"]


def _no_transpose(signature: Sequence[int] | None = None) -> Model:
    """RELU then ADD of a per-channel constant on a channels-first input: nothing to bypass."""
    g = Graph()
    x = g.input("x", (2, 3, 4, 5), signature=signature)
    r = g.op("RELU", [x], x.shape, signature=signature)
    y = g.op("ADD", [r, g.randn(3, 1, 1)], x.shape, AddOptions(), signature=signature)
    return g.done([y])


@pytest.mark.parametrize("signature", [None, (-1, 3, 4, 5)], ids=["static", "dynamic_batch"])
def test_no_boundary_transpose(signature: Sequence[int] | None) -> None:
    """Without Transposes to bypass, the interface still becomes NHWC: alone, the passes add a
    TRANSPOSE after the input and one before the output; with convert_nchw_to_nhwc, they sink
    through RELU and ADD and cancel."""
    model = _no_transpose(signature)
    alone = check_nhwc(model, BOUNDARIES, {"TRANSPOSE": 2})
    assert [op.type for op in alone.main.operators] == ["TRANSPOSE", "RELU", "ADD", "TRANSPOSE"]
    opt = check_nhwc(model, ALL, {})
    assert [op.type for op in opt.main.operators] == ["RELU", "ADD"]
    if signature is not None:  # and it runs another batch size
        assert opt.main.inputs[0].shape_signature == opt.main.outputs[0].shape_signature == (-1, 4, 5, 3)
        x = np.random.default_rng(3).standard_normal((3, 3, 4, 5)).astype(np.float32)
        assert_close(run(opt, [_nhwc(x)]), [_nhwc(y) for y in run(model, [x])])


def test_rank3_untouched() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4))
    check_unchanged(g.done([g.op("RELU", [x], x.shape)]), BOUNDARIES)


def test_rank3_input_beside_a_rank4_one() -> None:
    g = Graph()
    x, s = g.input("x", (1, 3, 4, 4)), g.input("s", (1, 4, 3))
    y = g.op("ADD", [g.op("RELU", [x], x.shape), g.const(np.float32(1))], x.shape, AddOptions())
    opt = check_nhwc(g.done([y, g.op("ABS", [s], s.shape)]), ALL, {})
    assert [t.shape for t in opt.main.inputs] == [(1, 4, 4, 3), (1, 4, 3)]


def test_converted_model_is_left_alone() -> None:
    """The metadata names what was converted: the passes do not permute the NHWC input again
    (which no graph structure could tell from an NCHW one)."""
    opt, _ = optimized(_no_transpose(), ALL)
    check_unchanged(opt, BOUNDARIES)


def _onnx_net():
    """Conv -> Relu -> Conv + skip -> Relu, channels-first [1, 3, 9, 9] -> [1, 6, 9, 9]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def const(name: str, *shape: int):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.5).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [const("w1", 6, 3, 3, 3), const("b1", 6), const("w2", 6, 6, 3, 3)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_import() -> None:
    """The ONNX frontend's import keeps ONNX's layout with a Transpose at each boundary: the
    result has none, the operators the frontend writes with io_layout=nhwc, the signature's
    names, and computes what onnxruntime computes. (Not on LiteRT: the frontend writes the second
    CONV_2D without a bias, which LiteRT refuses.)"""
    pytest.importorskip("one_frontend_onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    proto = _onnx_net()
    model = one_core.load(proto)
    opt = check_nhwc(model, ALL, {"TRANSPOSE": -2}, litert=False)
    ops = [op.type for op in opt.main.operators]
    assert ops == [op.type for op in one_core.load(proto, io_layout="nhwc").main.operators]
    assert "TRANSPOSE" not in ops
    (sig,) = opt.signature_defs
    assert [(n, t.name, t.shape) for n, t in sig.inputs] == [("x", "x", (1, 9, 9, 3))]
    assert [(n, t.name, t.shape) for n, t in sig.outputs] == [("y", "y", (1, 9, 9, 6))]
    x = np.random.default_rng(0).standard_normal((1, 3, 9, 9)).astype(np.float32)
    want = onnxruntime.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    assert_close(run(opt, [_nhwc(x)]), [_nhwc(want)])


def test_onecc_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """one-optimize's cfg keys of the same names switch the passes on."""
    from one_core.build import build

    one_core.save(_imported_conv(), tmp_path / "net.circle")
    keys = "\n".join(f"{name}=True" for name in ALL)
    (tmp_path / "net.cfg").write_text(f"[onecc]\none-optimize=True\n\n[one-optimize]\ninput_path=net.circle\n"
                                      f"output_path=net.opt.circle\n{keys}\n")
    monkeypatch.chdir(tmp_path)
    build("net.cfg")
    sg = one_core.load(tmp_path / "net.opt.circle").main
    assert [op.type for op in sg.operators] == ["CONV_2D", "RELU"]
    assert (sg.inputs[0].shape, sg.outputs[0].shape) == ((1, 8, 8, 3), (1, 8, 8, 4))
