"""Conformance: the ONNX backend node tests through `one_core.load` + the runtime backend, next to
onnxruntime on the same cases, counted per operator.

    python benchmarks/onnx_conformance.py                  # summary table, both runtimes
    python benchmarks/onnx_conformance.py --ops Conv,Gemm  # those operators only, every case listed
    python benchmarks/onnx_conformance.py --failures F     # write our failing cases with reasons (JSON)

Counted cases: every input and output is a tensor of float32, float16, int8/16/32/64, uint8 or bool.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "one-frontend-onnx" / "tests"))

import backend_cases as bc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", help="comma-separated operator types to run (default: all)")
    parser.add_argument("--kind", default="node", help="node, simple, pytorch-converted, pytorch-operator")
    parser.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    parser.add_argument("--all-types", action="store_true", help="also cases with other element types")
    parser.add_argument("--failures", type=Path, help="write our failures {case: reason} as JSON")
    args = parser.parse_args()

    wanted = set(args.ops.split(",")) if args.ops else None
    cases = [c for c in bc.load_cases(args.kind) if args.all_types or bc.counted(c)]
    if wanted:
        cases = [c for c in cases if bc.operator_of(c) in wanted]
    per_op: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    failures = {}
    for case in cases:
        op = bc.operator_of(case)
        ours = bc.check(case, bc.run_ours)
        theirs = None if args.no_ort else bc.check(case, bc.run_onnxruntime)
        row = per_op[op]
        row[0] += 1
        row[1] += ours is None
        row[2] += theirs is None
        if ours is not None:
            failures[case.name] = ours
        if wanted:
            print(f"{case.name:60} ours: {'pass' if ours is None else ours}"
                  + ("" if args.no_ort else f"   ort: {'pass' if theirs is None else 'FAIL'}"))
    total = [sum(r[i] for r in per_op.values()) for i in range(3)]
    if not wanted:
        print("| operator | cases | ours | onnxruntime |\n| --- | ---: | ---: | ---: |")
        for op, (n, a, b) in sorted(per_op.items()):
            print(f"| {op} | {n} | {a} | {'-' if args.no_ort else b} |")
    print(f"\n{args.kind} cases: {total[0]}, ours pass {total[1]}"
          + ("" if args.no_ort else f", onnxruntime passes {total[2]}"))
    if args.failures:
        args.failures.write_text(json.dumps(failures, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
