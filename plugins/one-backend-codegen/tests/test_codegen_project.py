"""The generated project itself: it builds with its own Makefile and CMakeLists.txt under the
strict flags, its example program reproduces the runtime's outputs from raw files, weights work
compiled in and as a checked blob, and bad requests stop before anything is written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import modelzoo
import numpy as np
import pytest
from click.testing import CliRunner
from irbuild import tiny_mlp

import one_core
from one_core.cli import cli as cli_main
from one_core.errors import InputError, UnsupportedOperatorError
from one_core.ir import DType, Operator, Tensor
from one_backend_codegen import generate
from one_backend_codegen.arena import ArenaPlanner


def _reference(model, xs):
    s = one_core.Session(model, backend="runtime")
    out = s.run(xs)
    return [out[o.name] for o in s.outputs]


def _run_main(folder: Path, name: str, xs, outputs, extra=()) -> subprocess.CompletedProcess:
    ins = []
    for i, x in enumerate(xs):
        ins.append(folder / f"in{i}.raw")
        np.ascontiguousarray(x).tofile(ins[-1])
    outs = [folder / f"out{i}.raw" for i in range(len(outputs))]
    return subprocess.run([str(folder / f"{name}_main"), *extra, *map(str, ins), *map(str, outs)],
                          capture_output=True, text=True, cwd=folder)


@pytest.mark.parametrize("inline_limit", [1 << 20, 0], ids=["weights-compiled-in", "weights-blob"])
def test_example_program_reproduces_runtime(tmp_path: Path, inline_limit: int) -> None:
    model = one_core.load(modelzoo.small_float_model())
    project = generate(model, "small", inline_limit=inline_limit)
    assert (project.blob is None) == (inline_limit > 0)
    folder = project.write(tmp_path / "small")
    assert (folder / "small_weights.c").exists() == (inline_limit > 0)
    assert (folder / "small.weights").exists() == (inline_limit == 0)
    header = (folder / "small.h").read_text()
    assert f"#define SMALL_ARENA_SIZE {project.arena_size}u" in header
    build = subprocess.run(["make", "-s"], cwd=folder, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert "-Werror -pedantic" in (folder / "Makefile").read_text()
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(t[2]).astype(t[1]) for t in project.inputs]
    done = _run_main(folder, "small", xs, project.outputs)
    assert done.returncode == 0, done.stderr
    for (name, dtype, shape), want in zip(project.outputs, _reference(model, xs)):
        got = np.fromfile(folder / "out0.raw", dtype).reshape(shape)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_blob_of_another_model_is_refused(tmp_path: Path) -> None:
    model = one_core.load(modelzoo.small_float_model())
    folder = generate(model, "small", inline_limit=0).write(tmp_path / "small")
    assert subprocess.run(["make", "-s"], cwd=folder, capture_output=True).returncode == 0
    blob = bytearray((folder / "small.weights").read_bytes())
    blob[8] ^= 0xFF  # the digest no longer matches the code
    (folder / "bad.weights").write_bytes(bytes(blob))
    xs = [np.zeros((1, 8, 8, 3), np.float32)]
    done = _run_main(folder, "small", xs, [None], extra=["-w", "bad.weights"])
    assert done.returncode == 1 and "not this model's weight file" in done.stderr
    (folder / "short.weights").write_bytes(bytes(blob[:-4]))
    done = _run_main(folder, "small", xs, [None], extra=["-w", "short.weights"])
    assert done.returncode == 1 and "expected exactly" in done.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_build(tmp_path: Path) -> None:
    model = one_core.load(modelzoo.small_float_model())
    folder = generate(model, "small").write(tmp_path / "src")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(folder), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic"],
                ["cmake", "--build", str(build)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    assert (build / "small_main").exists() and (build / "libsmall.a").exists()


def test_dynamic_inputs_need_static_shapes(tmp_path: Path) -> None:
    model = tiny_mlp()
    with pytest.raises(InputError, match=r"input 'x' has dynamic dimensions \[-1, 4\].*--input_shapes"):
        generate(model, "mlp")
    project = generate(model, "mlp", [(3, 4)])
    assert project.inputs[0][2] == (3, 4) and project.outputs[0][2] == (3, 3)
    with pytest.raises(InputError, match=r"input 'x': shape \[3, 5\] does not fit \[-1, 4\]"):
        generate(model, "mlp", [(3, 5)])


def test_session_generates_per_input_shape() -> None:
    model = tiny_mlp()
    assert one_core.Session(model).backend == "runtime"  # c is never the default beside it
    session = one_core.Session(model, backend="c")
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        got = session.run({"x": x})["y"]
        np.testing.assert_allclose(got, _reference(model, [x])[0], rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="input 'x': dtype float64"):
        session.run({"x": np.zeros((1, 4))})


def _unsupported_model():
    model = tiny_mlp()
    sg = model.main
    y = sg.outputs[0]
    z = sg.add_tensor(Tensor("z", DType.FLOAT32, (1, 3)))
    w = sg.add_tensor(Tensor("w2", DType.FLOAT32, (1, 3)))
    sg.add_operator(Operator("CUSTOM", [y], [z], custom_code="MyOp"))
    sg.add_operator(Operator("CUMSUM", [z, sg.add_tensor(Tensor("axis", DType.INT32, (), data=np.array(1, np.int32)))],
                             [w]))
    sg.outputs = [w]
    return model


def test_unsupported_operators_listed_and_nothing_written(tmp_path: Path) -> None:
    model = _unsupported_model()
    with pytest.raises(UnsupportedOperatorError) as info:
        generate(model, "bad", [(1, 4)])
    assert "MyOp" in str(info.value) and "CUMSUM" in str(info.value)
    path = tmp_path / "bad.circle"
    one_core.save(model, path)
    result = CliRunner().invoke(cli_main, ["codegen", str(path), "-o", str(tmp_path / "out"),
                                           "--input_shapes", "1,4"])
    assert result.exit_code != 0
    assert "MyOp" in result.output and "CUMSUM" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_writes_project(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    result = CliRunner().invoke(cli_main, ["codegen", str(modelzoo.small_float_model()), "-o", str(out),
                                           "--name", "net"])
    assert result.exit_code == 0, result.output
    assert "arena" in result.output
    assert {p.name for p in out.iterdir()} >= {"net.h", "net.c", "net_weights.c", "main.c", "Makefile",
                                              "CMakeLists.txt", "kernels"}
    assert sorted(p.name for p in (out / "kernels").iterdir()) == ["conv_f32.c", "conv_f32.h", "one_common.h"]
    outs = {}
    for backend in ("c", "runtime"):  # same seeded random inputs on both
        outs[backend] = tmp_path / f"{backend}.npz"
        ran = CliRunner().invoke(cli_main, ["run", str(modelzoo.small_float_model()), "--backend", backend,
                                            "--output", str(outs[backend])])
        assert ran.exit_code == 0, ran.output
    with np.load(outs["c"]) as got, np.load(outs["runtime"]) as want:
        assert set(got) == set(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5 * np.abs(want[k]).max())
    missing = CliRunner().invoke(cli_main, ["codegen", str(tmp_path / "nope.tflite"), "-o", str(out)])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_arena_plan_shares_memory_only_between_disjoint_lifetimes() -> None:
    planner = ArenaPlanner()
    sizes = {1: 1000, 2: 500, 3: 800, 4: 300, 5: 1000}
    lives = {1: (0, 1), 2: (1, 2), 3: (2, 3), 4: (0, 3), 5: (3, 4)}
    for k, (first, last) in lives.items():
        planner.define(k, sizes[k], first)
        planner.use(k, last)
    plan = planner.plan()
    for a in sizes:
        for b in sizes:
            if a < b and lives[a][0] <= lives[b][1] and lives[b][0] <= lives[a][1]:
                ra = range(plan.offsets[a], plan.offsets[a] + sizes[a])
                rb = range(plan.offsets[b], plan.offsets[b] + sizes[b])
                assert not set(ra) & set(rb), (a, b)
    assert plan.size < sum(sizes.values())
