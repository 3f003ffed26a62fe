"""The TFLite frontend: chosen for .tflite files, checks that the file really is TFLite."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import modelzoo
import one_core
from one_core.errors import InputError, InvalidModelError
from one_core.ir import diff_models
from one_frontend_tflite import TfliteFrontend

from irbuild import tiny_mlp


def test_claims_tflite_by_content_and_extension(tmp_path) -> None:
    fe = TfliteFrontend()
    path = modelzoo.small_float_model()
    head = path.read_bytes()[:8]
    renamed = tmp_path / "model.bin"
    shutil.copy(path, renamed)
    assert fe.match(renamed, head) > fe.match(tmp_path / "x.tflite", b"") > fe.match(tmp_path / "x.onnx", b"")
    model = one_core.load(renamed)  # chosen by content, whatever the name
    assert model.main.operators[0].name == "CONV_2D"


def test_imports_every_zoo_model_like_the_core_reader(tmp_path) -> None:
    from one_core.circle.reader import read_model

    for name, make in sorted(modelzoo.ALL_MODELS.items()):
        path = make()
        via_frontend = one_core.load(path, frontend="tflite")
        assert diff_models(via_frontend, read_model(path)) == [], name


def test_refuses_a_circle_file(tmp_path) -> None:
    path = tmp_path / "m.circle"
    one_core.save(tiny_mlp(), path)
    with pytest.raises(InvalidModelError, match="this is a circle file; use the circle frontend"):
        one_core.load(path, frontend="tflite")


def test_refuses_circle_only_types_in_a_tflite_file(tmp_path) -> None:
    from one_core.circle.writer import serialize

    model = tiny_mlp()
    model.main.tensor_by_name("c").dtype = one_core.DType.UINT4
    model.main.tensor_by_name("c").data = np.zeros(2, np.uint8)
    path = tmp_path / "m.tflite"
    path.write_bytes(b"".join(bytes(c) for c in serialize(model, b"TFL3")))
    with pytest.raises(InvalidModelError, match="a TFLite file cannot hold circle-only type UINT4 of tensor 'c'"):
        one_core.load(path)


def test_takes_no_options() -> None:
    with pytest.raises(InputError, match="tflite frontend takes no options"):
        one_core.load(modelzoo.small_float_model(), frontend="tflite", input_shapes="1,2")
