"""Acceptance: Keras applications exported by tf2onnx (NHWC input, Transpose into NCHW, NCHW
convolutions) import with no Transpose left between convolutions and match onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

import modelzoo
import one_core

MODELS = {"MobileNetV2": 96, "ResNet50": 64, "EfficientNetB0": 64}
RTOL = 1e-4  # of the output's scale


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request):
    name = request.param
    return name, modelzoo.keras_onnx(name, MODELS[name])


def test_keras_application_from_tf2onnx(exported) -> None:
    name, path = exported
    model = one_core.load(path)
    sg = model.main
    ops = [op.name for op in sg.operators]
    assert ops.count("CONV_2D") + ops.count("DEPTHWISE_CONV_2D") > 20
    assert "TRANSPOSE" not in ops, f"{name}: {ops.count('TRANSPOSE')} Transposes left"
    assert "CUSTOM" not in ops

    size = MODELS[name]
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((1, size, size, 3)).astype(np.float32) for _ in range(2)]
    reference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session = one_core.Session(model)
    outputs = []
    for x in inputs:
        want = reference.run(None, {reference.get_inputs()[0].name: x})[0]
        got = next(iter(session.run([x]).values()))
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= RTOL * np.abs(want).max()
        outputs.append(got)
    assert modelzoo._relative_difference(outputs[0], outputs[1]) > 1e-2  # the comparison means something


def test_onnx_import_runs_on_onert(tmp_path) -> None:
    """Interop: the circle file made from the tf2onnx MobileNetV2 (after `one optimize`) runs on
    ONE's own runtime onert and matches onnxruntime."""
    from onert_runner import run_onert

    path = modelzoo.keras_onnx("MobileNetV2", MODELS["MobileNetV2"])
    circle = tmp_path / "mobilenet_v2.circle"
    one_core.save(one_core.optimize(one_core.load(path), level="O1"), circle)
    x = np.random.default_rng(5).standard_normal((1, 96, 96, 3)).astype(np.float32)
    reference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = reference.run(None, {reference.get_inputs()[0].name: x})[0]
    got = run_onert(circle, [x], tmp_path)[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= RTOL * np.abs(want).max()
