"""Benchmark: importing and loading a ~100 MB TFLite model (Keras ResNet50).

Measures, in one run on this machine:
  * `one import resnet50.tflite -o out.circle` wall time and peak memory (a fresh process each
    time; extra memory = its peak RSS minus that of a process that only loads the same modules),
  * `one_core.load` of the .tflite in-process (zero-copy constants),
and, as references in the same run, unpacking the file with ONE's official circle-schema
bindings (flatbuffers object API) and constructing a LiteRT interpreter on it.

Targets (issue 2): import <= 1.5 s wall with <= 1.5x the file size of extra peak memory; load
< 0.3 s. Prints a Markdown table; `--json FILE` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import modelzoo  # noqa: E402

BASELINE = "import one_core, one_core.cli, numpy, flatbuffers; from one_core.plugin import get_plugins; get_plugins()"
IMPORT = "from one_core.cli import main; main()"


def child(code: str, *args: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of a fresh Python process running `code`."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {code} {args}")
    return wall, usage.ru_maxrss * 1024


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import one_core

    model = modelzoo.resnet50()
    size = model.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "resnet50.circle")
        child(IMPORT, "import", str(model), "-o", out)  # warm the page cache
        runs = [child(IMPORT, "import", str(model), "-o", out) for _ in range(args.repeat)]
        base = [child(BASELINE) for _ in range(args.repeat)]
    import_wall = statistics.median(r[0] for r in runs)
    extra = statistics.median(r[1] for r in runs) - statistics.median(b[1] for b in base)

    load = timed(lambda: one_core.load(model), args.repeat)

    from circle_schema.v0_10.circle.Model import ModelT

    data = model.read_bytes()
    official = timed(lambda: ModelT.InitFromPackedBuf(data, 0), args.repeat)

    from ai_edge_litert.interpreter import Interpreter

    litert = timed(lambda: Interpreter(model_path=str(model)), args.repeat)

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model_bytes": size,
        "one_import_wall_s": import_wall,
        "one_import_extra_peak_bytes": extra,
        "one_import_extra_peak_x_file": extra / size,
        "one_core_load_s": statistics.median(load),
        "circle_schema_unpack_s": statistics.median(official),
        "litert_interpreter_s": statistics.median(litert),
    }
    print(f"ResNet50 .tflite, {size / 1e6:.1f} MB, medians of {args.repeat} ({results['machine']})\n")
    print("| measurement | value | target |")
    print("| --- | --- | --- |")
    print(f"| `one import` wall (fresh process) | {import_wall:.2f} s | <= 1.5 s |")
    print(f"| `one import` extra peak memory | {extra / 1e6:.0f} MB ({extra / size:.2f}x file) | <= 1.5x |")
    print(f"| `one_core.load` | {results['one_core_load_s'] * 1e3:.1f} ms | < 300 ms |")
    print(f"| circle-schema `ModelT` unpack (reference) | {results['circle_schema_unpack_s'] * 1e3:.0f} ms | |")
    print(f"| LiteRT `Interpreter(model_path)` (reference) | {results['litert_interpreter_s'] * 1e3:.1f} ms | |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
