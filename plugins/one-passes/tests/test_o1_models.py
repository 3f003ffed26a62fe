"""-O1 on real networks (Keras applications converted by TensorFlow): outputs unchanged on
the runtime and on LiteRT, fewer operators where there is something to remove, idempotent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import modelzoo
import numpy as np
import pytest
from passcheck import (
    assert_close,
    clone,
    counts,
    optimized,
    random_inputs,
    run,
    run_litert,
)

import one_core
from one_core.ir import Model, Operator, Tensor, verify
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, MulOptions

#: name -> (zoo model, operators removed by -O1)
ZOO = {
    "mobilenet_v2": (modelzoo.mobilenet_v2, 0),  # the converter already fused everything
    "efficientnet_b0": (modelzoo.efficientnet_b0, 48),  # SHAPE/STRIDED_SLICE/PACK of 16 SE blocks
    "resnet50": (modelzoo.resnet50, 0),
    "mobilenet_v3_small": (modelzoo.mobilenet_v3_small, 3),
    "fp16_model": (modelzoo.fp16_model, 10),  # DEQUANTIZE of every float16 weight
    "sparse_model": (modelzoo.sparse_model, 3),  # DENSIFY of every sparse weight
}


def _informative(outputs_a: list[np.ndarray], outputs_b: list[np.ndarray]) -> None:
    """Two inputs give clearly different outputs: the comparison below means something."""
    a, b = outputs_a[0].astype(np.float64), outputs_b[0].astype(np.float64)
    assert np.linalg.norm(a - b) > 1e-2 * max(np.linalg.norm(a), 1e-30)


@pytest.mark.parametrize("name", list(ZOO))
def test_o1_on_zoo_models(name: str, tmp_path: Path) -> None:
    make, removed = ZOO[name]
    path = make()
    model = one_core.load(path)
    opt, report = optimized(model, level="O1")
    verify(opt)
    assert sum(counts(model).values()) - sum(counts(opt).values()) == removed, report.render()
    xs = [random_inputs(model, seed) for seed in (0, 1)]
    want = [run(model, x) for x in xs]
    _informative(want[0], want[1])
    for x, w in zip(xs, want):
        assert_close(run(opt, x), w)
    # idempotent: a second -O1 changes nothing
    _, again = optimized(opt, level="O1")
    assert not again.changed, again.render()
    # the optimized model is still a TFLite model LiteRT runs, with the same results
    out = tmp_path / "opt.tflite"
    one_core.save(opt, out)
    for x in xs:
        assert_close(run_litert(out, x), run_litert(path, x))


def _unfuse(model: Model, rng: np.random.Generator) -> int:
    """Undo what the converter fused, the way an unoptimized graph looks: every CONV_2D and
    DEPTHWISE_CONV_2D becomes convolution (no activation) -> MUL(scale) -> ADD(shift) ->
    activation operator, with weights and bias rescaled so the network computes the same
    function. Returns how many operators were added."""
    sg = model.main
    added = 0
    for conv in [op for op in sg.operators if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")]:
        w_t, b_t, out = conv.input(1), conv.input(2), conv.outputs[0]
        axis = 0 if conv.type == "CONV_2D" else 3
        c = w_t.shape[axis]
        scale = rng.uniform(0.5, 2.0, c).astype(np.float32)
        shift = (0.1 * rng.standard_normal(c)).astype(np.float32)
        shape = [1] * w_t.data.ndim
        shape[axis] = c
        w = (w_t.data / scale.reshape(shape)).astype(np.float32)
        b = ((b_t.data - shift) / scale).astype(np.float32)
        act = conv.options.fused_activation_function
        new_w = sg.add_tensor(Tensor(f"{w_t.name}/unfused", w_t.dtype, w.shape, data=w))
        new_b = sg.add_tensor(Tensor(f"{b_t.name}/unfused", b_t.dtype, b.shape, data=b))
        conv.set_input(1, new_w)
        conv.set_input(2, new_b)
        conv.options.fused_activation_function = Act.NONE
        raw = sg.add_tensor(Tensor(f"{out.name}/raw", out.dtype, out.shape, out.shape_signature))
        scaled = sg.add_tensor(Tensor(f"{out.name}/scaled", out.dtype, out.shape, out.shape_signature))
        s_t = sg.add_tensor(Tensor(f"{out.name}/bn_scale", out.dtype, (1, 1, 1, c), data=scale.reshape(1, 1, 1, c)))
        t_t = sg.add_tensor(Tensor(f"{out.name}/bn_shift", out.dtype, (c,), data=shift))
        conv.set_outputs([raw])
        index = sg.operators.index(conv) + 1
        new_ops = [Operator("MUL", [raw, s_t], [scaled], MulOptions())]
        if act == Act.NONE:
            new_ops.append(Operator("ADD", [scaled, t_t], [out], AddOptions()))
        else:
            normed = sg.add_tensor(Tensor(f"{out.name}/normed", out.dtype, out.shape, out.shape_signature))
            new_ops.append(Operator("ADD", [scaled, t_t], [normed], AddOptions()))
            new_ops.append(Operator({Act.RELU: "RELU", Act.RELU6: "RELU6"}[Act(act)], [normed], [out]))
        for i, op in enumerate(new_ops):
            sg.add_operator(op, index + i)
        added += len(new_ops)
    verify(model)
    return added


def test_o1_fuses_back_an_unfused_mobilenet_v2() -> None:
    """MobileNetV2 with its batch norms and activations split out again (MUL, ADD, RELU6
    after every convolution): -O1 fuses all of them back, down to the converter's 65
    operators, with the same outputs as the original network."""
    path = modelzoo.mobilenet_v2()
    original = one_core.load(path)
    unfused = clone(original)
    added = _unfuse(unfused, np.random.default_rng(7))
    assert added > 100
    xs = [random_inputs(original, seed) for seed in (0, 1)]
    want = [run(original, x) for x in xs]
    for x, w in zip(xs, want):
        assert_close(run(unfused, x), w, rtol=1e-4)  # the split network rounds differently
    opt, report = optimized(unfused, level="O1")
    assert counts(opt) == counts(original), report.render()
    passes = {p.name: p for p in report.passes}
    assert passes["fuse_batchnorm_with_conv"].removed["MUL"] == 35
    assert passes["fuse_batchnorm_with_dwconv"].removed["MUL"] == 17
    assert passes["fuse_activation_function"].removed["RELU6"] == 35
    for x, w in zip(xs, want):
        assert_close(run(opt, x), w, rtol=1e-4)
        assert_close(run(opt, x), run(unfused, x), rtol=1e-4)


def _one(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "one_core", *args], capture_output=True, text=True, timeout=300)


def test_cli_optimize_o1_and_named_passes(tmp_path: Path) -> None:
    src = modelzoo.efficientnet_b0()
    out = tmp_path / "e.circle"
    result = _one("optimize", str(src), "-o", str(out), "-O1", "--report")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: 303 -> 255 operators (O1,")
    assert "SHAPE                 16 -> 0      (-16)" in result.stdout
    assert "remove_dead_operators" in result.stdout
    assert sum(counts(one_core.load(out)).values()) == 255
    # flags with dashes or underscores; .tflite output
    out2 = tmp_path / "e.tflite"
    result = _one("optimize", str(src), "-o", str(out2), "--fold-reshape-shape", "--fold_shape", "--json")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["operators_before"] == 303 and report["operators_after"] == 255
    assert out2.read_bytes()[4:8] == b"TFL3"


def test_cli_unknown_pass_names_close_matches(tmp_path: Path) -> None:
    result = _one("optimize", str(modelzoo.small_float_model()), "-o", str(tmp_path / "o.circle"),
                  "--fuse_batchnorm_with_con")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: unknown pass 'fuse_batchnorm_with_con'; did you mean "
                                     "fuse_batchnorm_with_conv, fuse_batchnorm_with_tconv, fuse_batchnorm_with_dwconv?")
    assert not (tmp_path / "o.circle").exists()


def test_cli_passes_table_and_json() -> None:
    import json

    rows = json.loads(_one("passes", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["fuse_batchnorm_with_conv"]["levels"] == ["O1"]
    assert by_name["fuse_batchnorm_with_conv"]["plugin"] == "passes"
    assert by_name["common_subexpression_elimination"]["levels"] == []
    assert by_name["remove_dead_operators"]["plugin"] == "one-core"
    text = _one("passes").stdout.splitlines()
    assert text[0].split() == ["NAME", "O1", "DESCRIPTION"]
    assert any(line.startswith("fold_dequantize") and " yes " in line for line in text)


#: tf2onnx exports of Keras applications imported by the ONNX frontend -> operators after -O1
#: (the exporter's batch norms and activations fused: as many as TensorFlow's own converter
#: leaves, except EfficientNetB0's swish kept as LOGISTIC + MUL); the count before varies a
#: little between exports (tf2onnx's own rewrites), the count after does not
ONNX_ZOO = {("MobileNetV2", 96): 69, ("ResNet50", 64): 75, ("EfficientNetB0", 64): 246}
ONNX_RTOL = 1e-4  # of the output scale, against onnxruntime: folding batch norms into the weights
#                   reassociates float sums, which moves deep networks' outputs by ~5e-5 either way


@pytest.mark.parametrize("app", list(ONNX_ZOO), ids=[name for name, _ in ONNX_ZOO])
def test_o1_on_onnx_imports(app: tuple[str, int]) -> None:
    """Fewer operators, idempotent, and the optimized model is as close to onnxruntime as the
    imported one (the reference decides, since both differ from it by float rounding)."""
    pytest.importorskip("one_frontend_onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    path = modelzoo.keras_onnx(*app)
    model = one_core.load(path)
    opt, report = optimized(one_core.load(path), level="O1")
    verify(opt)
    assert sum(counts(opt).values()) == ONNX_ZOO[app] < sum(counts(model).values()), report.render()
    reference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = [random_inputs(model, seed) for seed in (0, 1)]
    _informative(run(model, xs[0]), run(model, xs[1]))
    for x in xs:
        want = reference.run(None, {reference.get_inputs()[0].name: x[0]})
        assert_close(run(model, x), want, rtol=ONNX_RTOL)
        assert_close(run(opt, x), want, rtol=ONNX_RTOL)
    _, again = optimized(opt, level="O1")
    assert not again.changed, again.render()
