"""Run a model on ONE's runtime onert, in its own process (onert can crash on bad input).

    python onert_runner.py MODEL INPUTS.npz OUTPUTS.npz

Inputs are taken in file order (arr_0, arr_1, ...); outputs are written the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np


def run_onert(model: Path, inputs: list[np.ndarray], workdir: Path, timeout: float = 300) -> list[np.ndarray]:
    """Outputs of `model` on onert's CPU backend; raises RuntimeError with onert's message."""
    feeds, results = workdir / "onert_in.npz", workdir / "onert_out.npz"
    np.savez(feeds, *inputs)
    proc = subprocess.run(
        [sys.executable, __file__, str(model), str(feeds), str(results)],
        capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"onert failed on {model} (exit {proc.returncode}): {proc.stderr[-2000:]}")
    with np.load(results) as out:
        return [out[f"arr_{i}"] for i in range(len(out.files))]


def _main(model: str, feeds: str, results: str) -> None:
    from onert import infer

    with np.load(feeds) as f:
        inputs = [f[f"arr_{i}"] for i in range(len(f.files))]
    session = infer.session(model, backends="cpu")
    outputs = session.infer(inputs)
    np.savez(results, *[np.array(o) for o in outputs])


if __name__ == "__main__":
    _main(*sys.argv[1:4])
