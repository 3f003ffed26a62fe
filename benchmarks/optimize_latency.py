"""Benchmark: what `-O1` buys at run time, and what it costs.

For each model of the zoo (the TFLite conversion and the tf2onnx export, imported with
`one_core.load`): runtime latency (batch 1, median and minimum of `--repeat` runs after
`--warmup`; the two models are timed in alternation) before and after `one_core.optimize(level="O1")`, the
operator counts before and after, and the optimizer's own run time (median of
`--optimize-repeat` runs on fresh copies).

    python benchmarks/optimize_latency.py [--models mobilenet_v2,efficientnet_b0,resnet50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402
from runtime_latency import _median_ms  # noqa: E402

#: Zoo name -> Keras application name (for the tf2onnx export).
KERAS_NAMES = {"mobilenet_v2": "MobileNetV2", "efficientnet_b0": "EfficientNetB0", "resnet50": "ResNet50"}


def _interleaved_ms(sessions: list, x: np.ndarray, warmup: int, repeat: int) -> list[tuple[float, float]]:
    """(median, minimum) latency of each session, timed in alternation so that load from
    other processes falls on all of them alike."""
    for session in sessions:
        _median_ms(lambda s=session: s.run([x]), warmup, 1)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(repeat):
        for session, ts in zip(sessions, times):
            start = time.perf_counter()
            session.run([x])
            ts.append((time.perf_counter() - start) * 1e3)
    return [(statistics.median(ts), min(ts)) for ts in times]


def _optimize_ms(path: Path, repeat: int) -> float:
    import one_core

    times = []
    for _ in range(repeat):
        model = one_core.load(path)
        start = time.perf_counter()
        one_core.optimize(model, level="O1")
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench(path: Path, warmup: int, repeat: int, optimize_repeat: int) -> dict[str, object]:
    """Latency before and after -O1, operator counts, the optimizer's time, and the largest
    output difference relative to the output's largest magnitude."""
    import one_core
    from one_core.passes import operator_counts

    original, optimized = one_core.load(path), one_core.optimize(one_core.load(path), level="O1")
    x = np.random.default_rng(0).standard_normal(tuple(original.main.inputs[0].shape)).astype(np.float32)
    sessions = [one_core.Session(m, backend="runtime") for m in (original, optimized)]
    want, got = (s.run([x]) for s in sessions)
    (before_ms, before_min), (after_ms, after_min) = _interleaved_ms(sessions, x, warmup, repeat)
    return {
        "operators_before": sum(operator_counts(original).values()),
        "operators_after": sum(operator_counts(optimized).values()),
        "latency_before_ms": before_ms,
        "latency_after_ms": after_ms,
        "latency_before_min_ms": before_min,
        "latency_after_min_ms": after_min,
        "optimize_ms": _optimize_ms(path, optimize_repeat),
        "max_relative_difference": max(float(np.abs(got[k] - want[k]).max() / np.abs(want[k]).max()) for k in want),
    }


def _paths(name: str, size: int) -> dict[str, Path]:
    return {"tflite": getattr(modelzoo, name)(size), "onnx": modelzoo.keras_onnx(KERAS_NAMES[name], size)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--optimize-repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        for kind, path in _paths(name, args.size).items():
            rows.append({"model": name, "format": kind,
                         **bench(path, args.warmup, args.repeat, args.optimize_repeat)})
    machine = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    if args.json:
        print(json.dumps({"machine": machine, "results": rows}, indent=2))
        return 0
    print(f"machine: {machine}")
    print("| model | from | operators before | after | median before (ms) | after | minimum before (ms) | after "
          "| -O1 time (ms) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['format']} | {r['operators_before']} | {r['operators_after']} | "
              f"{r['latency_before_ms']:.1f} | {r['latency_after_ms']:.1f} | {r['latency_before_min_ms']:.1f} | "
              f"{r['latency_after_min_ms']:.1f} | {r['optimize_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
