"""A zoo of real .tflite models for tests and benchmarks, generated with TensorFlow and cached.

Every public function builds a model with TensorFlow / Keras, converts it with the TFLite
converter and returns the :class:`pathlib.Path` of the cached ``.tflite`` file.

* Cache directory: ``$ONE_TEST_CACHE`` or ``~/.cache/one-toolchain/models``.
* Cache key: function name + parameters + TensorFlow and Keras versions + a hash of this
  file's source, so any edit of this module invalidates every cached model.
* Files are written to a temporary file in the cache directory and moved into place with
  ``os.replace``, so concurrent generators (pytest-xdist, several checkouts) are safe.
* Each model is generated in a fresh Python subprocess (TensorFlow's global name counters
  start from zero, so the bytes do not depend on what ran before; the calling process never
  imports TensorFlow). ``ONE_TEST_MODELZOO_INPROCESS=1`` generates in-process instead (for
  debugging). TensorFlow is imported lazily, inside the generators: importing this module is
  cheap and a cache hit never imports TensorFlow.
* All seeds are fixed and names do not depend on process history: the same TensorFlow and
  Keras versions produce byte-identical files (Flex ops' NodeDefs are re-serialized
  deterministically, see ``_canonicalize_flex_options``).

``ALL_MODELS`` maps a name to a zero-argument generator for every model except ``resnet50``
(~100 MB, for benchmarks only).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import inspect
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

SEED = 20240601

__all__ = [
    "ALL_MODELS",
    "KERAS_APPLICATIONS",
    "cache_dir",
    "control_flow_model",
    "custom_op_model",
    "efficientnet_b0",
    "fp16_model",
    "inception_v3",
    "int16x8_model",
    "int8_per_channel_model",
    "keras_int8",
    "lstm_model",
    "mobilenet_v2",
    "mobilenet_v2_int8",
    "mobilenet_v3_small",
    "multi_signature_model",
    "resnet50",
    "small_float_model",
    "sparse_model",
]


# --------------------------------------------------------------------------------------
# Cache machinery
# --------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The directory holding the cached models (created if missing)."""
    root = os.environ.get("ONE_TEST_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "one-toolchain" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def _versions_tag() -> str:
    """TensorFlow (and Keras) versions, read from package metadata to avoid importing TF."""
    tf_version = _dist_version(
        "tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu", "tensorflow-intel",
        "tensorflow-macos",
    )
    if tf_version is None:  # unusual install: fall back to the (slow) import
        tf_version = _import_tf()[0].__version__
    keras_version = _dist_version("keras", "keras-nightly") or "none"
    return f"tf{tf_version}-keras{keras_version}"


def _cache_key(name: str, params: dict[str, Any]) -> str:
    parts = [name]
    parts += [f"{k}={params[k]}" for k in sorted(params)]
    parts += [_versions_tag(), _source_hash()]
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "-".join(parts))


def _cached(name: str, params: dict[str, Any], build: Callable[[], bytes], suffix: str = ".tflite") -> Path:
    directory = cache_dir()
    path = directory / f"{_cache_key(name, params)}{suffix}"
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        if os.environ.get("ONE_TEST_MODELZOO_INPROCESS"):
            _write_file(tmp, build())
        else:
            _build_in_subprocess(name, params, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


_CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("_modelzoo_child", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module._build_to_file(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])
"""


def _build_in_subprocess(name: str, params: dict[str, Any], out: str) -> None:
    """Generate in a fresh interpreter: TensorFlow's global counters (which name e.g. the
    IF branch subgraphs) then start from zero, so the bytes do not depend on what the
    calling process generated before; the caller also never has to import TensorFlow."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, __file__, name, json.dumps(params), out],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
    )
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-6000:]
        raise RuntimeError(f"generating model {name}({params}) failed:\n{log}")


def _build_to_file(name: str, params: dict[str, Any], out: str) -> None:
    """Entry point of the generator subprocess."""
    _write_file(out, globals()[name].__wrapped__(**params))


