"""Operator tests against LiteRT: make a one-operator model with TensorFlow, run it on LiteRT
and on this runtime, compare.

    path = tflite_model(fn, [((1, 8, 8, 3), np.float32)], quantize="int8")
    check(path, seed=0)                        # float: 1e-5 of the output's scale; ints: exact

`fn` is a function of tf tensors; models are cached by the source of `fn`, the input specs,
the quantization mode and the TensorFlow version (in the model zoo's cache directory)."""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import modelzoo

Spec = tuple[tuple[int, ...], type]


def tflite_model(
    fn: Callable,
    specs: Sequence[Spec],
    *,
    quantize: str | None = None,
    representative: Callable[[np.random.Generator], list[np.ndarray]] | None = None,
    tag: str = "",
) -> Path:
    """A .tflite file of `fn` (cached). quantize: None (float), "int8" (full integer, int8 I/O),
    "int16x8" (16-bit activations, 8-bit weights, int16 I/O), "dynamic" (weights only)."""
    key_src = f"{inspect.getsource(fn)}|{specs}|{quantize}|{tag}|{_source_of(representative)}"
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    path = modelzoo.cache_dir() / "ops" / f"{getattr(fn, '__name__', 'op')}-{quantize or 'float'}-{key}.tflite"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _convert(fn, specs, quantize, representative)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def _source_of(fn: Callable | None) -> str:
    return "" if fn is None else inspect.getsource(fn)


def _convert(fn, specs, quantize, representative) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    signature = [tf.TensorSpec(shape, tf.as_dtype(dtype)) for shape, dtype in specs]
    concrete = tf.function(fn, input_signature=signature).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize in ("int8", "int16x8"):
        rng = np.random.default_rng(0)

        def dataset():
            for _ in range(32):
                yield representative(rng) if representative else [
                    rng.standard_normal(shape).astype(dtype) for shape, dtype in specs
                ]

        converter.representative_dataset = dataset
        if quantize == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        else:
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16
    return converter.convert()


def random_inputs(path: Path, rng: np.random.Generator) -> list[np.ndarray]:
    """N(0, 1) floats, or integers spread over the quantized range, for each model input."""
    from ai_edge_litert.interpreter import Interpreter

    out = []
    for d in Interpreter(model_path=str(path)).get_input_details():
        shape, dtype = tuple(d["shape"]), d["dtype"]
        if np.issubdtype(dtype, np.floating):
            out.append(rng.standard_normal(shape).astype(dtype))
        elif dtype == np.bool_:
            out.append(rng.random(shape) < 0.5)
        else:
            scale, zero = d["quantization"]
            if scale:  # a quantized input: N(0, 1) reals, quantized
                info = np.iinfo(dtype)
                q = np.round(rng.standard_normal(shape) / scale) + zero
                out.append(np.clip(q, info.min, info.max).astype(dtype))
            else:
                out.append(rng.integers(0, 5, size=shape).astype(dtype))
    return out


def run_litert(path: Path, inputs: Sequence[np.ndarray], reference: bool = True) -> list[np.ndarray]:
    """Outputs in model order; `reference` selects LiteRT's builtin reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=kind)
    for d, x in zip(it.get_input_details(), inputs):
        if tuple(d["shape"]) != x.shape:
            it.resize_tensor_input(d["index"], x.shape)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def run_ours(path: Path, inputs: Sequence[np.ndarray], backend: str = "runtime", **options) -> list[np.ndarray]:
    """Outputs in model order on one of our backends (`options` go to its prepare)."""
    import one_core

    session = one_core.Session(path, backend=backend, **options)
    result = session.run(list(inputs))
    return [result[o.name] for o in session.outputs]


def check(path: Path, seed: int = 0, rtol: float = 1e-5, inputs: Sequence[np.ndarray] | None = None) -> None:
    """Our outputs equal LiteRT's reference kernels: floats within `rtol` of the output's
    largest magnitude, everything else exactly."""
    rng = np.random.default_rng(seed)
    xs = list(inputs) if inputs is not None else random_inputs(path, rng)
    assert_outputs_match(run_ours(path, xs), run_litert(path, xs), rtol, "vs LiteRT")


def assert_outputs_match(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float, label: str) -> None:
    """Same count, dtypes and shapes; floats within `rtol` of each output's largest magnitude,
    everything else exactly."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, f"{label} output {i}: dtype {g.dtype}, expected {w.dtype}"
        assert g.shape == w.shape, f"{label} output {i}: shape {g.shape}, expected {w.shape}"
        if np.issubdtype(w.dtype, np.floating):
            scale = max(float(np.abs(w).max()) if w.size else 0.0, 1e-30)
            np.testing.assert_allclose(g, w, rtol=0, atol=rtol * scale, err_msg=f"{label} output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{label} output {i}")
