"""The command line: `one import` with `-X` options and `one import-tf` with ONE's flags; every
bad input gives one `error:` line, exit status 1, no traceback and no output file; nothing is
left in the temporary directory after a run."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import one_core

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, when saving


def _one(*args: str, tmpdir=None, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the frontend hides the logs itself
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "one_core", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=cwd)


CUSTOM_LAYER = '''
import keras


@keras.saving.register_keras_serializable(package="tests")
class Scale(keras.layers.Layer):
    def call(self, x):
        return x * 3.0
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    inputs = keras.Input((4,), name="features")
    net = keras.Model(inputs, keras.layers.Dense(2, name="scores")(inputs))
    net.export(root / "saved", verbose=False)
    keras.Model(inputs, keras.layers.Lambda(lambda t: -t, name="flip")(inputs)).save(root / "lambda.keras")
    (root / "layers.py").write_text(CUSTOM_LAYER)
    sys.path.insert(0, str(root))
    try:
        import layers  # noqa: F401  (registers tests>Scale)

        custom = keras.Model(inputs, layers.Scale(name="scale")(inputs))
        custom.save(root / "custom.keras")
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("layers", None)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        tf.math.cumprod(tf.tanh(x), axis=1, name="y")
    (root / "frozen.pb").write_bytes(graph.as_graph_def().SerializeToString())
    (root / "empty").mkdir()
    return root, net


def _assert_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_errors_are_one_line(models, tmp_path) -> None:
    root, _ = models
    out = tmp_path / "out.circle"
    cases = [
        ((root / "empty",), ["empty: not a SavedModel directory (no saved_model.pb or saved_model.pbtxt"]),
        ((root / "custom.keras",), ["custom.keras: the model needs custom objects: tests>Scale"]),
        ((root / "lambda.keras",), ["lambda.keras: Keras safe mode refuses to load the Lambda layer 'flip'",
                                    "-X safe_mode=false"]),
        ((root / "frozen.pb",), ["frozen.pb: a frozen GraphDef needs input_arrays and output_arrays "
                                 "(placeholders: x; nodes nothing reads: y)"]),
        ((root / "frozen.pb", "-X", "input_arrays=x", "-X", "output_arrays=nope"),
         ["output_arrays names 'nope', not in the GraphDef"]),
        ((root / "saved", "-X", "signature_keys=train"), ["no signature 'train' in the SavedModel"]),
        ((root / "saved", "-X", "batch=1"), ["unknown option(s) batch for the tf frontend"]),
    ]
    for args, fragments in cases:
        result = _one("import", *args, "-o", out)
        _assert_error(result, *fragments)
        assert not out.exists()


def test_import_with_options_and_warning(models, tmp_path) -> None:
    root, net = models
    private = tmp_path / "tmp"
    private.mkdir()
    out = tmp_path / "model.circle"
    result = _one("import", root / "saved", "-o", out, "-X", "input_shapes=3,4", tmpdir=private)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 1 subgraph(s), 1 operators"
    assert result.stderr == ""  # TensorFlow's log output is hidden
    assert os.listdir(private) == []  # no temporary file left behind
    model = one_core.load(out)
    assert model.main.inputs[0].shape == (3, 4) and model.main.inputs[0].shape_signature is None
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = next(iter(one_core.Session(model, backend="runtime").run([x]).values()))
    np.testing.assert_allclose(got, net(x), rtol=1e-5, atol=1e-6)

    # a custom operator: imported, with a one-line warning naming it
    out2 = tmp_path / "flex.circle"
    result = _one("import", root / "frozen.pb", "-o", out2, "-X", "input_arrays=x", "-X", "output_arrays=y",
                  "-X", "input_shapes=1,4")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {root / 'frozen.pb'}: 1 operator(s) without a TFLite builtin kept as custom operators: "
        "FlexCumprod; Flex* operators are TF select ops carrying their NodeDef; a backend needs kernels for them"]
    result = _one("import", root / "frozen.pb", "-o", tmp_path / "no.circle", "-X", "input_arrays=x",
                  "-X", "output_arrays=y", "-X", "input_shapes=1,4", "-X", "allow_custom_ops=false")
    _assert_error(result, "1 operator type(s) have no TFLite builtin: FlexCumprod")

    # the unsafe and custom-object loads, only when asked for
    out3 = tmp_path / "lambda.circle"
    assert _one("import", root / "lambda.keras", "-o", out3, "-X", "safe_mode=false").returncode == 0
    x1 = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(next(iter(one_core.Session(out3, backend="runtime").run([x1]).values())), -x1)
    out4 = tmp_path / "custom.circle"
    result = _one("import", root / "custom.keras", "-o", out4, "-X", f"custom_objects={root / 'layers.py'}")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(next(iter(one_core.Session(out4, backend="runtime").run([x1]).values())), 3 * x1)


def test_import_tf_takes_one_import_tf_flags(models, tmp_path) -> None:
    root, _ = models
    out = tmp_path / "g.circle"
    result = _one("import-tf", "--v2", "--graph_def", "-i", root / "frozen.pb", "-o", out,
                  "-I", "x", "-s", "2,4", "-O", "y", "-X", "select_tf_ops=false")
    assert result.returncode == 0, result.stderr
    assert "kept as custom operators: Cumprod;" in result.stderr
    model = one_core.load(out)
    assert model.main.inputs[0].shape == (2, 4)
    assert [op.custom_code for op in model.main.operators if op.name == "CUSTOM"] == ["Cumprod"]
    result = _one("import-tf", "--saved_model", "--input_path", root / "frozen.pb", "--output_path", out)
    _assert_error(result, "frozen.pb: not a SavedModel directory")
    result = _one("import-tf", "-o", out)
    _assert_error(result, "the model is missing: give MODEL or -i/--input_path")
