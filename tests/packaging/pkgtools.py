"""Helpers of the nnpackage tests: small float models built with the IR API, the `one` command.

Shapes are rank 3: ONE's runtime onert accepts RMS_NORM only on rank 3 and 4 inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import ConcatenationOptions, RmsNormOptions, TransposeOptions

EPS = float(np.float32(1e-6))


def norm_model() -> Model:
    """x[1,2,8] -> RMS_NORM(gamma) -> h[1,2,8]."""
    m = Model(description="norm")
    sg = m.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (1, 2, 8)))
    g = sg.add_tensor(Tensor("gamma", DType.FLOAT32, (8,), data=np.linspace(0.5, 2, 8, dtype=np.float32)))
    h = sg.add_tensor(Tensor("h", DType.FLOAT32, (1, 2, 8)))
    sg.add_operator(Operator("RMS_NORM", [x, g], [h], RmsNormOptions(epsilon=EPS)))
    sg.inputs, sg.outputs = [x], [h]
    return m


def join_model() -> Model:
    """a[1,2,8], b[1,2,4] -> CONCATENATION(axis 2) -> RMS_NORM -> y[1,2,12], and TRANSPOSE(a) -> t[1,8,2]."""
    m = Model(description="join")
    sg = m.add_subgraph(Subgraph("main"))
    a = sg.add_tensor(Tensor("a", DType.FLOAT32, (1, 2, 8)))
    b = sg.add_tensor(Tensor("b", DType.FLOAT32, (1, 2, 4)))
    c = sg.add_tensor(Tensor("c", DType.FLOAT32, (1, 2, 12)))
    g = sg.add_tensor(Tensor("g2", DType.FLOAT32, (12,), data=np.linspace(1, 2, 12, dtype=np.float32)))
    y = sg.add_tensor(Tensor("y", DType.FLOAT32, (1, 2, 12)))
    perm = sg.add_tensor(Tensor("perm", DType.INT32, (3,), data=np.array([0, 2, 1], np.int32)))
    t = sg.add_tensor(Tensor("t", DType.FLOAT32, (1, 8, 2)))
    sg.add_operator(Operator("CONCATENATION", [a, b], [c], ConcatenationOptions(axis=2)))
    sg.add_operator(Operator("RMS_NORM", [c, g], [y], RmsNormOptions(epsilon=EPS)))
    sg.add_operator(Operator("TRANSPOSE", [a, perm], [t], TransposeOptions()))
    sg.inputs, sg.outputs = [a, b], [y, t]
    return m


def norm_ref(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(EPS)) * gamma


def run_one(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The `one` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "one_core", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Non-zero exit, exactly one `error: ...` line on stderr naming the fragments, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
