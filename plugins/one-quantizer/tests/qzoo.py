"""A Keras application (informative weights, logits output) as float .tflite and as TensorFlow's own int8
full-integer quantization, both made from the same Keras model and calibrated on the same
records (`calibration_data`), cached in the model zoo's directory."""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
from pathlib import Path

import numpy as np

import modelzoo


def calibration_data(input_size: int, count: int = 8) -> np.ndarray:
    """N(0, 1) records, shape (count, 1, size, size, 3)."""
    rng = np.random.default_rng(7)
    return rng.standard_normal((count, 1, input_size, input_size, 3)).astype(np.float32)


def keras_pair(app_name: str, input_size: int) -> tuple[Path, Path]:
    """(float model, TensorFlow's int8 model with int8 input and output) of a Keras application."""
    key = hashlib.sha256((inspect.getsource(sys.modules[__name__]) + modelzoo._versions_tag()).encode())
    base = modelzoo.cache_dir() / "quantizer" / f"{app_name}-{input_size}-{key.hexdigest()[:12]}"
    paths = (base.with_suffix(".float.tflite"), base.with_suffix(".tf-int8.tflite"))
    if not all(p.exists() for p in paths):
        base.parent.mkdir(parents=True, exist_ok=True)
        for path, data in zip(paths, _build(app_name, input_size)):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return paths


def _build(app_name: str, input_size: int) -> tuple[bytes, bytes]:
    tf, keras, rng = modelzoo._start()
    # Logits, not the softmax: most of 1000 probabilities fall below one int8 step (1/256), which
    # would make the error measures say little.
    model = getattr(keras.applications, app_name)(weights=None, input_shape=(input_size, input_size, 3),
                                                  classifier_activation=None)
    modelzoo._make_keras_model_informative(model, rng)
    modelzoo._check_informative(model, rng)
    float_bytes = modelzoo._convert(tf.lite.TFLiteConverter.from_keras_model(model))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in calibration_data(input_size))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return float_bytes, modelzoo._convert(converter)
