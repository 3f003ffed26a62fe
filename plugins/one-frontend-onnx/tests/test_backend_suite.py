"""Acceptance: the ONNX backend test suite shipped in the `onnx` package, through import + runtime.

Node cases whose tensors are all float32/float16/int8/16/32/64/uint8/bool, and every case of the
`simple`, `pytorch-converted`, `pytorch-operator` and `real` (light ResNet50, DenseNet121, ...)
folders. A case listed in backend_expected_failures.txt must fail (the list says why); every
other case must pass. A listed case that passes fails this test, so the list never goes stale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import backend_cases as bc

EXPECTED_FILE = Path(__file__).with_name("backend_expected_failures.txt")


def _expected() -> dict[str, str]:
    out = {}
    for line in EXPECTED_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(":")
            out[name.strip()] = reason.strip()
    return out


EXPECTED = _expected()
CASES = bc.selected_cases()


def test_expected_failures_name_real_cases() -> None:
    names = {c.name for c in CASES}
    assert sorted(set(EXPECTED) - names) == []
    assert all(EXPECTED.values()), "every expected failure gives its reason"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backend_case(case) -> None:
    reason = bc.check(case, bc.run_ours)
    if case.name in EXPECTED:
        assert reason is not None, f"{case.name} passes now: remove it from {EXPECTED_FILE.name}"
    else:
        assert reason is None, reason
