"""The check the operator tests (test_ops_*.py) share: an ONNX model converted by us and run on our
runtime gives what onnxruntime (or ONNX's reference implementation) gives.

`assert_matches` is the whole check; `assert_close` is its rule for one output, usable on its own.
The rule: element type and shape equal; integers and booleans exactly equal; floating-point values
within `tol` times the output's scale, the scale being the largest magnitude among the expected
output's finite values but at least `min_scale`. NaN must stand where NaN is expected and an
infinity where the same infinity is expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime
from onnx.reference import ReferenceEvaluator

import one_core

Feeds = Sequence[np.ndarray] | Mapping[str, np.ndarray]


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs fed at run time: the main graph's inputs that are not initializers, in order."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def expected(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], reference: bool = False) -> list[np.ndarray]:
    """The outputs of onnxruntime (CPU), or with `reference` of onnx.reference.ReferenceEvaluator."""
    if reference:
        return list(ReferenceEvaluator(model).run(None, dict(feeds)))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


def assert_close(got: Any, want: Any, tol: float = 1e-5, *, min_scale: float = 1.0, as_dtype: Any = None,
                 what: str = "output") -> None:
    """`got` equals `want` by the rule of this module.

    tol: the allowed difference of floating-point values, relative to the output's scale.
    min_scale: the least scale (an output of small values is still compared to tol * min_scale).
    as_dtype: floating-point values are compared after a cast to this type (None: as they are).
    """
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape, want.dtype, want.shape)
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    scale = max(float(np.abs(want[np.isfinite(want)]).max(initial=0.0)), min_scale)
    if as_dtype is not None:
        got, want = got.astype(as_dtype), want.astype(as_dtype)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale, equal_nan=True, err_msg=what)


def assert_matches(model: onnx.ModelProto, feeds: Feeds, tol: float = 1e-5, reference: bool = False, *,
                   min_scale: float = 1.0, as_dtype: Any = None) -> one_core.Model:
    """Convert `model` with one_core.load, run it on our runtime and assert that every output
    matches onnxruntime's (with `reference`, ONNX's reference implementation's) by `assert_close`.

    feeds: the values of the inputs fed at run time, either in the order of the graph's inputs
    (initializers left out) or by input name.
    tol, min_scale, as_dtype: as for `assert_close`.
    Each output tensor of the circle model must also carry its ONNX output's name.

    Returns the converted model, for checks on its operators.
    """
    if isinstance(feeds, Mapping):
        named = dict(feeds)
    else:
        named = {info.name: value for info, value in zip(graph_inputs(model), feeds)}
    want = expected(model, named, reference)
    ours = one_core.load(model)
    signature = ours.signature_defs[0]
    values = [feeds[name] for name, _ in signature.inputs] if isinstance(feeds, Mapping) else list(feeds)
    result = one_core.Session(ours, backend="runtime").run(values)
    assert [t.name for _, t in signature.outputs] == [name for name, _ in signature.outputs], signature.outputs
    got = [result[t.name] for _, t in signature.outputs]
    assert len(got) == len(want), f"{len(got)} outputs, expected {len(want)}"
    for (name, _), g, w in zip(signature.outputs, got, want):
        assert_close(g, w, tol, min_scale=min_scale, as_dtype=as_dtype, what=f"output '{name}'")
    return ours
