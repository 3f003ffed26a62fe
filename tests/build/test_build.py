"""`one build` runs ONE's onecc cfg and workflow files end to end (TF GraphDef, TFLite, ONNX:
import, optimize, pack), and the packages compute what the source framework computes; `one init`
writes a cfg that builds as written; mistakes stop the build with one line before it writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

import modelzoo
from references import litert_output
import one_core
from one_core.build import build


def _one(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "one_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _cfg(sections: dict[str, dict[str, str]]) -> str:
    """An onecc cfg switching on the steps of `sections`, with their keys."""
    lines = ["[onecc]", *(f"{name}=True" for name in sections)]
    for name, keys in sections.items():
        lines += ["", f"[{name}]", *(f"{k}={v}" for k, v in keys.items())]
    return "\n".join(lines) + "\n"


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    scale = float(np.max(np.abs(expected)))
    assert scale > 1e-3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)


def _session_output(package: Path, x: np.ndarray) -> np.ndarray:
    session = one_core.Session(package)
    return next(iter(session.run([x]).values()))


def test_tf_graph_def_import_optimize_pack(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3], name="input")
        y = tf.nn.conv2d(x, rng.standard_normal((3, 3, 3, 4)).astype(np.float32), strides=1, padding="SAME")
        y = tf.nn.relu(y * rng.uniform(0.5, 2, 4).astype(np.float32) + rng.standard_normal(4).astype(np.float32))
        y = tf.reduce_mean(y, axis=[1, 2])
        tf.identity(tf.matmul(y, rng.standard_normal((4, 5)).astype(np.float32)), name="output")
    xs = [rng.standard_normal((1, 8, 8, 3)).astype(np.float32) for _ in range(2)]
    with tf.compat.v1.Session(graph=graph) as sess:
        expected = [sess.run("output:0", {"input:0": v}) for v in xs]
    (tmp_path / "net.pb").write_bytes(graph.as_graph_def().SerializeToString())
    (tmp_path / "net.cfg").write_text(_cfg({
        "one-import-tf": {"input_path": "net.pb", "output_path": "net.circle", "model_format": "graph_def",
                          "converter_version": "v1", "input_arrays": "input", "input_shapes": "1,8,8,3",
                          "output_arrays": "output", "save_intermediate": "True"},
        "one-optimize": {"input_path": "net.circle", "output_path": "net.opt.circle",
                         "fuse_batchnorm_with_conv": "True", "fuse_activation_function": "True",
                         "remove_redundant_reshape": "True", "fuse_bcq": "False", "generate_profile_data": "False"},
        "one-pack": {"input_path": "net.opt.circle", "output_path": "pkg"},
    }))
    result = _one(tmp_path, "build", "-C", "net.cfg")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["one-import-tf", "one-optimize", "one-pack"]
    assert (tmp_path / "net.tflite").read_bytes()[4:8] == b"TFL3"  # save_intermediate
    package = tmp_path / "pkg" / "net.opt"
    assert json.loads((package / "metadata" / "MANIFEST").read_text())["models"] == ["net.opt.circle"]
    for v, e in zip(xs, expected):
        _close(_session_output(package, v), e)


def test_tflite_import_optimize_pack_with_environment(tmp_path: Path, monkeypatch) -> None:
    shutil.copy(modelzoo.fp16_model(), tmp_path / "fp16.tflite")
    (tmp_path / "fp16.cfg").write_text("""\
; comments and the Environment section, as onecc reads them
[onecc]
one-import-tflite=True
one-optimize=True
one-pack=True

[Environment]
ONE_BUILD_TEST_SETTING=on

[one-pack]
input_path=out/fp16.opt.circle
output_path=out

[one-optimize]
input_path=out/fp16.circle
output_path=out/fp16.opt.circle
O1=True

