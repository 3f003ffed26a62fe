"""Benchmark: importing the Keras ResNet50 exported by tf2onnx (224x224, 102 MB), wall time and
peak memory, ours (`one import`, ONNX -> circle) next to onnx2tf (ONNX -> TensorFlow -> .tflite).

Each tool runs in its own process, measured from outside (wall clock; peak resident set size of
the child from getrusage). onnx2tf needs TensorFlow and a dozen helper packages with pins of their
own, so it lives in a separate virtual environment: pass its `onnx2tf` executable with --onnx2tf.

    python benchmarks/onnx_import.py [--repeat 3] [--onnx2tf /path/to/venv/bin/onnx2tf]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `cmd` run in a fresh process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
            "w = time.perf_counter() - t; "
            "sys.exit(r.stderr[-2000:]) if r.returncode else "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{cmd[0]} failed: {out.stderr.strip()[-2000:]}")
    wall, rss_kb = out.stdout.split()
    return float(wall), int(rss_kb) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--onnx2tf", help="the onnx2tf executable (its own virtual environment)")
    args = parser.parse_args()

    model = modelzoo.keras_onnx("ResNet50", 224)
    size_mb = model.stat().st_size / 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ours = [measure([sys.executable, "-m", "one_core", "import", str(model), "-o", f"{tmp}/r.circle"])
                for _ in range(args.repeat)]
        rows.append(("one import (ONNX -> circle)", ours))
        if args.onnx2tf:
            theirs = [measure([args.onnx2tf, "-i", str(model), "-o", f"{tmp}/o2tf", "-n"])
                      for _ in range(args.repeat)]
            rows.append(("onnx2tf (ONNX -> TensorFlow -> .tflite)", theirs))
    print(f"ResNet50 224x224 from tf2onnx, {size_mb:.0f} MB; {platform.machine()}, {os.cpu_count()} CPUs, "
          f"median of {args.repeat}\n")
    print("| tool | wall time | peak memory |\n| --- | ---: | ---: |")
    for name, runs in rows:
        print(f"| {name} | {statistics.median(r[0] for r in runs):.2f} s "
              f"| {statistics.median(r[1] for r in runs):.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
