"""What `one import` writes is a circle file ONE's own tools accept.

MobileNetV2 (Keras, weights re-drawn so outputs depend on the input) converted by TensorFlow's
TFLite converter, imported with the `one` command: the official circle-schema bindings parse
it and ONE's runtime onert computes what the LiteRT interpreter computes on the .tflite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modelzoo
from onert_runner import run_onert
from references import litert_output


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path]:
    tflite = modelzoo.mobilenet_v2()
    out = tmp_path_factory.mktemp("mnv2") / "m.circle"
    result = subprocess.run(
        [sys.executable, "-c", "from one_core.cli import main; main()", "import", str(tflite), "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return tflite, out


def test_official_bindings_parse_the_file(imported) -> None:
    from circle_schema.v0_10.circle.Model import Model

    tflite, circle = imported
    data = circle.read_bytes()
    assert data[4:8] == b"CIR0"
    assert Model.ModelBufferHasIdentifier(data, 0)
    m = Model.GetRootAs(data, 0)
    sg = m.Subgraphs(0)
    assert sg.OperatorsLength() > 60 and sg.InputsLength() == 1
    tensor = sg.Tensors(sg.Inputs(0))
    assert tensor.ShapeAsNumpy().tolist() == [1, 224, 224, 3]


def test_onert_matches_litert(imported, tmp_path) -> None:
    tflite, circle = imported
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1, 224, 224, 3)).astype(np.float32) for _ in range(2)]
    expected = [litert_output(tflite, x) for x in xs]
    # The model must be informative, or any implementation would "match".
    assert np.abs(expected[0] - expected[1]).max() > 1e-2 * np.abs(expected[0]).max()
    for x, want in zip(xs, expected):
        (got,) = run_onert(circle, [x], tmp_path)
        assert got.shape == want.shape
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
