"""Benchmark: latency of this runtime against LiteRT, onert and onnxruntime, same run.

Batch 1, 2 threads, Keras applications converted by TensorFlow's TFLite converter (the model
zoo). Each engine runs `--warmup` times, then `--repeat` timed runs; medians are reported, with
ratios to LiteRT and the geometric mean of those ratios. onert runs in a child process (it can
crash on models it does not support; that is reported, not fatal); onnxruntime runs a tf2onnx
export of the same .tflite. Also reports the peak memory of one MobileNetV2 inference on this
runtime against its weights plus the largest set of activations alive at once.

    python benchmarks/runtime_latency.py [--models mobilenet_v2,efficientnet_b0,resnet50]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402

THREADS = 2


def _median_ms(fn: Callable[[], object], warmup: int, repeat: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _input(path: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    d = Interpreter(model_path=str(path)).get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(d["dtype"], np.integer):
        return rng.integers(-128, 128, size=tuple(d["shape"])).astype(d["dtype"])
    return rng.standard_normal(tuple(d["shape"])).astype(d["dtype"])


def bench_ours(path: Path, x: np.ndarray, warmup: int, repeat: int) -> float:
    import one_core

    session = one_core.Session(path, backend="runtime")
    return _median_ms(lambda: session.run([x]), warmup, repeat)


def bench_litert(path: Path, x: np.ndarray, warmup: int, repeat: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=THREADS)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]

    def run() -> None:
        it.set_tensor(index, x)
        it.invoke()

    return _median_ms(run, warmup, repeat)


_ONERT_CHILD = """
import sys, time, statistics, numpy as np
from onert import infer
x = np.load(sys.argv[2])
s = infer.session(sys.argv[1], backends="cpu")
for _ in range(int(sys.argv[3])): s.infer([x])
t = []
for _ in range(int(sys.argv[4])):
    a = time.perf_counter(); s.infer([x]); t.append((time.perf_counter() - a) * 1e3)
print(statistics.median(t))
"""


def bench_onert(path: Path, x: np.ndarray, warmup: int, repeat: int) -> float | str:
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "x.npy"
        np.save(feed, x)
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
        proc = subprocess.run([sys.executable, "-c", _ONERT_CHILD, str(path), str(feed), str(warmup), str(repeat)],
                              capture_output=True, text=True, timeout=1800, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
        return f"fails ({last[:60]})"
    return float(proc.stdout.strip().splitlines()[-1])


def bench_onnxruntime(path: Path, x: np.ndarray, warmup: int, repeat: int) -> float | str:
    import onnxruntime as ort

    onnx_path = path.with_suffix(".onnx")
    if not onnx_path.exists():
        proc = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(path), "--output", str(onnx_path)],
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            return "tf2onnx fails"
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return _median_ms(lambda: session.run(None, {name: x}), warmup, repeat)


_MEMORY_CHILD = """
import sys, numpy as np
import one_core
from one_core.plugin import get_plugins
from one_backend_runtime.backend import installed_kernels
def status(key):
    return int(dict(l.split(":", 1) for l in open("/proc/self/status"))[key].split()[0]) * 1024
get_plugins(); installed_kernels()
x = np.load(sys.argv[2])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
base = status("VmRSS")
s = one_core.Session(sys.argv[1], backend="runtime")
prepared = status("VmHWM")
s.run([x])
print(prepared - base, status("VmHWM") - base)
"""


def memory_report(path: Path, x: np.ndarray) -> dict[str, float]:
    import one_core

    model = one_core.load(path)
    sg = model.main
    weights = sum(t.nbytes for t in sg.tensors if t.data is not None)
    last: dict[int, int] = {}
    for i, op in enumerate(sg.operators):
        for t in (*op.inputs, *op.outputs):
            if t is not None and t.data is None:
                last[id(t)] = i
    size = {id(t): math.prod(t.shape) * (t.dtype.numpy.itemsize if t.dtype.numpy else 1) for t in sg.tensors}
    live: set[int] = {id(t) for t in sg.inputs}
    peak = 0
    for i, op in enumerate(sg.operators):
        live.update(id(t) for t in op.outputs)
        peak = max(peak, sum(size[k] for k in live))
        live = {k for k in live if last.get(k, -1) > i or k in {id(t) for t in sg.outputs}}
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "x.npy"
        np.save(feed, x)
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), str(feed)],
                              capture_output=True, text=True, timeout=600, check=True)
    prepared, total = (int(v) for v in proc.stdout.split())
    return {"weights_mb": weights / 1e6, "largest_live_activations_mb": peak / 1e6,
            "prepare_peak_growth_mb": prepared / 1e6, "peak_rss_growth_mb": total / 1e6}


def measure_engines(name: str, path: Path, x: np.ndarray, engines: dict[str, Callable], warmup: int,
                    repeat: int) -> dict[str, float | str]:
    """Median latency per engine on one model; an engine failing is a result ("fails (...)")."""
    row: dict[str, float | str] = {}
    for engine, bench in engines.items():
        try:
            row[engine] = bench(path, x, warmup, repeat)
        except Exception as exc:  # an engine failing on a model is a result, not a crash
            row[engine] = f"fails ({type(exc).__name__}: {str(exc)[:50]})"
        print(f"{name:<20} {engine:<20} {row[engine]}", file=sys.stderr)
    return row


def ratio(row: dict[str, float | str], a: str, b: str) -> float | None:
    """row[a] / row[b] when both engines ran."""
    return row[a] / row[b] if isinstance(row[a], float) and isinstance(row[b], float) else None


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(map(math.log, values)))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def cells(row: dict[str, float | str]) -> list[str]:
    return [f"{v:.1f} ms" if isinstance(v, float) else v for v in row.values()]


ENGINES = {"this runtime": bench_ours, "LiteRT": bench_litert, "onert": bench_onert, "onnxruntime": bench_onnxruntime}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,resnet50")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    zoo = {**modelzoo.KERAS_APPLICATIONS, "resnet50": modelzoo.resnet50}
    results: dict[str, dict[str, float | str]] = {}
    for name in args.models.split(","):
        path = zoo[name]()
        results[name] = measure_engines(name, path, _input(path), ENGINES, args.warmup, args.repeat)

    print(f"Batch 1, {THREADS} threads, medians of {args.repeat} runs after {args.warmup} warm-up ({machine()})\n")
    print("| model | " + " | ".join(ENGINES) + " | ours / LiteRT | ours / onert |")
    print("| --- |" + " --- |" * (len(ENGINES) + 2))
    ratios = []
    for name, row in results.items():
        r_lite, r_onert = ratio(row, "this runtime", "LiteRT"), ratio(row, "this runtime", "onert")
        if r_lite:
            ratios.append(r_lite)
        print(f"| {name} | " + " | ".join(cells(row)) + f" | {f'{r_lite:.2f}x' if r_lite else '-'} | "
              f"{f'{r_onert:.2f}x' if r_onert else '-'} |")
    if ratios:
        print(f"\nGeometric mean of ours / LiteRT: {geometric_mean(ratios):.2f}x")
    memory = memory_report(modelzoo.mobilenet_v2(), _input(modelzoo.mobilenet_v2()))
    print(f"\nMobileNetV2 memory: weights {memory['weights_mb']:.1f} MB, largest live activation set "
          f"{memory['largest_live_activations_mb']:.1f} MB; peak RSS growth: after prepare "
          f"{memory['prepare_peak_growth_mb']:.1f} MB, after one inference {memory['peak_rss_growth_mb']:.1f} MB")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "latency_ms": results, "memory": memory}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