[one-import-tflite]
input_path=fp16.tflite
output_path=out/fp16.circle
""")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONE_BUILD_TEST_SETTING", raising=False)
    seen = []

    def progress(message: str) -> nullcontext:
        seen.append((message.split()[1], os.environ.get("ONE_BUILD_TEST_SETTING")))
        return nullcontext()

    summaries = build("fp16.cfg", progress=progress)
    assert seen == [("one-import-tflite", "on"), ("one-optimize", "on"), ("one-pack", "on")]
    assert "ONE_BUILD_TEST_SETTING" not in os.environ  # restored after the build
    assert "18 -> 8 operators (O1" in summaries[1]  # the float16 weights' DEQUANTIZE folded
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.standard_normal((1, 16, 16, 3)).astype(np.float32)
        _close(_session_output(tmp_path / "out" / "fp16.opt", x), litert_output(tmp_path / "fp16.tflite", x))


def _onnx_conv_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        values = rng.uniform(0.5, 1.5, shape) if name == "var" else rng.standard_normal(shape)
        return numpy_helper.from_array(values.astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fc_b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        [init("w", 4, 3, 3, 3), init("b", 4), init("scale", 4), init("bias", 4), init("mean", 4), init("var", 4),
         init("fc", 4, 5), init("fc_b", 5)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _onnxruntime(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_onnx_import_optimize_pack(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    _onnx_conv_model(tmp_path / "conv.onnx")
    (tmp_path / "conv.cfg").write_text(_cfg({
        "one-import-onnx": {"input_path": "conv.onnx", "output_path": "conv.circle", "unroll_rnn": "True",
                            "unroll_lstm": "True", "keep_io_order": "True", "io_layout": "onnx"},
        "one-optimize": {"input_path": "conv.circle", "output_path": "conv.opt.circle",
                         "fuse_batchnorm_with_conv": "True", "fuse_activation_function": "True",
                         "remove_redundant_transpose": "True"},
        "one-pack": {"input_path": "conv.opt.circle", "output_path": "pkg"},
    }))
    result = _one(tmp_path, "build", "-C", "conv.cfg")
    assert result.returncode == 0, result.stderr
    rng = np.random.default_rng(4)
    for _ in range(2):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        _close(_session_output(tmp_path / "pkg" / "conv.opt", x), _onnxruntime(tmp_path / "conv.onnx", x))


def test_workflow_runs_after_dependencies(tmp_path: Path) -> None:
    shutil.copy(modelzoo.small_float_model(), tmp_path / "small.tflite")
    (tmp_path / "pack.cfg").write_text("[onecc]\none-pack=True\n[one-pack]\ninput_path=small.opt.circle\n"
                                       "output_path=pkg\n")
    flow = {
        "workflows": ["PACK", "IMPORT"],  # PACK is listed first but runs after IMPORT
        "PACK": {"run-after": ["IMPORT"], "cfg-reference": {"path": "pack.cfg"}},
        "IMPORT": {
            "steps": ["IMPORT_TFLITE", "OPTIMIZE"],
            "IMPORT_TFLITE": {"one-cmd": "one-import-tflite",
                              "commands": {"input_path": "small.tflite", "output_path": "small.circle"}},
            "OPTIMIZE": {"one-cmd": "one-optimize",
                         "commands": {"input_path": "small.circle", "output_path": "small.opt.circle",
                                      "fuse_activation_function": "True", "fold_dequantize": False}},
        },
    }
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    result = _one(tmp_path, "build", "-W", "flow.json", "-O1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["one-import-tflite", "one-optimize", "one-pack"]
    assert "(O1, 1 pass(es)" in lines[1]
    assert (tmp_path / "small.opt.circle").is_file() and (tmp_path / "pkg" / "small.opt" / "small.opt.circle").is_file()


_TFLITE_CFG = """\
[onecc]
one-import-tflite=True
one-optimize=True

[one-import-tflite]
input_path=small.tflite
output_path=small.circle

