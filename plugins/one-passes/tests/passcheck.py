"""Checking that a pass fires and keeps results: small IR models, TensorFlow-made models and
the equivalence check every pass test uses.

    g = Graph()
    x = g.input("x", (1, 4, 4, 3))
    y = g.op("RELU", [x], (1, 4, 4, 3))
    model = g.done([y])
    check_pass(model, "fuse_activation_function", {"RELU": -1})
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import modelzoo
import numpy as np

import one_core
from one_core.ir import (
    DType,
    Model,
    Operator,
    Subgraph,
    Tensor,
    diff_models,
    is_circle_only,
    verify,
)
from one_core.passes import available_passes, operator_counts

#: Float outputs must agree within this fraction of the output's largest magnitude.
RTOL = 1e-5


class Graph:
    """A small builder of one-subgraph IR models."""

    def __init__(self) -> None:
        self.model = Model(description="pass test")
        self.sg = self.model.add_subgraph(Subgraph("main"))
        self.rng = np.random.default_rng(1234)
        self._n = 0

    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def input(self, name: str, shape: Sequence[int], dtype: DType = DType.FLOAT32,
              signature: Sequence[int] | None = None) -> Tensor:
        t = self.sg.add_tensor(Tensor(name, dtype, tuple(shape),
                                      shape_signature=None if signature is None else tuple(signature)))
        self.sg.inputs.append(t)
        return t

    def const(self, value: Any, dtype: DType | None = None, name: str = "c") -> Tensor:
        value = np.asarray(value)
        if dtype is None:
            dtype = DType.from_numpy(value.dtype if value.dtype != np.float64 else np.float32)
        value = value.astype(dtype.numpy)
        return self.sg.add_tensor(Tensor(self._name(name), dtype, value.shape, data=value))

    def randn(self, *shape: int, name: str = "w") -> Tensor:
        return self.const(self.rng.standard_normal(shape).astype(np.float32), name=name)

    def op(self, name: str, inputs: Sequence[Tensor | None], shape: Sequence[int] | Sequence[Sequence[int]],
           options: Any = None, dtype: DType = DType.FLOAT32, *, outputs: int = 1,
           signature: Sequence[int] | None = None, **kwargs: Any) -> Any:
        shapes = [tuple(shape)] * outputs if outputs == 1 or not shape or isinstance(shape[0], int) else [tuple(s) for s in shape]
        outs = [self.sg.add_tensor(Tensor(self._name(name.lower()), dtype, s,
                                          shape_signature=None if signature is None else tuple(signature)))
                for s in shapes]
        self.sg.add_operator(Operator(name, inputs, outs, options, **kwargs))
        return outs[0] if outputs == 1 else outs

    def done(self, outputs: Sequence[Tensor]) -> Model:
        self.sg.outputs = list(outputs)
        verify(self.model)
        return self.model


_CLONES = tempfile.TemporaryDirectory(prefix="one-passes-test-")
_clone_count = 0


def clone(model: Model) -> Model:
    """An independent copy of `model`, through a circle file (kept until the tests end: the
    copy's constants are views of it)."""
    global _clone_count
    _clone_count += 1
    path = Path(_CLONES.name) / f"m{_clone_count}.circle"
    one_core.save(model, path)
    copy_ = one_core.load(path)
    copy_.source = model.source
    return copy_


def random_inputs(model: Model, seed: int = 0) -> list[np.ndarray]:
    """N(0, 1) floats; small non-negative integers; for every input of the main graph."""
    rng = np.random.default_rng(seed)
    out = []
    for t in model.main.inputs:
        shape = tuple(t.shape)
        if t.dtype.numpy is not None and np.issubdtype(t.dtype.numpy, np.floating):
            out.append(rng.standard_normal(shape).astype(t.dtype.numpy))
        elif t.dtype == DType.BOOL:
            out.append(rng.random(shape) < 0.5)
        else:
            out.append(rng.integers(0, 5, size=shape).astype(t.dtype.numpy))
    return out


def run(model: Model, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    session = one_core.Session(model, backend="runtime")
    result = session.run(list(inputs))
    return [result[o.name] for o in session.outputs]


def assert_close(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float = RTOL) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {i}: shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype}, expected {w.dtype}"
        if np.issubdtype(w.dtype, np.floating):
            scale = max(float(np.abs(w).max()) if w.size else 0.0, 1e-30)
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * scale, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")


def optimized(model: Model, passes: str | Sequence[str] | None = None, level: str | None = None) -> tuple[Model, Any]:
    """A copy of `model` optimized (verifying after every pass) and the report."""
    names = [passes] if isinstance(passes, str) else passes
    return one_core.optimize(clone(model), level=level, passes=names, debug=True, report=True)


def check_pass(model: Model, passes: str | Sequence[str] | None, delta: Mapping[str, int] | None = None, *,
               level: str | None = None, seeds: Sequence[int] = (0, 1),
               reference: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]] | None = None,
               rtol: float = RTOL, litert: bool = True) -> Model:
    """Optimize a copy of `model` and check: it verifies; operator counts changed by exactly
    `delta` (type -> after minus before; None: only that the count dropped); outputs on N(0, 1)
    inputs equal the original model's on the runtime (or `reference(inputs)`); the result
    survives a circle save and load; when LiteRT runs the original (saved as .tflite), it runs
    the optimized model too, with the same outputs; a second run changes nothing. Returns the
    optimized model."""
    opt, _ = optimized(model, passes, level)
    verify(opt)
    before, after = operator_counts(model), operator_counts(opt)
    change = {t: after.get(t, 0) - before.get(t, 0) for t in set(before) | set(after)}
    change = {t: d for t, d in change.items() if d}
    if delta is None:
        assert sum(after.values()) < sum(before.values()), f"nothing removed: {dict(before)}"
    else:
        assert change == dict(delta), f"operator counts changed by {change}, expected {dict(delta)}"
    for seed in seeds:
        xs = random_inputs(model, seed)
        want = list(reference(xs)) if reference is not None else run(model, xs)
        assert_close(run(opt, xs), want, rtol)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "opt.circle"
        one_core.save(opt, path)
        assert diff_models(opt, one_core.load(path)) == []
        if litert:
            _check_litert(model, opt, Path(d), seeds, rtol)
    _, second = optimized(opt, passes, level)
    assert not any(p.changes for p in second.passes if p.name != "remove_dead_operators"), "not idempotent"
    return opt


