"""Live objects (tf.Module, tf.function, concrete functions, Keras models), SavedModels and
Keras files: signatures and names survive, input_shapes fixes dynamic dimensions, operators
without a TFLite builtin become custom operators with a warning, no temporary file is left."""

from __future__ import annotations

import gc
import os
import tempfile
import warnings

import numpy as np
import pytest

import one_core
from one_core.errors import InputError, UnsupportedOperatorError
from one_core.plugin import CONTENT_MATCH, EXTENSION_MATCH, NO_MATCH
from one_frontend_tf import CustomOperatorWarning, TfFrontend, custom_operators

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, when saving


def _run(model, *inputs):
    return one_core.Session(model, backend="runtime").run(list(inputs))


def _close(got, want, rtol=1e-5):
    want = np.asarray(want)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= rtol * max(float(np.abs(want).max()), 1e-30)


class TwoFunctions(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2) / 8.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                  tf.TensorSpec([None, 4], tf.float32, name="y")])
    def add(self, x, y):
        return {"sum": tf.matmul(x + y, self.w)}

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="a")])
    def neg(self, a):
        return {"negated": -a}


def test_module_signatures_and_names_survive() -> None:
    module = TwoFunctions()
    model = one_core.load(module)
    sigs = {s.key: s for s in model.signature_defs}
    assert sorted(sigs) == ["add", "neg"]
    assert [n for n, _ in sigs["add"].inputs] == ["x", "y"] and [n for n, _ in sigs["add"].outputs] == ["sum"]
    assert [n for n, _ in sigs["neg"].inputs] == ["a"] and [n for n, _ in sigs["neg"].outputs] == ["negated"]
    assert not any(op.name in ("VAR_HANDLE", "READ_VARIABLE") for _, op in model.operators())  # frozen
    one = one_core.load(module, signature_keys="add", input_shapes="2,4:2,4")
    assert [s.key for s in one.signature_defs] == ["add"]
    assert [t.shape for t in one.main.inputs] == [(2, 4), (2, 4)]
    assert all(t.shape_signature is None for t in one.main.inputs)  # no dynamic dimension left
    x, y = np.ones((2, 4), np.float32), np.full((2, 4), 2.0, np.float32)
    sig = one.signature_defs[0]
    names = {n: t.name for n, t in sig.inputs}
    got = one_core.Session(one, backend="runtime").run({names["x"]: x, names["y"]: y})
    _close(next(iter(got.values())), module.add(x, y)["sum"])
    with pytest.raises(InputError, match=r"no tf.function 'mul' with an input_signature \(found: add, neg\)"):
        one_core.load(module, signature_keys="mul")


def test_concrete_function_with_control_flow() -> None:
    w = tf.constant(np.eye(4, dtype=np.float32) * 0.9)

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x"), tf.TensorSpec([], tf.int32, name="n")])
    def loop(x, n):
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: tf.tanh(x), lambda: x * 2.0)
        _, y = tf.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, tf.matmul(y, w) + 0.1), [0, y])
        return y

    for source in (loop, loop.get_concrete_function()):
        model = one_core.load(source)
        assert {"IF", "WHILE"} <= {op.name for _, op in model.operators()}
        for x in (np.full((1, 4), 0.5, np.float32), np.full((1, 4), -0.5, np.float32)):
            n = np.array(3, np.int32)
            _close(next(iter(_run(model, x, n).values())), loop(x, n), rtol=1e-6)


def test_tf_function_input_shapes_fix_dynamic_dimensions() -> None:
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32, name="seq")])
    def pool(seq):
        return tf.reduce_mean(seq, axis=1)

    model = one_core.load(pool, input_shapes="2,5,3")
    assert model.main.inputs[0].shape == (2, 5, 3) and model.main.inputs[0].shape_signature is None
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    _close(next(iter(_run(model, x).values())), pool(x))
    with pytest.raises(InputError, match=r"input_shapes gives input 'seq' rank 2, but it has rank 3"):
        one_core.load(pool, input_shapes="2,5")
    with pytest.raises(InputError, match=r"no input named 'nope' \(inputs: seq\)"):
        one_core.load(pool, input_shapes={"nope": [1, 2, 3]})


@pytest.fixture(scope="module")
def multi_signature_saved_model(tmp_path_factory):
    module = TwoFunctions()
    path = tmp_path_factory.mktemp("sm") / "two"
    tf.saved_model.save(module, str(path), signatures={
        "add": module.add.get_concrete_function(), "neg": module.neg.get_concrete_function()})
    return module, path


