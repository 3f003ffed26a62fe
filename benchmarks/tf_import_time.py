"""Benchmark: `one_core.load` of TensorFlow models next to TensorFlow's bare TFLite converter.

For each model (Keras applications with weights=None, float32), in one process, alternating:
  * bare: the converter alone, as a user would call it (`from_keras_model(model).convert()`,
    `from_saved_model(dir).convert()`, `from_frozen_graph(...).convert()` / `from_keras_model` on
    the loaded `.keras` file), producing TFLite bytes;
  * ours: `one_core.load(source)` (converter + reading into the circle IR + checks).
The median of --repeat runs of each (who goes first alternates), and our overhead in percent.
Target (issue 4): <= 10 %.
Prints a Markdown table; `--json FILE` also writes the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402

MODELS = {"MobileNetV2": 96, "ResNet50": 64, "EfficientNetB0": 64, "InceptionV3": 75}


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        gc.collect()  # garbage of the previous run is not charged to this one
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            fn()
        out.append(time.perf_counter() - start)
    return out


def _cases(tf, keras, one_core, model, saved: Path, keras_file: Path) -> dict:
    """(bare converter, ours) callables per source kind."""
    return {
        "keras.Model": (lambda: tf.lite.TFLiteConverter.from_keras_model(model).convert(),
                        lambda: one_core.load(model)),
        "SavedModel": (lambda: tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert(),
                       lambda: one_core.load(saved)),
        ".keras": (lambda: tf.lite.TFLiteConverter.from_keras_model(
                       keras.models.load_model(keras_file, compile=False)).convert(),
                   lambda: one_core.load(keras_file)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sources", default="keras.Model,SavedModel,.keras")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import one_core

    tf, keras, rng = modelzoo._start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            size = MODELS[name]
            keras.backend.clear_session()
            model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
            saved = Path(tmp) / f"{name}_saved"
            with contextlib.redirect_stdout(io.StringIO()):
                model.export(saved, verbose=False)
                keras_file = Path(tmp) / f"{name}.keras"
                model.save(keras_file)
            cases = _cases(tf, keras, one_core, model, saved, keras_file)
            for kind, (bare, ours) in cases.items():
                if kind not in args.sources.split(","):
                    continue
                timed(ours, 1)  # warm up both paths once (first traces, imports)
                timed(bare, 1)
                t_bare, t_ours = [], []
                for i in range(args.repeat):  # alternate, and swap who goes first, so drifts hit both alike
                    if i % 2:
                        t_ours += timed(ours, 1)
                        t_bare += timed(bare, 1)
                    else:
                        t_bare += timed(bare, 1)
                        t_ours += timed(ours, 1)
                b, o = statistics.median(t_bare), statistics.median(t_ours)
                rows.append({"model": f"{name} {size}x{size}", "source": kind, "bare_s": b, "ours_s": o,
                             "overhead_pct": 100.0 * (o - b) / b})
                print(f"{name:15} {kind:12} bare {b:6.2f} s  ours {o:6.2f} s  {100 * (o - b) / b:+5.1f} %",
                      file=sys.stderr)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat}\n")
    print("| model | source | TFLite converter alone | one_core.load | overhead |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['source']} | {r['bare_s']:.2f} s | {r['ours_s']:.2f} s | {r['overhead_pct']:+.1f} % |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
