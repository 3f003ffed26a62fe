"""Mutated model files: the reader may only ever raise OneError."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import one_core
from one_core.circle.reader import read_model
from one_core.errors import OneError

from irbuild import quantized_tensor, tiny_mlp


def _seed_files() -> list[bytes]:
    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        m = tiny_mlp()
        m.main.add_tensor(quantized_tensor())
        for suffix in (".circle", ".tflite"):
            path = Path(tmp) / f"m{suffix}"
            one_core.save(m, path)
            seeds.append(path.read_bytes())
    return seeds


SEEDS = _seed_files()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["byte", "word", "cut", "splice"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "word" and pos + 4 <= len(data):
            value = draw(st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, len(data), len(data) - 4]))
            data[pos:pos + 4] = value.to_bytes(4, "little")
        elif kind == "cut":
            del data[pos:]
            if not data:
                break
        elif kind == "splice":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_reader_raises_only_one_error(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.circle"
    path.write_bytes(data)
    try:
        model = read_model(path)
    except OneError:
        return
    # Whatever was accepted must also be writable and read back the same.
    out = path.with_name("again.circle")
    one_core.save(model, out)
    assert one_core.ir.diff_models(model, read_model(out)) == []
