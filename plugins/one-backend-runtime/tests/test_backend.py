"""The runtime's mechanics: kernel lookup, the kernel hook, input checks, liveness, profiling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import one_core
from one_core.errors import InputError, UnsupportedOperatorError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.plugin import Plugins, hookimpl, manager
from one_backend_runtime import OpContext


def _custom_model(codes: Sequence[str]) -> Model:
    """x[-1, 3] -> CUSTOM(codes[0]) -> ... -> y, float32."""
    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (1, 3), shape_signature=(-1, 3)))
    sg.inputs = [x]
    for i, code in enumerate(codes):
        y = sg.add_tensor(Tensor(f"t{i}", DType.FLOAT32, (1, 3), shape_signature=(-1, 3)))
        sg.add_operator(Operator("CUSTOM", [x], [y], custom_code=code, custom_options=b"\x02"))
        x = y
    sg.outputs = [x]
    return model


def times(ctx: OpContext):
    factor = ctx.op.custom_options[0]

    def run(inputs):
        return [inputs[0] * np.float32(factor)]

    return run


class _KernelPlugin:
    @hookimpl
    def one_register_kernels(self, registry: Any) -> None:
        registry.add(times, name="Times")


@pytest.fixture
def with_kernel_plugin(monkeypatch) -> Plugins:
    plugins = Plugins(disabled=set())
    plugins.register(_KernelPlugin(), "times-kernel", "times-kernel-dist", "0")
    monkeypatch.setattr(manager, "_plugins", plugins)
    return plugins


def test_custom_kernel_from_a_plugin(with_kernel_plugin) -> None:
    session = one_core.Session(_custom_model(["Times", "Times"]), backend="runtime")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(session.run({"x": x})["t1"], x * 4)
    assert with_kernel_plugin.info["times-kernel"].provides == {"kernel": ["Times"]}


def test_missing_kernels_are_listed_together(with_kernel_plugin) -> None:
    model = _custom_model(["Times", "Nope", "Other", "Nope"])
    with pytest.raises(UnsupportedOperatorError) as info:
        one_core.Session(model, backend="runtime")
    assert "no kernel for 2 operator type(s): CUSTOM(Nope), CUSTOM(Other)" in str(info.value)
    assert info.value.operators == ["CUSTOM(Nope)", "CUSTOM(Other)"]


def test_inputs_are_checked_by_name_shape_and_dtype(with_kernel_plugin) -> None:
    session = one_core.Session(_custom_model(["Times"]), backend="runtime")
    assert [(i.name, i.shape, i.dtype) for i in session.inputs] == [("x", (-1, 3), np.dtype(np.float32))]
    ok = np.zeros((5, 3), np.float32)
    assert session.run([ok])["t0"].shape == (5, 3)  # dynamic batch
    cases = [
        ({"y": ok}, "unknown input(s) y (the model takes x)"),
        ({}, "missing input(s) x"),
        ([ok, ok], "2 input(s) given, the model takes 1: x"),
        ([ok.astype(np.float64)], "input 'x': dtype float64, expected float32"),
        ([np.zeros((5, 4), np.float32)], "input 'x': shape [5, 4], expected [-1, 3]"),
        ([np.zeros((3,), np.float32)], "input 'x': shape [3], expected [-1, 3]"),
    ]
    for given, message in cases:
        with pytest.raises(InputError) as info:
            session.run(given)
        assert str(info.value) == message


def test_activations_are_freed_after_their_last_use(with_kernel_plugin) -> None:
    session = one_core.Session(_custom_model(["Times"] * 4), backend="runtime")
    steps = session._exe.program.program(0).steps
    assert [s.free for s in steps] == [[0], [1], [2], [3]]  # slot 4, the output, is kept


def test_profiling_times_every_operator(with_kernel_plugin) -> None:
    session = one_core.Session(_custom_model(["Times"] * 3), backend="runtime")
    session.set_profiling(True)
    session.run([np.ones((1, 3), np.float32)])
    rows = session.operator_times()
    assert [(t, n) for t, n, _ in rows] == [("Times", "t0"), ("Times", "t1"), ("Times", "t2")]
    assert all(s >= 0 for _, _, s in rows)
