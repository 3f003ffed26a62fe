"""Quantize float models with one_quantizer and compare LiteRT with our runtime on the result."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "one-backend-runtime" / "tests"))

import one_core  # noqa: E402
import one_quantizer  # noqa: E402
from opharness import random_inputs, run_litert, run_ours, tflite_model  # noqa: E402,F401


def calibration_records(model: one_core.Model, count: int = 16, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(t.shape).astype(np.float32) for t in model.main.inputs] for _ in range(count)]


def quantized_file(float_path: Path, out_dir: Path, **options) -> Path:
    """`float_path` quantized (options of one_quantizer.quantize), saved as .tflite."""
    model = one_core.load(float_path)
    one_quantizer.quantize(model, calibration_records(model), **options)
    return one_core.save(model, out_dir / f"{float_path.stem}-q.tflite")


def check_exact(path: Path, inputs: Sequence[np.ndarray] | None = None, seed: int = 0) -> list[np.ndarray]:
    """LiteRT's reference kernels and ours give the same integers; returns the outputs."""
    xs = list(inputs) if inputs is not None else random_inputs(path, np.random.default_rng(seed))
    want, got = run_litert(path, xs), run_ours(path, xs)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {i}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    return got


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB."""
    ref = np.asarray(reference, np.float64)
    noise = np.sum((ref - np.asarray(approx, np.float64)) ** 2)
    return float(10 * np.log10(np.sum(ref**2) / max(noise, 1e-30)))