def _zoo_model(fn: Callable[..., bytes], suffix: str = ".tflite") -> Callable[..., Path]:
    """Turn ``fn(**params) -> model bytes`` into a cached ``fn(**params) -> Path``."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return _cached(fn.__name__, dict(bound.arguments), lambda: fn(*bound.args, **bound.kwargs), suffix)

    wrapper.__annotations__ = {**fn.__annotations__, "return": Path}
    return wrapper


def _zoo_onnx_model(fn: Callable[..., bytes]) -> Callable[..., Path]:
    return _zoo_model(fn, ".onnx")


# --------------------------------------------------------------------------------------
# TensorFlow helpers (everything below imports TensorFlow lazily)
# --------------------------------------------------------------------------------------


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    return tf, keras


def _start(seed: int = SEED):
    """Import TF/Keras, reset Keras' naming state and fix every seed; returns (tf, keras, rng)."""
    import numpy as np

    tf, keras = _import_tf()
    keras.backend.clear_session()  # layer-name counters restart: names are deterministic
    keras.utils.set_random_seed(seed)  # python, numpy and TF global seeds
    tf.random.set_seed(seed)
    return tf, keras, np.random.default_rng(seed)


def _convert(converter) -> bytes:
    # Keras' export prints "Saved artifact at ..." on stdout: keep test output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def _function_converter(tf, function):
    """Converter for a ``tf.function`` with an input signature.

    The function is wrapped in a ``tf.Module`` passed as the trackable object: the converter
    then goes through a SavedModel, which gives the model a ``serving_default`` SignatureDef
    and keeps function attributes such as ``api_implements`` (needed to fuse the LSTM).
    """
    module = tf.Module()
    module.function = function
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], module
    )


