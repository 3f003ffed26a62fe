"""Benchmark: int8 per-channel error of one-quantizer against TensorFlow's own post-training
full-integer quantization, same Keras models, same calibration records, same test inputs.

For MobileNetV2 (96x96), ResNet50 (64x64) and EfficientNetB0 (96x96), informative random weights
(the model zoo): TensorFlow's converter quantizes with 8 calibration records; one-quantizer
quantizes the float .tflite with the same records (EfficientNetB0 after `-O1`, which folds its
shape arithmetic). Both int8 models run on LiteRT over `--count` held-out inputs from the
calibration records' distribution (N(0, 1), the distribution the weights were made informative
for; smooth images drive these random-weight networks far outside the calibrated ranges, where
both quantizations saturate alike); their dequantized logits are compared with the float
model's: SQNR and top-1 agreement, and (paired, on the same inputs) how many inputs only one of
the two gets right. one-quantizer runs twice: with ONE's default calibration (percentiles) and
with min/max ranges, the way TensorFlow's converter calibrates.

    python benchmarks/quantize_accuracy.py [--count 5000]   # fewer inputs cannot tell top-1 apart
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "plugins" / "one-quantizer" / "tests")]

import one_core  # noqa: E402
import one_quantizer  # noqa: E402
import qzoo  # noqa: E402

MODELS = [("MobileNetV2", 96), ("ResNet50", 64), ("EfficientNetB0", 96)]


def held_out_inputs(count: int, size: int, seed: int = 11) -> np.ndarray:
    """N(0, 1) records like the calibration ones, from another seed."""
    return np.random.default_rng(seed).standard_normal((count, 1, size, size, 3)).astype(np.float32)


def _litert_float_outputs(path: Path, xs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    ys = []
    for x in xs:
        q = np.clip(np.round(x / si) + zi, -128, 127).astype(np.int8) if si else x
        it.set_tensor(i["index"], q)
        it.invoke()
        y = it.get_tensor(o["index"]).astype(np.float32)
        ys.append((y - zo) * so if so else y)
    return np.concatenate(ys)


def _sqnr(ref: np.ndarray, approx: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - approx).astype(np.float64) ** 2)))


#: one-quantizer's calibration settings compared: ONE's default (percentiles 1 and 99 of the
#: per-record ranges) and plain min/max over the records (what TensorFlow's converter records).
MODES = {"ours": {}, "ours_minmax": {"min_percentile": 0.0, "max_percentile": 100.0}}


def measure(app: str, size: int, count: int, tmp: Path) -> dict[str, float]:
    float_path, tf_path = qzoo.keras_pair(app, size)
    paths = {"tf": tf_path}
    for label, calibration in MODES.items():
        model = one_core.load(float_path)
        if app == "EfficientNetB0":
            model = one_core.optimize(model, level="O1")
        one_quantizer.quantize(model, list(qzoo.calibration_data(size)), "int8", "channel", **calibration)
        paths[label] = one_core.save(model, tmp / f"{app}-{label}.tflite")
    xs = held_out_inputs(count, size)
    reference = _litert_float_outputs(float_path, xs)
    result: dict[str, float] = {}
    agree = {}
    for label, path in paths.items():
        y = _litert_float_outputs(path, xs)
        result[f"{label}_sqnr_db"] = _sqnr(reference, y)
        agree[label] = reference.argmax(1) == y.argmax(1)
        result[f"{label}_top1"] = float(np.mean(agree[label]))
    for label in MODES:  # paired: inputs where only one of the two picks the float model's class
        result[f"{label}_only"] = int(np.sum(agree[label] & ~agree["tf"]))
        result[f"{label}_only_tf"] = int(np.sum(agree["tf"] & ~agree[label]))
    return result


def main() -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    print(f"{args.count} held-out N(0, 1) inputs per model, int8 per channel, LiteRT runs both\n")
    print("| model | calibration | SQNR ours (dB) | SQNR TensorFlow (dB) | top-1 ours | top-1 TensorFlow "
          "| inputs only ours / only TF gets right |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    names = {"ours": "percentile 1/99 (ONE's default)", "ours_minmax": "min/max"}
    with tempfile.TemporaryDirectory() as tmp:
        for app, size in MODELS:
            r = measure(app, size, args.count, Path(tmp))
            for label in MODES:
                print(f"| {app} {size}x{size} | {names[label]} | {r[f'{label}_sqnr_db']:.2f} | {r['tf_sqnr_db']:.2f} "
                      f"| {r[f'{label}_top1']:.3f} | {r['tf_top1']:.3f} | {r[f'{label}_only']} / "
                      f"{r[f'{label}_only_tf']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
