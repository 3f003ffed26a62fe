"""`one pack`, `one inspect PKG`, `one run PKG [--check]` and the errors broken packages give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from pkgtools import assert_one_line_error, run_one

import one_core
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.packaging import open_package, pack
from one_core.tensorio import read_tensors


def test_pack_layout_and_inspect(models: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "norm.cfg"
    cfg.write_text("BACKENDS=cpu\n# a comment\n")
    out = tmp_path / "out"
    result = run_one("pack", models["norm"], "-o", out, "--config", cfg)
    assert result.returncode == 0, result.stderr
    pkg = out / "norm"  # named after the model, as ONE's one-pack does
    assert result.stdout == f"{pkg}: 1 model(s), MANIFEST 1.3.0, inputs x, outputs h\n"
    assert sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*")) == [
        "metadata", "metadata/MANIFEST", "metadata/norm.cfg", "norm.circle"]
    assert (pkg / "norm.circle").read_bytes() == models["norm"].read_bytes()
    assert json.loads((pkg / "metadata/MANIFEST").read_text()) == {
        "major-version": "1", "minor-version": "3", "patch-version": "0",
        "configs": ["norm.cfg"], "models": ["norm.circle"], "model-types": ["circle"]}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # staging directory renamed away

    text = run_one("inspect", pkg)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(
        f"Package: {pkg}\n  MANIFEST 1.3.0\n  model 0: norm.circle (circle)\n"
        "  config metadata/norm.cfg: BACKENDS=cpu\n"
        "  input 0:0:0 'x': FLOAT32 [1, 2, 8]\n  output 0:0:0 'h': FLOAT32 [1, 2, 8]\n  test data: none\n\n"
        "=== model 0: norm.circle (circle) ===\n")
    model_text = run_one("inspect", models["norm"]).stdout
    assert model_text.split("\n", 1)[1] in text.stdout  # the same summary `one inspect MODEL` gives
    desc = json.loads(run_one("inspect", pkg, "--json").stdout)
    assert desc["manifest"]["models"] == ["norm.circle"] and desc["configs"] == {"norm.cfg": {"BACKENDS": "cpu"}}
    assert desc["models"][0]["model"]["subgraphs"][0]["operators"][0]["type"] == "RMS_NORM"
    assert desc["inputs"] == [{"name": "x", "ref": "0:0:0", "dtype": "FLOAT32", "shape": [1, 2, 8]}]

    ran = run_one("run", pkg)
    assert ran.returncode == 0 and ran.stdout.startswith("h: float32 [1, 2, 8]  min ")
    assert ran.stdout == run_one("run", models["norm"]).stdout  # same seeded inputs, same outputs


def test_pack_replaces_a_package_but_nothing_else(models: dict[str, Path], tmp_path: Path) -> None:
    first = pack([models["norm"]], tmp_path, name="p")
    marker = first / "old-file"
    marker.write_text("x")
    assert pack([models["join"]], tmp_path, name="p") == first
    assert not marker.exists() and (first / "join.circle").is_file() and not (first / "norm.circle").exists()
    (tmp_path / "plain").mkdir()
    result = run_one("pack", models["norm"], "-o", tmp_path, "--name", "plain")
    assert_one_line_error(result, f"{tmp_path / 'plain'}: exists and is not an nnpackage; not overwriting it")
    assert list((tmp_path / "plain").iterdir()) == []


def test_pack_errors(models: dict[str, Path], tmp_path: Path) -> None:
    cases = [
        (["pack", tmp_path / "none.circle", "-o", tmp_path], f"{tmp_path / 'none.circle'}: no such file"),
        (["pack", models["norm"], models["join"], "-o", tmp_path, "--connect", "0:0:0"],
         "--connect '0:0:0': expected FROM=TO[,TO...]"),
        (["pack", models["norm"], "-o", tmp_path, "--connect", "0:0:0=1:0:0"], "model-connect needs two or more models"),
        (["pack", models["norm"], models["join"], "-o", tmp_path, "--connect", "0:0:0=1:0:5"],
         "model-connect[0].to[0] 1:0:5: subgraph 0 of model 1 (join.circle) has 2 input(s), no input 5"),
        (["pack", models["norm"], models["join"], "-o", tmp_path, "--pkg-input", "0:0:0"],
         "input 1:0:0 ('a') of model 1 (join.circle) is fed by neither pkg-inputs nor model-connect"),
        (["pack", models["norm"], "-o", tmp_path, "--seed", "3"], "--seed and --backend only apply with --with-test-data"),
    ]
    for args, message in cases:
        assert_one_line_error(run_one(*args), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]  # nothing written


def test_test_data_and_check(models: dict[str, Path], tmp_path: Path) -> None:
    result = run_one("pack", models["norm"], "-o", tmp_path / "out", "--with-test-data", "--seed", "7")
    assert result.returncode == 0, result.stderr
    pkg = tmp_path / "out" / "norm"
    assert result.stdout.endswith(", test data metadata/tc/{input,expected}.h5\n")
    with h5py.File(pkg / "metadata/tc/input.h5") as f:  # ONE's layout: value/0..n-1 (names in name/)
        assert list(f["value"]) == ["0"] and f["name/0"][()] == b"x"
    (x,) = read_tensors(pkg / "metadata/tc/input.h5", ["x"])
    (want,) = read_tensors(pkg / "metadata/tc/expected.h5", ["h"])
    got = one_core.Session(models["norm"]).run([x])["h"]
    np.testing.assert_array_equal(got, want)
    assert np.abs(x).max() > 0.5  # N(0, 1) inputs, not zeros

    check = run_one("run", pkg, "--check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("h: ok (max abs diff 0 <= ")

    with h5py.File(pkg / "metadata/tc/expected.h5", "r+") as f:
        data = f["value/0"][()]
        data[0, 1, 3] += 0.5
        f["value/0"][...] = data
    bad = run_one("run", pkg, "--check")
    assert bad.returncode == 1
    assert bad.stdout.startswith("h: MISMATCH (max abs diff 0.5 at [0, 1, 3] > tolerance ")
    assert bad.stderr == f"error: {pkg}: 1 of 1 output(s) differ from metadata/tc/expected.h5: h\n"
    loose = run_one("run", pkg, "--check", "--rtol", "0.5")
    assert loose.returncode == 0 and loose.stdout.startswith("h: ok")

    assert_one_line_error(run_one("run", models["norm"], "--check"), "--check needs an nnpackage with metadata/tc/")
    assert_one_line_error(run_one("run", pkg, "--check", "--input", pkg / "metadata/tc/input.h5"), "leave out --input")


def _int_model() -> Model:
    m = Model()
    sg = m.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.INT32, (1, 2, 3)))
    perm = sg.add_tensor(Tensor("perm", DType.INT32, (3,), data=np.array([0, 2, 1], np.int32)))
    y = sg.add_tensor(Tensor("y", DType.INT32, (1, 3, 2)))
    sg.add_operator(Operator("TRANSPOSE", [x, perm], [y]))
    sg.inputs, sg.outputs = [x], [y]
    return m


def test_check_integers_exactly(tmp_path: Path) -> None:
    src = tmp_path / "int.circle"
    one_core.save(_int_model(), src)
    x = np.arange(6, dtype=np.int32).reshape(1, 2, 3)
    want = x.transpose(0, 2, 1).copy()
    pkg = pack([src], tmp_path, name="ints", test_data=({"x": x}, [want]))
    assert run_one("run", pkg, "--check").stdout.startswith("y: ok (6 values equal)")
    want[0, 2, 1] += 1
    pkg = pack([src], tmp_path, name="ints", test_data=({"x": x}, [want]))
    bad = run_one("run", pkg, "--check", "--rtol", "1")  # the tolerance is for floats only
    assert bad.returncode == 1 and bad.stdout.startswith("y: MISMATCH (1 of 6 values differ, first at [0, 2, 1]: 5 vs 6)")


def _broken(pkg: Path, kind: str) -> str:
    manifest = pkg / "metadata/MANIFEST"
    data = json.loads(manifest.read_text())
    if kind == "missing MANIFEST":
        manifest.unlink()
        return f"{pkg}: not an nnpackage: metadata/MANIFEST is missing"
    if kind == "bad JSON":
        manifest.write_text('{"models": ["norm.circle"],')
        return f"{pkg}: metadata/MANIFEST: not valid JSON (Expecting property name"
    if kind == "missing model":
        (pkg / "norm.circle").unlink()
        return f"{pkg}: model 'norm.circle' listed in metadata/MANIFEST is missing"
    if kind == "unknown model type":
        data["model-types"] = ["onnx"]
    elif kind == "IO out of range":
        data["models"].append("norm.circle")
        data["model-types"].append("circle")
        data.update({"pkg-inputs": ["0:0:0"], "pkg-outputs": ["1:0:1"], "model-connect": [{"from": "0:0:0", "to": ["1:0:0"]}]})
    elif kind == "missing config":
        data["configs"] = ["gone.cfg"]
    elif kind == "model outside":
        data["models"] = ["link.circle"]
        (pkg / "link.circle").symlink_to(pkg.parent / "elsewhere.circle")
        shutil.copyfile(pkg / "norm.circle", pkg.parent / "elsewhere.circle")
    elif kind == "corrupt model":
        (pkg / "norm.circle").write_bytes(b"\0" * 64)
    manifest.write_text(json.dumps(data))
    return {
        "unknown model type": f"{pkg}: metadata/MANIFEST: model-types[0] 'onnx' for norm.circle is not a known model type",
        "IO out of range": f"{pkg}: metadata/MANIFEST: pkg-outputs[0] 1:0:1: subgraph 0 of model 1 (norm.circle) has "
                           "1 output(s), no output 1",
        "missing config": f"{pkg}: config 'metadata/gone.cfg' listed in metadata/MANIFEST is missing",
        "model outside": f"{pkg}: model 'link.circle' points outside the package",
        "corrupt model": f"{pkg}: model 'norm.circle': ",
    }[kind]


BROKEN = ["missing MANIFEST", "bad JSON", "missing model", "unknown model type", "IO out of range", "missing config",
          "model outside", "corrupt model"]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_packages_give_one_line_errors(models: dict[str, Path], tmp_path: Path, kind: str) -> None:
    pkg = pack([models["norm"]], tmp_path / "out")
    message = _broken(pkg, kind)
    for command in ("run", "inspect"):
        assert_one_line_error(run_one(command, pkg), f"error: {message}")
    with pytest.raises(one_core.OneError) as info:
        open_package(pkg)
    assert str(info.value).startswith(message)
