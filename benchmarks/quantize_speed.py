"""Benchmark: calibration throughput (records per second) and quantization time of the quantizer,
on Keras MobileNetV2 (tests/modelzoo.py, float32 .tflite), next to one plain inference on the
runtime (what each calibration record costs at least).

    python benchmarks/quantize_speed.py [--size 224] [--records 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--records", type=int, default=32)
    args = parser.parse_args()

    import one_core
    import one_quantizer

    path = modelzoo.mobilenet_v2(args.size)
    rng = np.random.default_rng(0)
    records = [[rng.standard_normal((1, args.size, args.size, 3)).astype(np.float32)] for _ in range(args.records)]

    session = one_core.Session(one_core.load(path))
    session.run(records[0])
    start = time.perf_counter()
    for r in records:
        session.run(r)
    inference = (time.perf_counter() - start) / len(records)

    model = one_core.load(path)
    start = time.perf_counter()
    one_quantizer.calibrate(model, records)
    calibration = time.perf_counter() - start
    start = time.perf_counter()
    one_quantizer.quantize_with_minmax(model, dtype="int8", granularity="channel")
    quantization = time.perf_counter() - start

    print(f"MobileNetV2 {args.size}x{args.size}, {args.records} records; {platform.machine()}, "
          f"{os.cpu_count()} CPUs\n")
    print("| step | time | rate |\n| --- | ---: | ---: |")
    print(f"| inference alone (runtime) | {inference * 1000:.1f} ms / record | {1 / inference:.1f} records/s |")
    print(f"| calibration (record-minmax, every activation kept) | {calibration:.2f} s | "
          f"{args.records / calibration:.1f} records/s |")
    print(f"| quantization (int8, per channel) | {quantization:.2f} s | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
