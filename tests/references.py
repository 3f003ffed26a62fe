"""Outputs of reference implementations, for comparisons in tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def litert_output(path: Path, x: np.ndarray) -> np.ndarray:
    """The first output of the .tflite model `path` on input `x`, computed by LiteRT's builtin
    reference kernels (XNNPACK's may differ from them by up to about 2e-4)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])
