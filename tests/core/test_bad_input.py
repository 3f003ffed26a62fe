"""Broken model files: one `error:` line, a non-zero exit, no traceback, no output file."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import flatbuffers
import pytest

import one_core
from one_core.circle import _generated as fb
from one_core.errors import InvalidModelError

from irbuild import tiny_mlp


def _good(tmp_path: Path) -> bytes:
    path = tmp_path / "good.circle"
    one_core.save(tiny_mlp(), path)
    return path.read_bytes()


def _repack(data: bytes, change) -> bytes:
    m = fb.ModelT.InitFromPackedBuf(bytearray(data), 0)
    change(m)
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"CIR0")
    return bytes(builder.Output())


def _set_op_input(m) -> None:
    m.subgraphs[0].operators[0].inputs[0] = 99


def _set_buffer(m) -> None:
    m.subgraphs[0].tensors[1].buffer = 1234


def _set_opcode(m) -> None:
    m.subgraphs[0].operators[1].opcodeIndex = 7


def _set_output_minus_one(m) -> None:
    m.subgraphs[0].operators[0].outputs[0] = -1


CASES = {
    "empty": (lambda good: b"", "file is too small to be a model (0 bytes)"),
    "random": (lambda good: bytes([0x3A, 0x91, 0x07, 0xFF, 0x12, 0x00, 0x5C, 0xEE]), "not a circle or TFLite model"),
    "truncated": (lambda good: good[: len(good) // 2], "corrupt"),
    "identifier": (lambda good: good[:4] + b"XYZ1" + good[8:], "file identifier b'XYZ1'"),
    "root_offset": (lambda good: struct.pack("<I", 10**6) + good[4:], "root table offset 1000000 is past the end"),
    "op_input_index": (lambda good: _repack(good, _set_op_input), "operator 0 (FULLY_CONNECTED) inputs: tensor index 99 out of range (6 tensors)"),
    "buffer_index": (lambda good: _repack(good, _set_buffer), "buffer index 1234 out of range"),
    "opcode_index": (lambda good: _repack(good, _set_opcode), "opcode index 7 out of range (2 codes)"),
    "output_minus_one": (lambda good: _repack(good, _set_output_minus_one), "outputs: tensor index -1 out of range"),
}


def _run_one(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from one_core.cli import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_file_is_rejected_by_the_reader(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    path = tmp_path / "bad.circle"
    path.write_bytes(make(_good(tmp_path)))
    with pytest.raises(InvalidModelError) as info:
        one_core.load(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", ["empty", "random", "truncated", "identifier", "root_offset", "op_input_index", "buffer_index"])
def test_broken_file_on_the_command_line(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    bad = tmp_path / "bad.circle"
    bad.write_bytes(make(_good(tmp_path)))
    out = tmp_path / "out.circle"
    result = _run_one("import", str(bad), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_missing_path(tmp_path: Path) -> None:
    result = _run_one("import", str(tmp_path / "nope.tflite"), "-o", str(tmp_path / "o.circle"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path / 'nope.tflite'}: no such file or directory\n"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.circle"
    bad.write_bytes(b"")
    result = _run_one("--debug", "inspect", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and result.stderr.rstrip().endswith("(0 bytes)")


def test_no_frontend_claims_unknown_kind(tmp_path: Path) -> None:
    other = tmp_path / "model.xyz"
    other.write_bytes(b"\0" * 32)
    result = _run_one("import", str(other), "-o", str(tmp_path / "o.circle"), cwd=tmp_path)
    assert result.returncode == 1
    assert "no installed frontend accepts this model" in result.stderr


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    from one_core.circle import writer

    def boom(*args, **kwargs):
        raise OSError("disk full")

    target = tmp_path / "m.circle"
    monkeypatch.setattr(writer.os, "replace", boom)
    with pytest.raises(OSError):
        one_core.save(tiny_mlp(), target)
    assert os.listdir(tmp_path) == []