def _keras_layers(model) -> list:
    """All layers of a Keras model, nested models flattened, in topological order."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            out += _keras_layers(layer)
        else:
            out.append(layer)
    return out


def _relative_difference(a, b) -> float:
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-30))


def _make_keras_model_informative(model, rng, *, calibration_batch: int = 8) -> None:
    """Give a freshly built (``weights=None``) Keras model weights whose outputs depend on
    the input.

    * every conv / dense kernel is redrawn He-scaled: ``N(0,1) * sqrt(2 / fan_in)``
      (``fan_in`` of a depthwise kernel is ``kh * kw``);
    * biases are small (``0.01 * N(0,1)``), BatchNormalization gamma = 1 and beta = 0;
    * every BatchNormalization's moving mean / variance is set to the statistics of its input
      when a random N(0,1) batch goes through the network with the BatchNormalization layers
      before it already calibrated, so activations stay of order one everywhere.

    The calibration is one forward pass in training mode with ``momentum = 0``: in training
    mode each BatchNormalization normalizes with the batch statistics of its input and stores
    them as moving statistics, which is the same as calibrating the layers one by one in
    topological order. Dropout is disabled during that pass. The result is then checked:
    the inference-mode output on the calibration batch must equal the training-mode one.
    """
    import numpy as np

    _, keras = _import_tf()
    layers = _keras_layers(model)
    depthwise_types = tuple(
        t for t in (getattr(keras.layers, "DepthwiseConv2D", None),
                    getattr(keras.layers, "DepthwiseConv1D", None)) if t is not None
    )
    for layer in layers:
        for weight in layer.weights:
            leaf = weight.path.split("/")[-1] if hasattr(weight, "path") else weight.name
            leaf = leaf.split(":")[0]
            shape = tuple(int(d) for d in weight.shape)
            if isinstance(layer, keras.layers.BatchNormalization):
                if leaf == "gamma":
                    weight.assign(np.ones(shape, np.float32))
                elif leaf == "beta":
                    weight.assign(np.zeros(shape, np.float32))
                continue
            if leaf in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                if leaf == "depthwise_kernel" or isinstance(layer, depthwise_types):
                    fan_in = int(np.prod(shape[:-2]))
                else:
                    fan_in = int(np.prod(shape[:-1]))
                value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
                weight.assign(value.astype(np.float32))
            elif leaf == "bias":
                weight.assign((0.01 * rng.standard_normal(shape)).astype(np.float32))

    batch_norms = [l for l in layers if isinstance(l, keras.layers.BatchNormalization)]
    dropouts = [l for l in layers if isinstance(l, keras.layers.Dropout)]
    if not batch_norms:
        return
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = rng.standard_normal((calibration_batch, *input_shape)).astype(np.float32)
    saved = [(l, l.momentum, l.trainable) for l in batch_norms]
    saved_rates = [(l, l.rate) for l in dropouts]
    try:
        for layer in batch_norms:
            layer.momentum = 0.0
            layer.trainable = True
        for layer in dropouts:
            layer.rate = 0.0
        y_train = np.asarray(model(x, training=True))
    finally:
        for layer, momentum, trainable in saved:
            layer.momentum = momentum
            layer.trainable = trainable
        for layer, rate in saved_rates:
            layer.rate = rate
    y_infer = np.asarray(model(x, training=False))
    if _relative_difference(y_train, y_infer) > 1e-3:
        raise RuntimeError("BatchNormalization calibration is not self-consistent")


def _check_informative(model, rng, min_relative_difference: float = 1e-2) -> None:
    """Two different N(0,1) inputs must give clearly different, finite outputs."""
    import numpy as np

    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x1, x2 = (rng.standard_normal((1, *input_shape)).astype(np.float32) for _ in range(2))
    y1, y2 = np.asarray(model(x1, training=False)), np.asarray(model(x2, training=False))
    if not (np.isfinite(y1).all() and np.isfinite(y2).all()):
        raise RuntimeError(f"{model.name}: non-finite outputs")
    difference = _relative_difference(y1, y2)
    if difference <= min_relative_difference:
        raise RuntimeError(
            f"{model.name}: outputs barely depend on the input "
            f"(relative difference {difference:.3g} <= {min_relative_difference})"
        )


def _informative_application(app_name: str, input_size: int, quantize: str | None = None) -> bytes:
    tf, keras, rng = _start()
    model = getattr(keras.applications, app_name)(
        weights=None, input_shape=(input_size, input_size, 3)
    )
    _make_keras_model_informative(model, rng)
    _check_informative(model, rng)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)  # float32, no optimizations
    if quantize == "int8":  # full integer, int8 input and output
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_dataset(rng, (1, input_size, input_size, 3), 8)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return _convert(converter)


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


@_zoo_onnx_model
def keras_onnx(app_name: str, input_size: int) -> bytes:
    """A Keras application (informative weights, float32, NHWC input, logits) exported by tf2onnx
    (opset 17): the Transpose-into-NCHW graphs users get from the TensorFlow world."""
    tf, keras, rng = _start()
    model = getattr(keras.applications, app_name)(weights=None, input_shape=(input_size, input_size, 3),
                                                  classifier_activation=None)
    _make_keras_model_informative(model, rng)
    _check_informative(model, rng)
    import tf2onnx

    spec = (tf.TensorSpec((1, input_size, input_size, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    return proto.SerializeToString()


@_zoo_model
def mobilenet_v2(input_size: int = 224) -> bytes:
    """Float32 Keras MobileNetV2 (1000 classes, softmax) with informative random weights."""
    return _informative_application("MobileNetV2", input_size)


@_zoo_model
def resnet50(input_size: int = 224) -> bytes:
    """Float32 Keras ResNet50 (~100 MB) with informative random weights, for benchmarks."""
    return _informative_application("ResNet50", input_size)


@_zoo_model
def mobilenet_v3_small(input_size: int = 224) -> bytes:
    """Float32 Keras MobileNetV3Small (HARD_SWISH, squeeze-excite) with informative weights."""
    return _informative_application("MobileNetV3Small", input_size)


@_zoo_model
def efficientnet_b0(input_size: int = 224) -> bytes:
    """Float32 Keras EfficientNetB0 (swish, squeeze-excite) with informative weights."""
    return _informative_application("EfficientNetB0", input_size)


@_zoo_model
def inception_v3(input_size: int = 75) -> bytes:
    """Float32 Keras InceptionV3 (concatenations, average and max pooling) with informative weights."""
    return _informative_application("InceptionV3", input_size)


@_zoo_model
def keras_int8(app_name: str, input_size: int) -> bytes:
    """A Keras application (informative weights) converted to full integer int8 (int8 I/O)."""
    return _informative_application(app_name, input_size, quantize="int8")


@_zoo_model
def mobilenet_v2_int8(input_size: int = 224) -> bytes:
    """Keras MobileNetV2, full-integer int8 (per-channel weights, int8 input and output)."""
    return _informative_application("MobileNetV2", input_size, quantize="int8")


@_zoo_model
def small_float_model() -> bytes:
    """Tiny float32 net, input 1x8x8x3: CONV_2D(+ReLU) -> RESHAPE -> FULLY_CONNECTED."""
    tf, keras, rng = _start()
    inputs = keras.Input((8, 8, 3), batch_size=1, name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(5, name="dense")(x)
    model = keras.Model(inputs, outputs, name="small_float")
    _make_keras_model_informative(model, rng)
    _check_informative(model, rng)
    return _convert(tf.lite.TFLiteConverter.from_keras_model(model))


def _small_conv_net(keras, rng, name: str):
    """Conv2D, BatchNorm, ReLU, DepthwiseConv2D, Add, AveragePool, Dense on 1x16x16x3."""
    inputs = keras.Input((16, 16, 3), batch_size=1, name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    skip = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dwconv")(skip)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.Conv2D(8, 1, name="conv2")(x)
    x = keras.layers.Add(name="add")([x, skip])
    x = keras.layers.ReLU(name="relu3")(x)
    x = keras.layers.AveragePooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, name="dense")(x)
    model = keras.Model(inputs, outputs, name=name)
    _make_keras_model_informative(model, rng)
    _check_informative(model, rng)
    return model


def _representative_dataset(rng, shape, count: int = 32):
    import numpy as np

    samples = [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]

    def dataset():
        for sample in samples:
            yield [sample]

    return dataset


@_zoo_model
def int8_per_channel_model() -> bytes:
    """Full-integer int8 (int8 input/output) small conv net: per-channel int8 weights."""
    tf, keras, rng = _start()
    model = _small_conv_net(keras, rng, "int8_net")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative_dataset(rng, (1, 16, 16, 3))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return _convert(converter)


@_zoo_model
def int16x8_model() -> bytes:
    """The int8 model's net in 16x8 mode: int16 activations (and I/O), int8 weights."""
    tf, keras, rng = _start()
    model = _small_conv_net(keras, rng, "int16x8_net")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative_dataset(rng, (1, 16, 16, 3))
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    converter.inference_input_type = tf.int16
    converter.inference_output_type = tf.int16
    return _convert(converter)


