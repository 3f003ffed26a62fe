"""EfficientNetB0 and ResNet50 (Keras, converted by TensorFlow): -O1 (which folds the squeeze-excite
shape arithmetic EfficientNetB0 carries), int8 per-channel quantization, then LiteRT's reference
kernels and our runtime give the same integers."""

from __future__ import annotations

import numpy as np
import pytest
from qharness import check_exact

import modelzoo
import one_core
import one_quantizer


@pytest.mark.parametrize("make", [modelzoo.efficientnet_b0, modelzoo.resnet50], ids=["EfficientNetB0", "ResNet50"])
def test_zoo_model_quantizes_and_runs_on_litert(make, tmp_path) -> None:
    size = 64
    model = one_core.optimize(one_core.load(make(size)), level="O1")
    rng = np.random.default_rng(0)
    one_quantizer.quantize(model, [[rng.standard_normal((1, size, size, 3)).astype(np.float32)] for _ in range(4)])
    assert {t.dtype for t in model.main.tensors if t.data is not None} <= {one_core.DType.INT8, one_core.DType.INT32}
    path = one_core.save(model, tmp_path / "q.tflite")
    for seed in (0, 1):
        check_exact(path, seed=seed)
