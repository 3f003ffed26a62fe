"""Acceptance: Keras applications from a SavedModel, a .keras file and a live keras.Model import
into circle, run on the runtime backend and match the Keras model's own outputs.

With weights=None these models' outputs barely depend on the input, so the weights are redrawn
(tests/modelzoo.py's helpers) and two different N(0, 1) inputs must give clearly different
outputs before any comparison is trusted. The classifier gives logits (no softmax) so the
comparison sees every class. Each model is built once per session, at a small input size.
"""

from __future__ import annotations

import numpy as np
import pytest

import modelzoo
import one_core

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, when saving

RTOL = 1e-4  # of the output's scale (its largest magnitude)

APPS = {  # application -> smallest input size it allows (and keeps the suite quick)
    "MobileNetV2": 96,
    "ResNet50": 64,
    "EfficientNetB0": 64,  # at 32 its last feature map is 1x1: see test_efficientnet_size
    "InceptionV3": 75,
}


class App:
    def __init__(self, name: str, size: int, tmp_dir) -> None:
        tf, keras, rng = modelzoo._start()
        self.model = getattr(keras.applications, name)(
            weights=None, input_shape=(size, size, 3), classifier_activation=None
        )
        modelzoo._make_keras_model_informative(self.model, rng)
        modelzoo._check_informative(self.model, rng)
        self.inputs = [rng.standard_normal((1, size, size, 3)).astype(np.float32) for _ in range(2)]
        self.expected = [np.asarray(self.model(x, training=False)) for x in self.inputs]
        self.tmp_dir = tmp_dir
        self.input_name = self.model.layers[0].name  # the InputLayer: its name survives saving
        self.output_name = self.model.output_names[0]

    def source(self, kind: str):
        if kind == "keras_model":
            return self.model
        if kind == "keras_file":
            path = self.tmp_dir / "model.keras"
            if not path.exists():
                self.model.save(path)
            return path
        path = self.tmp_dir / "saved_model"
        if not path.exists():
            self.model.export(path, verbose=False)
        return path


@pytest.fixture(scope="module", params=sorted(APPS))
def app(request, tmp_path_factory) -> App:
    name = request.param
    return App(name, APPS[name], tmp_path_factory.mktemp(name))


@pytest.mark.parametrize("kind", ["keras_model", "keras_file", "saved_model"])
def test_application_matches_keras(app: App, kind: str) -> None:
    model = one_core.load(app.source(kind))
    assert [s.key for s in model.signature_defs] == ["serving_default"]
    signature = model.signature_defs[0]
    if kind == "saved_model":  # the names Keras' own export gave the signature
        assert [name for name, _ in signature.inputs] == [app.model.inputs[0].name]
        assert [name for name, _ in signature.outputs] == ["output_0"]
    else:  # the input layer's and output layer's names
        assert [name for name, _ in signature.inputs] == [app.input_name]
        assert [name for name, _ in signature.outputs] == [app.output_name]
    assert not any(op.name == "CUSTOM" for _, op in model.operators())
    assert all(t.dtype == one_core.DType.FLOAT32 for t in model.main.tensors if t.data is not None and t.data.size > 16)

    session = one_core.Session(model, backend="runtime")
    outputs = [next(iter(session.run([x]).values())) for x in app.inputs]
    for got, want in zip(outputs, app.expected):
        assert got.shape == want.shape
        scale = float(np.abs(want).max())
        assert float(np.abs(got - want).max()) <= RTOL * scale
    # the comparison means something: the two inputs give clearly different outputs
    assert modelzoo._relative_difference(outputs[0], outputs[1]) > 1e-2