def test_saved_model_signature_selection_and_shapes(multi_signature_saved_model) -> None:
    module, path = multi_signature_saved_model
    both = one_core.load(path)
    assert sorted(s.key for s in both.signature_defs) == ["add", "neg"]
    neg = one_core.load(path, signature_keys="neg")
    assert [s.key for s in neg.signature_defs] == ["neg"]
    assert [n for n, _ in neg.signature_defs[0].outputs] == ["negated"]
    add = one_core.load(path, signature_keys="add", input_shapes="3,4:3,4")
    assert [s.key for s in add.signature_defs] == ["add"]  # the key survives the fixed shapes
    assert [t.shape for t in add.main.inputs] == [(3, 4), (3, 4)]
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    names = {n: t.name for n, t in add.signature_defs[0].inputs}
    got = one_core.Session(add, backend="runtime").run({names["x"]: x, names["y"]: x * 3})
    _close(next(iter(got.values())), module.add(x, x * 3)["sum"])
    with pytest.raises(InputError, match=r"no signature 'mul' in the SavedModel \(signatures: add, neg\)"):
        one_core.load(path, signature_keys="mul")
    with pytest.raises(InputError, match=r"no MetaGraph with tags train in the SavedModel \(tag sets: serve\)"):
        one_core.load(path, tags="train")
    with pytest.raises(InputError, match=r"output_arrays applies to a GraphDef"):
        one_core.load(path, output_arrays="sum")


def test_converter_v1_on_a_saved_model(multi_signature_saved_model) -> None:
    _, path = multi_signature_saved_model
    with pytest.raises(InputError, match=r"converter v1 converts one signature; choose it with signature_keys"):
        one_core.load(path, v1="true")
    model = one_core.load(path, v1="true", signature_keys="neg")
    assert {op.name for _, op in model.operators()} == {"NEG"}


def _cumprod_function():
    @tf.function(input_signature=[tf.TensorSpec([1, 6], tf.float32, name="x")])
    def cumulative(x):
        return tf.math.cumprod(tf.tanh(x), axis=1) + x

    return cumulative


def test_select_tf_op_kept_as_custom_operator_with_its_node_def() -> None:
    from flatbuffers import flexbuffers
    from tensorflow.core.framework import node_def_pb2

    with pytest.warns(CustomOperatorWarning, match=r"1 operator\(s\) without a TFLite builtin kept as custom "
                                                   r"operators: FlexCumprod; Flex\* operators are TF select ops"):
        model = one_core.load(_cumprod_function())
    assert custom_operators(model) == ["FlexCumprod"]
    op = next(op for _, op in model.operators() if op.name == "CUSTOM")
    name, node_def = flexbuffers.GetRoot(bytes(op.custom_options)).AsVector
    assert name.AsString == "Cumprod"
    assert node_def_pb2.NodeDef.FromString(node_def.AsStringBytes).op == "Cumprod"
    # plain custom operators (named after the TF op, attributes as a flexbuffer), as ONE's v2 path
    with pytest.warns(CustomOperatorWarning, match=r": Cumprod; a backend"):
        plain = one_core.load(_cumprod_function(), select_tf_ops="false")
    assert custom_operators(plain) == ["Cumprod"]


def test_custom_operators_can_be_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnsupportedOperatorError, match=r"1 operator type\(s\) have no TFLite builtin: FlexCumprod "
                                                           r"\(allow_custom_ops=true keeps them") as info:
            one_core.load(_cumprod_function(), allow_custom_ops=False)
    assert info.value.operators == ["FlexCumprod"]


def test_no_temporary_file_is_left_and_the_model_outlives_it(tmp_path, monkeypatch) -> None:
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    inputs = keras.Input((6,), name="features")
    outputs = keras.layers.Dense(3, name="scores")(keras.layers.Dense(5, activation="relu")(inputs))
    net = keras.Model(inputs, outputs)
    model = one_core.load(net)
    # the .tflite and TensorFlow's SavedModel are gone; autograph's generated sources (of Keras'
    # own functions) TensorFlow removes at exit (test_tf_cli checks the directory after a run)
    assert [n for n in os.listdir(private) if not n.startswith("__autograph_generated_file")] == []
    gc.collect()
    constants = [t.data for t in model.main.tensors if t.data is not None]
    assert constants and all(np.isfinite(c).all() for c in constants)  # still readable
    x = np.random.default_rng(2).standard_normal((1, 6)).astype(np.float32)
    _close(_run(model, x)[model.signature_defs[0].outputs[0][1].name], net(x))
    saved = one_core.save(model, tmp_path / "m.circle")
    _close(next(iter(_run(one_core.load(saved), x).values())), net(x))
    assert model.source == "<keras model 'functional'>" or model.source.startswith("<keras model")


