"""`one run` end to end on the runtime back end: inputs from files or seeded, outputs to
files, latencies, JSON report, per-operator profile, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import one_core
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import RmsNormOptions
from one_core.tensorio import read_tensors, write_tensors


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """x[2, 8] -> RMS_NORM -> ROPE-free second RMS_NORM -> y (circle-only operators)."""
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (2, 8), shape_signature=(-1, 8)))
    gamma = sg.add_tensor(Tensor("gamma", DType.FLOAT32, (8,), data=np.linspace(0.5, 2, 8, dtype=np.float32)))
    h = sg.add_tensor(Tensor("h", DType.FLOAT32, (2, 8)))
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, (2, 8)))
    eps = float(np.float32(1e-6))
    sg.add_operator(Operator("RMS_NORM", [x, gamma], [h], RmsNormOptions(epsilon=eps)))
    sg.add_operator(Operator("RMS_NORM", [h, gamma], [y], RmsNormOptions(epsilon=eps)))
    sg.inputs, sg.outputs = [x], [y]
    path = tmp_path_factory.mktemp("run") / "m.circle"
    one_core.save(m, path)
    return path


def _one(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "one_core", *args], capture_output=True, text=True, timeout=300)


def _expected(x: np.ndarray) -> np.ndarray:
    gamma = np.linspace(0.5, 2, 8, dtype=np.float32)
    for _ in range(2):
        x = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(1e-6)) * gamma
    return x


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_files_in_and_out(model: Path, tmp_path: Path, suffix: str) -> None:
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)  # dynamic batch
    feeds = write_tensors(tmp_path / f"in{suffix}", {"x": x})
    out = tmp_path / f"out{suffix}"
    result = _one("run", str(model), "--input", str(feeds), "--output", str(out))
    assert result.returncode == 0, result.stderr
    (y,) = read_tensors(out, ["y"])
    np.testing.assert_allclose(y, _expected(x), rtol=1e-5, atol=1e-6)


def test_seeded_inputs_latency_report_and_profile(model: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = _one("run", str(model), "--repeat", "5", "--warmup", "1", "--report", str(report), "--profile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("y: float32 [1, 8]")  # dynamic batch: 1 for random inputs
    assert "latency over 5 run(s) (backend runtime): min " in result.stdout
    assert "RMS_NORM" in result.stdout.split("operator")[1]
    data = json.loads(report.read_text())
    assert data["backend"] == "runtime" and data["repeat"] == 5
    lat = data["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["max"]
    again = _one("run", str(model), "--seed", "0")
    assert again.stdout.splitlines()[0] == result.stdout.splitlines()[0]  # same seed, same outputs


def test_errors_are_one_line(model: Path, tmp_path: Path) -> None:
    write_tensors(tmp_path / "bad.npz", {"x": np.zeros((2, 5), np.float32)})
    cases = [
        (["--input", str(tmp_path / "bad.npz")], "error: input 'x': shape [2, 5], expected [-1, 8]\n"),
        (["--backend", "gpu"], "error: no backend named 'gpu' (known: "),
        (["--input", str(tmp_path / "none.npz")], f"error: {tmp_path / 'none.npz'}: no such file\n"),
    ]
    for args, message in cases:
        result = _one("run", str(model), *args)
        assert result.returncode == 1 and result.stderr.startswith(message)
        assert result.stderr.count("\n") == 1