[one-optimize]
input_path=small.circle
output_path=small.opt.circle
"""

_CYCLE = {"workflows": ["A", "B"], "A": {"run-after": ["B"], "cfg-reference": {"path": "x.cfg"}},
          "B": {"run-after": ["A"], "cfg-reference": {"path": "x.cfg"}}}


@pytest.mark.parametrize("name, text, message", [
    ("unknown_key", _TFLITE_CFG.replace("output_path=small.circle", "output_path=small.circle\ninput_shape=1"),
     "x.cfg [one-import-tflite]: unknown key 'input_shape'"),
    ("unknown_section", _TFLITE_CFG + "[one-optimise]\nO1=True\n",
     "x.cfg: unknown section 'one-optimise' (did you mean one-optimize?)"),
    ("missing_input", _TFLITE_CFG.replace("input_path=small.tflite", "input_path=missing.tflite"),
     "x.cfg [one-import-tflite]: input_path missing.tflite: no such file or directory"),
    ("not_available", _TFLITE_CFG.replace("one-optimize=True", "one-optimize=True\none-partition=True")
     + "[one-partition]\ninput_path=small.opt.circle\noutput_path=q.circle\n",
     "x.cfg [one-partition]: one-partition is not available: model partitioning is not implemented"),
    ("no_section", _TFLITE_CFG.replace("one-optimize=True", "one-optimize=True\none-pack=True"),
     "x.cfg: one-pack is switched on in [onecc] but there is no [one-pack] section"),
    ("no_onecc", _TFLITE_CFG.replace("[onecc]", "[one-import]"), "x.cfg: no [onecc] section"),
    ("bad_switch", _TFLITE_CFG.replace("one-optimize=True", "one-optimize=maybe"),
     "x.cfg [onecc]: one-optimize must be true or false"),
    ("bad_pass", _TFLITE_CFG + "fold_cast=sometimes\n", "x.cfg [one-optimize]: fold_cast must be true or false"),
    ("workflow_cycle", json.dumps(_CYCLE), "x.json: workflows run after each other in a cycle: A -> B -> A"),
    ("workflow_unknown", json.dumps({"workflows": ["A"], "A": {"run-after": ["C"], "steps": []}}),
     'x.json: "A" runs after "C", which is not a listed workflow'),
])
def test_errors_are_one_line_before_anything_is_written(tmp_path: Path, name: str, text: str, message: str) -> None:
    shutil.copy(modelzoo.small_float_model(), tmp_path / "small.tflite")
    path = tmp_path / ("x.json" if name.startswith("workflow") else "x.cfg")
    path.write_text(text)
    before = sorted(tmp_path.iterdir())
    result = _one(tmp_path, "build", "-W" if path.suffix == ".json" else "-C", path.name)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(tmp_path.iterdir()) == before


def test_lenient_warns_and_goes_on(tmp_path: Path) -> None:
    shutil.copy(modelzoo.small_float_model(), tmp_path / "small.tflite")
    text = _TFLITE_CFG.replace("output_path=small.circle", "output_path=small.circle\ninput_shape=1")
    (tmp_path / "x.cfg").write_text(text + "fuse_bcq=True\n[one-quantize]\n[extra]\n")
    result = _one(tmp_path, "build", "-C", "x.cfg", "--lenient")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: x.cfg: unknown section 'extra'; ignored",
        "warning: x.cfg [one-import-tflite]: unknown key 'input_shape'; ignored",
        ("warning: x.cfg [one-optimize]: fuse_bcq=True cannot be honoured: there is no such pass "
         "here (`one passes` lists them); ignored"),
    ]
    assert (tmp_path / "small.opt.circle").is_file()


def test_init_then_build(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(modelzoo.small_float_model(), models / "small.tflite")
    _onnx_conv_model(models / "conv.onnx")
    for model, shape in (("small.tflite", (1, 8, 8, 3)), ("conv.onnx", (1, 3, 8, 8))):
        result = _one(tmp_path, "init", f"models/{model}")
        assert result.returncode == 0, result.stderr
        cfg = Path(model).stem + ".cfg"
        assert result.stdout == f"{cfg}: run it with `one build -C {cfg}`\n"
        assert _one(tmp_path, "init", f"models/{model}").returncode == 1  # no overwriting without --force
        result = _one(tmp_path, "build", "-C", cfg)
        assert result.returncode == 0, result.stderr
        stem = Path(model).stem
        package = models / f"{stem}_pack" / f"{stem}.opt"
        x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
        source = models / model
        expected = litert_output(source, x) if model.endswith(".tflite") else _onnxruntime(source, x)
        _close(_session_output(package, x), expected)