#: Models whose original LiteRT could not run (for the curious: `pytest -s`).
LITERT_SKIPPED: list[str] = []


def _check_litert(model: Model, opt: Model, folder: Path, seeds: Sequence[int], rtol: float) -> None:
    before, after = folder / "before.tflite", folder / "after.tflite"
    try:
        one_core.save(model, before)
        xs = random_inputs(model, seeds[0])
        run_litert(before, xs)
    except Exception:  # circle-only or custom operators: LiteRT cannot run the original
        LITERT_SKIPPED.append(",".join(sorted(operator_counts(model))))
        return
    if any(is_circle_only(op.name) for _, op in opt.operators()):
        return  # a fusion into a circle-only operator (INSTANCE_NORM): ONE's runtimes only
    one_core.save(opt, after)
    for seed in seeds:
        xs = random_inputs(model, seed)
        assert_close(run_litert(after, xs), run_litert(before, xs), rtol)


def check_unchanged(model: Model, passes: str | Sequence[str]) -> None:
    """The passes leave `model` exactly as it was (a negative case)."""
    names = [passes] if isinstance(passes, str) else list(passes)
    registry = available_passes()
    m = clone(model)
    for name in names:
        assert registry[name].run(m) is False, f"{name} changed a model it must not touch"
    assert diff_models(model, m) == []


def counts(model: Model) -> Counter[str]:
    return operator_counts(model)


# ------------------------------------------------------------------------------------------
# TensorFlow-made models (cached in the model zoo's cache directory)
# ------------------------------------------------------------------------------------------


def tf_model(fn: Callable, specs: Sequence[tuple[Sequence[int], Any]]) -> Path:
    """A .tflite file converted from the TensorFlow function `fn` of tensors with `specs`
    ((shape, numpy dtype) pairs), cached by the function's source."""
    key = hashlib.sha256(f"{inspect.getsource(fn)}|{specs}".encode()).hexdigest()[:16]
    path = modelzoo.cache_dir() / "passes" / f"{getattr(fn, '__name__', 'fn')}-{key}.tflite"
    if path.exists():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    signature = [tf.TensorSpec(tuple(shape), tf.as_dtype(dtype)) for shape, dtype in specs]
    concrete = tf.function(fn, input_signature=signature).get_concrete_function()
    data = tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def run_litert(path: Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Outputs of LiteRT's builtin reference kernels, in model order."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]
