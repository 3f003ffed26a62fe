"""Benchmark: latency of generated C against the runtime back end, LiteRT and onert, same run.

Batch 1, Keras applications from the model zoo. The generated C is built with
-O3 -march=native, once single-threaded (as on a device) and once with -fopenmp on 2 threads
(generated with scratch for 2 threads; matrix products, depthwise rows and 8-bit row blocks are
OpenMP loops); LiteRT runs with num_threads=2 (XNNPACK), onert with
backend cpu, the runtime back end as in runtime_latency.py. Medians of `--repeat` runs after
`--warmup`. Also reports, per model, the generated arena next to the runtime's largest live
activation set, the library's code size (.text) and the weights' size.

    python benchmarks/codegen_latency.py [--models mobilenet_v2,efficientnet_b0,resnet50,mobilenet_v2_int8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_latency as rl  # noqa: E402
from runtime_latency import modelzoo  # noqa: E402

FLAGS = "-std=c99 -O3 -march=native -Wall -Wextra -Werror -pedantic -fPIC"
MODELS = {**modelzoo.KERAS_APPLICATIONS, "resnet50": modelzoo.resnet50}


def _generated(path: Path, flags: str):
    import one_core
    from one_backend_codegen import generate
    from one_backend_codegen.backend import _Library
    from one_backend_codegen.build import build_shared

    model = one_core.load(path)
    threads = int(os.environ["OMP_NUM_THREADS"]) if "-fopenmp" in flags else 1  # scratch per thread
    project = generate(model, "bench", [tuple(t.shape) for t in model.main.inputs], threads=threads)  # batch 1
    return project, _Library(project, flags), build_shared(project, flags)


def bench_c(path: Path, x, warmup: int, repeat: int, flags: str) -> float:
    _, lib, _ = _generated(path, flags)
    return rl._median_ms(lambda: lib.run([x]), warmup, repeat)


def sizes(path: Path) -> dict[str, float]:
    project, _, so = _generated(path, FLAGS)
    text = subprocess.run(["size", "-A", str(so)], capture_output=True, text=True).stdout
    code = sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(".text"))
    memory = rl.memory_report(path, rl._input(path))
    return {"arena_mb": project.arena_size / 1e6, "runtime_live_activations_mb": memory["largest_live_activations_mb"],
            "runtime_peak_rss_growth_mb": memory["peak_rss_growth_mb"], "code_kb": code / 1e3,
            "weights_mb": project.weights_size / 1e6}


ENGINES = {
    "C, 1 thread": lambda p, x, w, r: bench_c(p, x, w, r, FLAGS),
    "C, OpenMP 2 threads": lambda p, x, w, r: bench_c(p, x, w, r, FLAGS + " -fopenmp"),
    "runtime": rl.bench_ours,
    "LiteRT": rl.bench_litert,
    "onert": rl.bench_onert,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,resnet50,mobilenet_v2_int8")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, dict[str, float | str]] = {}
    memory: dict[str, dict[str, float]] = {}
    for name in args.models.split(","):
        path = MODELS[name]()
        results[name] = rl.measure_engines(name, path, rl._input(path), ENGINES, args.warmup, args.repeat)
        memory[name] = sizes(path)

    print(f"Batch 1, medians of {args.repeat} runs after {args.warmup} warm-up ({rl.machine()})\n")
    print("| model | " + " | ".join(ENGINES) + " | C 2t / LiteRT | C 2t / onert | C 1t / onert |")
    print("| --- |" + " --- |" * (len(ENGINES) + 3))
    ratios: dict[str, list[float]] = {"C, 1 thread": [], "C, OpenMP 2 threads": []}
    for name, row in results.items():
        for engine, found in ratios.items():
            r = rl.ratio(row, engine, "LiteRT")
            if r:
                found.append(r)
        shown = [rl.ratio(row, "C, OpenMP 2 threads", "LiteRT"), rl.ratio(row, "C, OpenMP 2 threads", "onert"),
                 rl.ratio(row, "C, 1 thread", "onert")]
        print(f"| {name} | " + " | ".join(rl.cells(row)) + " | "
              + " | ".join(f"{r:.2f}x" if r else "-" for r in shown) + " |")
    for engine, rs in ratios.items():
        if rs:
            print(f"\nGeometric mean of {engine} / LiteRT: {rl.geometric_mean(rs):.2f}x")
    print("\n| model | arena | runtime's largest live activations | runtime peak RSS growth | code (.text) | weights |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, m in memory.items():
        print(f"| {name} | {m['arena_mb']:.2f} MB | {m['runtime_live_activations_mb']:.2f} MB | "
              f"{m['runtime_peak_rss_growth_mb']:.1f} MB | {m['code_kb']:.0f} kB | {m['weights_mb']:.1f} MB |")
    if args.json:
        args.json.write_text(json.dumps({"machine": rl.machine(), "latency_ms": results, "sizes": memory}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
