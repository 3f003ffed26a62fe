"""MobileNetV2 (96x96, informative weights) int8 per channel: LiteRT equals our runtime
exactly, and the error against the float model is close to TensorFlow's own int8 quantization
of the same Keras model with the same calibration records."""

from __future__ import annotations

import numpy as np

import one_core
import one_quantizer
import qzoo
from qharness import check_exact, run_litert, sqnr_db

SIZE = 96


def _dequantized_outputs(path, xs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Float outputs of an int8-I/O model (run on LiteRT) and the quantized inputs it was given."""
    model = one_core.load(path)
    qin, qout = model.main.inputs[0].quantization, model.main.outputs[0].quantization
    qs = [np.clip(np.round(x / qin.scale[0]) + qin.zero_point[0], -128, 127).astype(np.int8) for x in xs]
    ys = [(run_litert(path, [q], reference=False)[0].astype(np.float32) - qout.zero_point[0]) * qout.scale[0]
          for q in qs]
    return np.concatenate(ys), qs


def test_mobilenet_v2_int8_per_channel(tmp_path, record_property):
    float_path, tf_path = qzoo.keras_pair("MobileNetV2", SIZE)
    model = one_core.load(float_path)
    one_quantizer.quantize(model, list(qzoo.calibration_data(SIZE)), "int8", "channel")
    ours = one_core.save(model, tmp_path / "mobilenet_v2-int8.tflite")

    xs = np.random.default_rng(3).standard_normal((12, 1, SIZE, SIZE, 3)).astype(np.float32)
    session = one_core.Session(float_path)
    reference = np.concatenate([session.run([x])[session.outputs[0].name] for x in xs])
    ours_y, ours_q = _dequantized_outputs(ours, xs)
    tf_y, _ = _dequantized_outputs(tf_path, xs)
    check_exact(ours, inputs=[ours_q[0]])

    ours_sqnr, tf_sqnr = sqnr_db(reference, ours_y), sqnr_db(reference, tf_y)
    ours_top1 = float(np.mean(reference.argmax(1) == ours_y.argmax(1)))
    tf_top1 = float(np.mean(reference.argmax(1) == tf_y.argmax(1)))
    for key, value in (("ours_sqnr_db", ours_sqnr), ("tf_sqnr_db", tf_sqnr), ("ours_top1", ours_top1),
                       ("tf_top1", tf_top1)):
        record_property(key, round(value, 3))
    print(f"SQNR ours {ours_sqnr:.2f} dB, TensorFlow {tf_sqnr:.2f} dB; top-1 ours {ours_top1}, TF {tf_top1}")
    assert ours_sqnr >= tf_sqnr - 3.0
    assert ours_top1 >= tf_top1 - 0.25
