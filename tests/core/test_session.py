"""Session: a model prepared on a backend chosen by name, or the first one installed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import one_core
from one_core.errors import InputError, OneError
from one_core.ir import Model
from one_core.plugin import Backend, Executable, Plugins, hookimpl, manager

from irbuild import reference_tiny_mlp, tiny_mlp


class _NumpyMlp(Executable):
    """Runs exactly the tiny MLP (FULLY_CONNECTED + ADD) with numpy."""

    def __init__(self, model: Model) -> None:
        self.model = model

    @property
    def inputs(self) -> Sequence[Any]:
        return [(t.name, t.shape, t.dtype) for t in self.model.main.inputs]

    @property
    def outputs(self) -> Sequence[Any]:
        return [(t.name, t.shape, t.dtype) for t in self.model.main.outputs]

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"] if isinstance(inputs, Mapping) else inputs[0]
        return {"y": reference_tiny_mlp(self.model, x)}


class _Backend(Backend):
    name = "numpy-mlp"

    def prepare(self, model: Model, **options: Any) -> Executable:
        if options:
            raise OneError(f"unexpected options {sorted(options)}")
        return _NumpyMlp(model)


class _Plugin:
    @hookimpl
    def one_register_backends(self, registry: Any) -> None:
        registry.add(_Backend())


@pytest.fixture
def plugins(monkeypatch) -> Plugins:
    plugins = Plugins(disabled={"runtime", "codegen"})  # so the test backend is the only, default one
    plugins.register(_Plugin(), "test-backend", "test-backend", "0")
    plugins.backends = plugins._collect("backend", "one_register_backends")
    monkeypatch.setattr(manager, "_plugins", plugins)
    return plugins


def test_session_runs_on_the_default_backend(plugins, tmp_path) -> None:
    path = tmp_path / "m.circle"
    one_core.save(tiny_mlp(), path)
    session = one_core.Session(path)
    assert session.backend == "numpy-mlp"
    assert [name for name, _, _ in session.inputs] == ["x"]
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(session.run([x])["y"], session.run({"x": x})["y"])


def test_session_names_unknown_backends(plugins) -> None:
    with pytest.raises(OneError, match="no backend named 'gpu' \\(known: numpy-mlp\\)"):
        one_core.Session(tiny_mlp(), backend="gpu")


def test_session_without_any_backend(monkeypatch) -> None:
    monkeypatch.setattr(manager, "_plugins", Plugins(disabled={"tflite", "runtime", "codegen"}))
    with pytest.raises(InputError, match="no backend is installed"):
        one_core.Session(tiny_mlp())