def test_keras_input_shapes_and_names(tmp_path) -> None:
    inputs = [keras.Input((None, 4), name="tokens"), keras.Input((2,), name="extra")]
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(3)(inputs[0]))
    out = keras.layers.Dense(2, name="head")(keras.layers.Concatenate()([pooled, inputs[1]]))
    net = keras.Model(inputs, {"head": out, "pooled": pooled})
    model = one_core.load(net, input_arrays="tokens", input_shapes="1,7,4")
    sig = model.signature_defs[0]
    assert [n for n, _ in sig.inputs] == ["extra", "tokens"]
    assert sorted(n for n, _ in sig.outputs) == ["head", "pooled"]
    shapes = {n: t.shape for n, t in sig.inputs}
    assert shapes == {"tokens": (1, 7, 4), "extra": (1, 2)}
    rng = np.random.default_rng(3)
    tokens, extra = rng.standard_normal((1, 7, 4)).astype(np.float32), rng.standard_normal((1, 2)).astype(np.float32)
    names = {n: t.name for n, t in sig.inputs}
    got = one_core.Session(model, backend="runtime").run({names["tokens"]: tokens, names["extra"]: extra})
    want = net([tokens, extra])
    for out_name, tensor in sig.outputs:
        _close(got[tensor.name], want[out_name])


def test_legacy_h5_written_by_keras3(tmp_path) -> None:
    rng = np.random.default_rng(4)
    net = keras.Sequential([keras.Input((8, 8, 2), name="image"), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.Flatten(), keras.layers.Dense(3, name="logits")])
    path = tmp_path / "net.h5"
    net.save(path)
    assert TfFrontend().match(path, path.read_bytes()[:64]) == CONTENT_MATCH
    model = one_core.load(path)
    assert [n for n, _ in model.signature_defs[0].inputs] == ["image"]
    x = rng.standard_normal((1, 8, 8, 2)).astype(np.float32)
    _close(next(iter(_run(model, x).values())), net(x))


class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_keras_custom_objects_and_lambda(tmp_path) -> None:
    inputs = keras.Input((3,), name="v")
    net = keras.Model(inputs, Doubler(name="double")(inputs))
    path = tmp_path / "custom.keras"
    net.save(path)
    with pytest.raises(InputError, match=r"custom.keras: the model needs custom objects: Doubler; pass them with custom_objects"):
        one_core.load(path)
    model = one_core.load(path, custom_objects={"Doubler": Doubler})
    x = np.arange(3, dtype=np.float32)[None]
    _close(next(iter(_run(model, x).values())), x * 2)

    lam = keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(inputs))
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"lambda{suffix}"
        lam.save(path)
        with pytest.raises(InputError, match=r"Keras safe mode refuses to load the Lambda layer 'plus_one': .*"
                                             r"if you trust this file, load it with safe_mode=false"):
            one_core.load(path)
        model = one_core.load(path, safe_mode="false")
        _close(next(iter(_run(model, x).values())), x + 1)


def test_match_scores(tmp_path) -> None:
    fe = TfFrontend()
    saved = tmp_path / "sm"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"")
    assert fe.match(saved, b"") == CONTENT_MATCH
    assert fe.match(saved / "saved_model.pb", b"") == CONTENT_MATCH
    assert fe.match(tmp_path, b"") == EXTENSION_MATCH  # any other directory: say what is wrong
    package = tmp_path / "pkg"
    (package / "metadata").mkdir(parents=True)
    (package / "metadata" / "MANIFEST").write_text("{}")
    assert fe.match(package, b"") == NO_MATCH
    assert fe.match(tmp_path / "g.pb", b"\x0a\x01") == EXTENSION_MATCH
    assert fe.match(tmp_path / "m.tflite", b"") == NO_MATCH
    tensors = tmp_path / "input.h5"  # ONE's tensor files are HDF5 too
    import h5py

    with h5py.File(tensors, "w") as f:
        f.create_group("value").create_dataset("0", data=np.zeros(3))
    assert fe.match(tensors, tensors.read_bytes()[:64]) == NO_MATCH
    assert fe.match(tmp_path / "missing.h5", b"\x89HDF\r\n\x1a\n") == NO_MATCH  # never raises
    assert fe.match(object(), b"") == NO_MATCH
    assert fe.match(TwoFunctions(), b"") == CONTENT_MATCH
    assert fe.match(_cumprod_function(), b"") == CONTENT_MATCH
    assert fe.match(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), b"") == CONTENT_MATCH


def test_options_are_checked(tmp_path) -> None:
    fn = _cumprod_function()
    with pytest.raises(InputError, match=r"unknown option\(s\) batch for the tf frontend"):
        one_core.load(fn, batch=2)
    with pytest.raises(InputError, match=r"input_shapes must be comma-separated integers"):
        one_core.load(fn, input_shapes="1,a")
    with pytest.raises(InputError, match=r"converter versions v1 and v2 are both asked for"):
        one_core.load(fn, v1="1", v2="1")
    with pytest.raises(InputError, match=r"allow_custom_ops must be true or false"):
        one_core.load(fn, allow_custom_ops="maybe")
    with pytest.raises(InputError, match=r"model_format applies to files and directories"):
        one_core.load(fn, model_format="saved_model")
    with pytest.raises(InputError, match=r"not a SavedModel directory"):
        one_core.load(tmp_path)