@_zoo_model
def fp16_model() -> bytes:
    """Float16 weight quantization of the small conv net: fp16 constants -> DEQUANTIZE."""
    tf, keras, rng = _start()
    model = _small_conv_net(keras, rng, "fp16_net")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return _convert(converter)


@_zoo_model
def sparse_model() -> bytes:
    """Float net with ~80 % zero weights, converted with EXPERIMENTAL_SPARSITY.

    ``conv`` (Conv2D 3x3, 8->16), ``dwconv`` (DepthwiseConv2D 3x3) and ``dense_random``
    (Dense 512->32) have unstructured sparsity; ``dense_block`` (Dense 32->16) keeps 20 % of
    its 1x4 blocks (4 consecutive inputs of one output). Every kernel becomes a constant
    tensor with SparsityParameters; unstructured ones are expanded at run time by DENSIFY
    operators, the 1x4 block-sparse one is consumed directly by FULLY_CONNECTED (LiteRT's
    sparse fully-connected kernel).
    """
    import numpy as np

    tf, keras, rng = _start()
    inputs = keras.Input((8, 8, 8), batch_size=1, name="input")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dwconv")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(32, activation="relu", name="dense_random")(x)
    outputs = keras.layers.Dense(16, name="dense_block")(x)
    model = keras.Model(inputs, outputs, name="sparse_net")
    density = 0.2
    for layer in model.layers:
        if not hasattr(layer, "kernel"):
            continue
        shape = tuple(int(d) for d in layer.kernel.shape)
        if layer.name == "dense_block":  # Keras kernel is [in, out]: blocks along "in"
            keep = rng.random((shape[0] // 4, shape[1])) < density
            mask = np.repeat(keep, 4, axis=0)
        else:
            mask = rng.random(shape) < density
        fan_in = np.prod(shape[:-2] if layer.name == "dwconv" else shape[:-1])
        kernel = rng.standard_normal(shape) * np.sqrt(2.0 / (density * fan_in))
        layer.kernel.assign((kernel * mask).astype(np.float32))
        bias_shape = tuple(int(d) for d in layer.bias.shape)
        layer.bias.assign((0.01 * rng.standard_normal(bias_shape)).astype(np.float32))
    _check_informative(model, rng)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return _convert(converter)


@_zoo_model
def control_flow_model() -> bytes:
    """tf.cond + tf.while_loop on the inputs: IF and WHILE operators, five subgraphs.

    Inputs: ``x`` float32[1, 8] and ``n`` int32[] (number of loop iterations). If
    ``sum(x) > 0`` the IF takes a tanh(x @ A) branch, else a x * 0.5 - 1 branch; then the
    WHILE applies ``y = tanh(y @ W + b)`` ``n`` times.
    """
    import numpy as np

    tf, _, rng = _start()
    a = tf.constant((rng.standard_normal((8, 8)) / np.sqrt(8)).astype(np.float32))
    w = tf.constant((rng.standard_normal((8, 8)) / np.sqrt(8)).astype(np.float32))
    b = tf.constant((0.1 * rng.standard_normal(8)).astype(np.float32))

    @tf.function(
        input_signature=[tf.TensorSpec([1, 8], tf.float32, name="x"),
                         tf.TensorSpec([], tf.int32, name="n")]
    )
    def control_flow(x, n):
        y = tf.cond(
            tf.reduce_sum(x) > 0.0,
            lambda: tf.tanh(tf.matmul(x, a)),
            lambda: x * 0.5 - 1.0,
        )
        _, y = tf.while_loop(
            lambda i, y: i < n,
            lambda i, y: (i + 1, tf.tanh(tf.matmul(y, w) + b)),
            [tf.constant(0), y],
        )
        return y

    return _convert(_function_converter(tf, control_flow))


@_zoo_model
def custom_op_model() -> bytes:
    """FULLY_CONNECTED -> Cumprod -> ADD: Cumprod has no TFLite builtin, so with SELECT_TF_OPS
    it becomes a CUSTOM operator ``FlexCumprod`` whose custom_options are a flexbuffer
    holding the serialized TF NodeDef. Not runnable without the Flex delegate."""
    import numpy as np

    tf, _, rng = _start()
    w = tf.constant((rng.standard_normal((16, 16)) / 4.0).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
    def custom_op(x):
        y = tf.matmul(x, w)
        return tf.math.cumprod(tf.tanh(y), axis=1) + x

    converter = _function_converter(tf, custom_op)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    converter.allow_custom_ops = True
    return _canonicalize_flex_options(_convert(converter))


def _canonicalize_flex_options(data: bytes) -> bytes:
    """A Flex op's custom_options are a flexbuffer ``[op name, serialized TF NodeDef]``; the
    converter writes the NodeDef's attr map in hash order, which changes from process to
    process. Re-serialize each NodeDef deterministically (same length, written in place) so
    the model's bytes are reproducible."""
    from circle_schema.v0_10.circle.Model import Model
    from flatbuffers import flexbuffers
    from tensorflow.core.framework import node_def_pb2

    model = Model.GetRootAs(data, 0)
    flex = {
        i for i in range(model.OperatorCodesLength())
        if (model.OperatorCodes(i).CustomCode() or b"").startswith(b"Flex")
    }
    out = bytearray(data)
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            if op.OpcodeIndex() not in flex or op.CustomOptionsLength() == 0:
                continue
            options = op.CustomOptionsAsNumpy().tobytes()
            node_def = flexbuffers.GetRoot(options).AsVector[1].AsStringBytes
            canonical = node_def_pb2.NodeDef.FromString(node_def).SerializeToString(
                deterministic=True
            )
            if len(canonical) != len(node_def) or out.count(node_def) != 1:
                raise RuntimeError("cannot canonicalize the Flex op's NodeDef in place")
            start = out.index(node_def)
            out[start:start + len(node_def)] = canonical
    return bytes(out)


@_zoo_model
def multi_signature_model() -> bytes:
    """SavedModel with two signatures -> two subgraphs and two SignatureDefs.

    * ``add``: inputs ``x``, ``y`` float32[1, 4] -> output ``sum`` = x + y + offset
    * ``mul``: inputs ``a``, ``b`` float32[1, 4] -> outputs ``product`` = a * b * scale and
      ``difference`` = a - b
    """
    import numpy as np

    tf, _, rng = _start()

    class TwoSignatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.offset = tf.Variable(rng.standard_normal((1, 4)).astype(np.float32))
            self.scale = tf.Variable(rng.standard_normal((1, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x"),
                                      tf.TensorSpec([1, 4], tf.float32, name="y")])
        def add(self, x, y):
            return {"sum": x + y + self.offset}

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="a"),
                                      tf.TensorSpec([1, 4], tf.float32, name="b")])
        def mul(self, a, b):
            return {"product": a * b * self.scale, "difference": a - b}

    module = TwoSignatures()
    with tempfile.TemporaryDirectory(prefix="modelzoo-savedmodel-") as directory:
        tf.saved_model.save(
            module, directory, signatures={"add": module.add, "mul": module.mul}
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(
            directory, signature_keys=["add", "mul"]
        )
        return _convert(converter)


@_zoo_model
def lstm_model() -> bytes:
    """Fused UNIDIRECTIONAL_SEQUENCE_LSTM (input 1x6x8, 16 units, full output sequence)
    followed by a FULLY_CONNECTED on the last step.

    Keras 3's LSTM layer no longer carries the ``api_implements="lstm_*"`` function
    attribute the converter fuses (it lowers to a WHILE loop of FULLY_CONNECTED/LOGISTIC/
    TANH), so the LSTM is written as a ``tf.function`` with the attributes of Keras 2's
    ``standard_lstm`` (same argument order, five results), using the weights of a
    ``keras.layers.LSTM`` layer and checked against that layer. The converter then emits the
    fused op; its output and cell state inputs (from ``tf.zeros``) become *variable* tensors
    (is_variable = true), whose state LiteRT keeps between invocations.
    """
    import numpy as np

    tf, keras, rng = _start()
    batch, steps, features, units = 1, 6, 8, 16

    layer = keras.layers.LSTM(units, return_sequences=True, name="lstm")
    layer.build((batch, steps, features))
    kernel = tf.constant(np.asarray(layer.cell.kernel))
    recurrent_kernel = tf.constant(np.asarray(layer.cell.recurrent_kernel))
    bias = tf.constant((0.1 * rng.standard_normal(4 * units)).astype(np.float32))
    layer.cell.bias.assign(bias)
    dense_w = tf.constant((rng.standard_normal((units, 4)) / 4.0).astype(np.float32))

    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        h, c, outputs = init_h, init_c, []
        for x in tf.unstack(inputs, axis=1):  # batch-major ("time_major": False)
            z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
            i, f, g, o = tf.split(z, 4, axis=1)  # Keras / TFLite gate order
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            outputs.append(h)
        sequence = tf.stack(outputs, axis=1)
        return sequence[:, -1], sequence, h, c, tf.constant(0.0)

    fused_lstm = tf.function(
        standard_lstm,
        autograph=False,
        experimental_attributes={
            "api_implements": "lstm_modelzoo",
            "api_preferred_device": "CPU",
            "time_major": False,
            "go_backwards": False,
        },
    )

    @tf.function(input_signature=[tf.TensorSpec([batch, steps, features], tf.float32, name="x")])
    def lstm(x):
        zeros = tf.zeros([batch, units])
        last, sequence, _, _, _ = fused_lstm(x, zeros, zeros, kernel, recurrent_kernel, bias)
        return {"sequence": sequence, "projection": tf.matmul(last, dense_w)}

    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    reference = np.asarray(layer(x))
    if _relative_difference(lstm(x)["sequence"].numpy(), reference) > 1e-5:
        raise RuntimeError("the fused-LSTM function does not match keras.layers.LSTM")

    return _convert(_function_converter(tf, lstm))


ALL_MODELS: dict[str, Callable[[], Path]] = {
    "small_float_model": small_float_model,
    "mobilenet_v2": mobilenet_v2,
    "control_flow_model": control_flow_model,
    "custom_op_model": custom_op_model,
    "int8_per_channel_model": int8_per_channel_model,
    "int16x8_model": int16x8_model,
    "sparse_model": sparse_model,
    "multi_signature_model": multi_signature_model,
    "lstm_model": lstm_model,
    "fp16_model": fp16_model,
}

#: Keras applications for model-level runtime tests and benchmarks (resnet50 is separate: large).
KERAS_APPLICATIONS: dict[str, Callable[[], Path]] = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
    "mobilenet_v2_int8": mobilenet_v2_int8,
}
