"""onecc's one-codegen step with `backend=c`: `command` holds `one codegen`'s arguments, as
onecc hands them to BACKEND-compile; the generated project builds and reproduces the runtime."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import modelzoo
import numpy as np
import pytest

import one_core
from one_core.build import build
from one_core.errors import InputError

STEPS = {
    "one-import-tflite": {"input_path": "small.tflite", "output_path": "small.circle"},
    "one-optimize": {"input_path": "small.circle", "output_path": "small.opt.circle", "O1": "True"},
    "one-codegen": {"backend": "c", "command": "-o out/net --name net small.opt.circle"},
}
CFG = "[onecc]\n" + "".join(f"{step}=True\n" for step in STEPS) + "".join(
    f"\n[{step}]\n" + "".join(f"{k}={v}\n" for k, v in keys.items()) for step, keys in STEPS.items())


def test_import_optimize_codegen(tmp_path: Path, monkeypatch) -> None:
    shutil.copy(modelzoo.small_float_model(), tmp_path / "small.tflite")
    (tmp_path / "x.cfg").write_text(CFG)
    monkeypatch.chdir(tmp_path)
    lines = build(tmp_path / "x.cfg")
    assert lines[-1].startswith("one-codegen: out/net: arena ")
    folder = tmp_path / "out" / "net"
    assert subprocess.run(["make", "-s"], cwd=folder, capture_output=True).returncode == 0
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype(np.float32)
    x.tofile(folder / "x.raw")
    done = subprocess.run(["./net_main", "x.raw", "y.raw"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    want = next(iter(one_core.Session(tmp_path / "small.opt.circle").run([x]).values()))
    got = np.fromfile(folder / "y.raw", np.float32).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("old, new, message", [
    ("backend=c", "backend=runtime",
     "x.cfg [one-codegen]: backend 'runtime' does not generate code (code generators installed: c)"),
    ("--name net", "--nme net", "x.cfg [one-codegen]: command: No such option '--nme'. Did you mean '--name'?"),
    ("net small.opt.circle", "net other.circle", "input other.circle: no such file or directory"),
])
def test_errors_stop_before_anything_runs(tmp_path: Path, monkeypatch, old: str, new: str, message: str) -> None:
    shutil.copy(modelzoo.small_float_model(), tmp_path / "small.tflite")
    (tmp_path / "x.cfg").write_text(CFG.replace(old, new))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as info:
        build(tmp_path / "x.cfg")
    assert message in str(info.value)
    assert not (tmp_path / "small.circle").exists()
