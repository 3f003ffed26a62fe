"""Shape and dtype inference (shape_inference, dtype_inference, dynamic_batch_to_single_batch),
checked against what TensorFlow's converter and the ONNX frontend wrote and against the shapes
the runtime produces when it runs the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import modelzoo
import numpy as np
import pytest
from passcheck import Graph, assert_close, check_pass, check_unchanged, clone, random_inputs, run_litert, tf_model

import one_core
from one_core.errors import InvalidModelError
from one_core.ir import OPCODES, DType, Model, Tensor
from one_core.ir.options import (
    AddOptions,
    ArgMaxOptions,
    CastOptions,
    Conv2DOptions,
    Padding,
    ReshapeOptions,
    SqueezeOptions,
    StridedSliceOptions,
)
from one_core.passes.rewrite import is_quantized, signature
from one_passes.infer import DTYPE_RULES, SHAPE_RULES, infer_dtypes, infer_shapes

# ------------------------------------------------------------------------------------------
# TensorFlow functions of a None batch: the converter writes -1 in their shape signatures
# ------------------------------------------------------------------------------------------


def layout_ops(x):
    """Reshapes, transposes, joins, splits, slices and gathers of a [None, 8, 8, 3] tensor."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    return [
        tf.reshape(x, [-1, 8 * 8 * 3]),
        tf.reshape(x, [n, 64, 3]),
        tf.reshape(x, [n, -1]),
        x[:, 1:5, ::-2, :],
        x[..., 1],
        x[:, tf.newaxis, 2:6],
        x[:, -3:, 7:1:-3, 0:1],
        x[0, :, 2],
        x[..., tf.newaxis, 1:3],
        x[1:, ..., ::2],
        x[:, ::-1, -1],
        x[:, 7:0:-2, ::-3],
        x[:, 10:2:-1, -9::3],
        tf.transpose(x, [0, 3, 1, 2]),
        tf.concat([x, x * 2.0], axis=-1),
        *tf.split(x, 2, axis=1),
        *tf.split(x, [2, -1, 1], axis=2),
        tf.stack([x, x], axis=1),
        *tf.unstack(x, axis=3),
        tf.slice(x, [0, 1, 2, 0], [-1, 3, 4, 2]),
        tf.gather(x, [0, 2, 2], axis=2),
        tf.gather(x, tf.constant([[1, 0], [2, 2]]), axis=-1),
        tf.gather(x, tf.zeros_like(x[:, :, :2, 0], tf.int32), axis=2, batch_dims=2),
        tf.gather_nd(x, tf.zeros_like(x[:, :5, 0, :2], tf.int32), batch_dims=1),
        tf.tile(x, [1, 2, 1, 3]),
        tf.broadcast_to(x[:, :1, :1, :1], tf.shape(x)),
        tf.fill(tf.shape(x)[:2], 3.0),
        tf.expand_dims(x, -2),
        tf.squeeze(x[:, :, :1, :], axis=2),
        tf.reverse(x, [1]),
        tf.reverse(x, [-1]),
        tf.pad(x, [[0, 0], [1, 2], [3, 0], [0, 1]]),
        tf.pad(x, [[0, 0], [1, 2], [3, 0], [0, 1]], constant_values=1.5),
        tf.pad(x, [[0, 0], [2, 2], [1, 0], [0, 0]], mode="REFLECT"),
        tf.pad(x, [[0, 0], [2, 3], [0, 1], [0, 0]], mode="SYMMETRIC"),
        tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4]), 2),
        tf.nn.space_to_depth(x, 4),
        tf.space_to_batch_nd(x, [2, 4], [[0, 0], [1, 3]]),
        tf.batch_to_space(tf.tile(x, [4, 1, 1, 1]), [2, 2], [[0, 1], [1, 0]]),
        tf.reshape(tf.range(tf.shape(x)[0] * 3), [-1, 3]),
        tf.reshape(x, tf.concat([tf.shape(x)[:1], [-1, 4]], 0)),
    ]


def conv_ops(x, z):
    """Convolutions, pools, resizes, normalizations and activations of a [None, 16, 16, 3]
    image (and a transposed convolution of a fixed-size [1, 7, 5, 8] one)."""
    import tensorflow as tf

    w = tf.constant(0.1, shape=(3, 3, 3, 8))
    dw = tf.constant(0.2, shape=(3, 3, 3, 2))
    tw = tf.constant(0.05, shape=(3, 3, 5, 8))
    y = tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME"))
    v = tf.nn.conv2d(x, w, [1, 2, 3, 1], "VALID")
    return [
        y, v,
        tf.nn.conv2d(x, w, 3, "SAME"),
        tf.nn.conv2d(x, w, 1, "SAME", dilations=2),
        tf.nn.conv2d(x, w, 1, "VALID", dilations=[3, 2]),
        tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), w, 2, "VALID"),
        tf.nn.depthwise_conv2d(x, dw, [1, 2, 2, 1], "SAME"),
        tf.nn.depthwise_conv2d(x, dw, [1, 1, 1, 1], "VALID"),
        tf.nn.conv2d_transpose(y, tw, tf.stack([tf.shape(x)[0], 16, 16, 5]), 2, "SAME"),
        tf.nn.conv2d_transpose(z, tw, [1, 17, 19, 5], [1, 2, 3, 1], "VALID"),
        tf.nn.avg_pool2d(x, 3, 2, "SAME"),
        tf.nn.max_pool2d(x, [2, 3], [2, 1], "VALID"),
        tf.nn.max_pool2d(x, 3, [3, 5], "SAME"),
        tf.image.resize(x, [20, 12]),
        tf.image.resize(x, [5, 7], method="nearest"),
        tf.math.l2_normalize(y, axis=-1),
        tf.nn.softmax(y),
        tf.nn.log_softmax(y),
        tf.nn.local_response_normalization(y),
        tf.nn.leaky_relu(v),
        tf.nn.elu(v),
        tf.nn.relu6(v),
        tf.nn.gelu(v),
        tf.nn.sigmoid(v) * v,
        tf.nn.tanh(v),
        tf.quantization.fake_quant_with_min_max_args(v, -1.0, 1.0),
    ]


def volume_ops(x):
    """3-D convolutions of a [None, 6, 8, 8, 2] volume."""
    import tensorflow as tf

    w = tf.constant(0.1, shape=(3, 3, 2, 2, 4))
    return [tf.nn.conv3d(x, w, [1, 1, 2, 2, 1], "SAME"), tf.nn.conv3d(x, w, [1, 2, 1, 3, 1], "VALID")]


def math_ops(x, y):
    """Matrix products, reductions and elementwise operators with broadcasting, of
    [None, 4, 6] and [None, 6, 5]."""
    import tensorflow as tf

    fc = tf.constant(0.1, shape=(6, 7))
    b = tf.constant(0.5, shape=(5,))
    return [
        tf.matmul(x, y),
        tf.matmul(x, x, transpose_b=True),
        tf.matmul(y, y, transpose_a=True),
        tf.matmul(x, tf.constant(0.3, shape=(2, 1, 6, 3))),
        tf.tensordot(x, fc, 1),
        x @ fc,
        tf.reshape(x, [-1, 24]) @ tf.constant(0.2, shape=(24, 5)),
        tf.reduce_mean(x, axis=[1, -1]),
        tf.reduce_sum(x, axis=-1, keepdims=True),
        tf.reduce_max(x, axis=1),
        tf.reduce_min(y, axis=[0, 2], keepdims=True),
        tf.reduce_prod(x, axis=2),
        tf.reduce_any(x > 0, axis=1),
        tf.reduce_all(x > 0, axis=[1, 2]),
        tf.argmax(x, axis=-1),
        tf.argmin(y, axis=1, output_type=tf.int32),
        *tf.math.top_k(x, 3),
        tf.cast(x, tf.int32),
        tf.cast(x > 0.5, tf.float32),
        x + b[:1], x - 1.0, x * x, x / 3.0, tf.maximum(x, 0.2), tf.minimum(x, y[:, :4, :1]),
        y + b, tf.pow(tf.abs(y), 0.5), tf.math.squared_difference(x, 1.0), tf.math.floordiv(x, 0.7),
        tf.math.floormod(x, 0.7), tf.equal(x, 0.0), tf.not_equal(x, y[:, 1:5, 0:1]), tf.less(x, 0.1),
        tf.less_equal(x, 0.1), tf.greater(y, b), tf.greater_equal(y, 0.0),
        tf.logical_and(x > 0, x < 1), tf.logical_or(x > 0, x < -1), tf.logical_not(x > 0),
        tf.abs(x), -x, tf.exp(x), tf.math.log(tf.abs(x) + 1), tf.sqrt(tf.abs(x)), tf.math.rsqrt(tf.abs(x) + 1),
        tf.sin(x), tf.cos(x), tf.square(x), tf.math.ceil(x), tf.math.floor(x), tf.round(x), tf.sign(x),
        tf.where(x > 0, x, 0.5 * x), tf.where(x[:, :, :1] > 0, x, tf.zeros_like(x)),
        tf.math.cumsum(x, axis=1), tf.math.cumsum(x, axis=-1, exclusive=True, reverse=True),
        tf.one_hot(tf.cast(x[:, :, 0], tf.int32), 5), tf.one_hot(tf.cast(x[:, 0, :], tf.int32), 3, axis=1),
        tf.nn.softmax(x, axis=-1),
    ]


def dynamic_ops(x, boxes, scores):
    """Sizes known only at run time (WHERE, UNIQUE, shapes computed from data: k) and the
    non-max suppressions, of [None, 6], [None, 4] and [None]."""
    import tensorflow as tf

    k = tf.reduce_sum(tf.cast(x[0] > 0, tf.int32))
    return [
        tf.where(x > 0),
        *tf.unique(tf.cast(tf.reshape(x, [-1]), tf.int32))[:2],
        tf.image.non_max_suppression(boxes, scores, 5),
        tf.image.non_max_suppression_with_scores(boxes, scores, 4, soft_nms_sigma=0.5)[1],
        tf.range(k),
        tf.reshape(x, [-1, 2, 3]),
        tf.fill([k, 2], 1.0),
        tf.tile(x, [k, 1]),
        tf.slice(x, [0, 0], [-1, k]),
        x[:, k:],
        tf.boolean_mask(x, x[:, 0] > 0),
        tf.pad(x, [[0, 0], [k, 1]]),
        tf.image.resize(tf.reshape(x, [-1, 2, 3, 1]), tf.stack([k, 2])),
    ]


F32 = np.float32
TF_MODELS: dict[str, tuple[Callable, list[tuple[tuple[int | None, ...], Any]]]] = {
    "layout_ops": (layout_ops, [((None, 8, 8, 3), F32)]),
    "conv_ops": (conv_ops, [((None, 16, 16, 3), F32), ((1, 7, 5, 8), F32)]),
    "volume_ops": (volume_ops, [((None, 6, 8, 8, 2), F32)]),
    "math_ops": (math_ops, [((None, 4, 6), F32), ((None, 6, 5), F32)]),
    "dynamic_ops": (dynamic_ops, [((None, 6), F32), ((None, 4), F32), ((None,), F32)]),
}

#: Zoo models: Keras applications converted by TensorFlow (None batch), exported by tf2onnx and
#: imported by the ONNX frontend (static), int8 and float16-weight models.
ZOO: dict[str, Callable[[], Path]] = {
    "mobilenet_v2": lambda: modelzoo.mobilenet_v2(96),
    "efficientnet_b0": lambda: modelzoo.efficientnet_b0(64),
    "resnet50": lambda: modelzoo.resnet50(64),
    "onnx_mobilenet_v2": lambda: modelzoo.keras_onnx("MobileNetV2", 96),
    "onnx_efficientnet_b0": lambda: modelzoo.keras_onnx("EfficientNetB0", 64),
    "onnx_resnet50": lambda: modelzoo.keras_onnx("ResNet50", 64),
    "int8_mobilenet_v3_small": lambda: modelzoo.keras_int8("MobileNetV3Small", 96),
    "fp16_model": modelzoo.fp16_model,
}

#: Where the converter's signature is less precise than the rules (converter's, inferred):
CONVERTER_DIFFERENCES: dict[str, dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    # tensordot reshapes x [n, 4, 6] to [prod(shape(x)[:2]), prod(shape(x)[2:])], computed by
    # SHAPE, GATHER, REDUCE_PROD and PACK: the second element is the product of the static 6.
    # TensorFlow's shape function does not look into computed targets.
    "math_ops": {"Tensordot/Reshape": ((-1, -1), (-1, 6))},
    "dynamic_ops": {
        # TFLite's NON_MAX_SUPPRESSION_V4/V5 write [max_output_size] indices (and scores),
        # padded (the converter slices the valid ones afterwards); the converter keeps
        # TensorFlow's unpadded, data-dependent [-1]. LiteRT and the runtime write the padded size.
        "Identity_3": ((-1,), (5,)), "Identity_4": ((-1,), (4,)),
        "non_max_suppression_with_scores/NonMaxSuppressionV5": ((-1,), (4,)),
        # RESIZE_BILINEAR to PACK(k, 2): the constant 2 is followed through the PACK
        "Identity_13": ((-1, -1, -1, 1), (-1, -1, 2, 1)),
    },
}

#: Outputs dtype_inference cannot infer and keeps: CAST as TensorFlow writes it (without options),
#: TOPK_V2's indices (int32 or int64), QUANTIZE (its output type is the quantization's choice),
#: operators of quantized tensors (int8 SOFTMAX may write int16).
DTYPE_KEPT = {("CAST", 0), ("TOPK_V2", 1), ("QUANTIZE", 0)}


def _load(name: str) -> Model:
    if name in TF_MODELS:
        fn, specs = TF_MODELS[name]
        return one_core.load(tf_model(fn, specs))
    return one_core.load(ZOO[name]())


def _outputs(model: Model) -> list[Tensor]:
    return [t for op in model.main.operators for t in op.outputs]


def _run_everything(model: Model, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Every operator output of the main graph as the runtime computes it."""
    sg = model.main
    saved = sg.outputs
    sg.outputs = _outputs(model)
    try:
        return one_core.Session(model, backend="runtime").run(list(inputs))
    finally:
        sg.outputs = saved


def _set_input_shapes(model: Model, shapes: Sequence[Sequence[int]], signatures: Sequence[Sequence[int]]) -> None:
    for t, shape, sig in zip(model.main.inputs, shapes, signatures):
        t.shape = tuple(shape)
        t.shape_signature = tuple(sig) if -1 in sig else None


def _wrong_shapes(model: Model) -> None:
    """Every operator output gets a shape of zeros of its rank and no signature."""
    for t in _outputs(model):
        t.shape = (0,) * len(t.shape)
        t.shape_signature = None


def _check_against_runtime(model: Model, inputs: Sequence[np.ndarray]) -> None:
    """Every operator output has the shape (and dtype) the runtime produces."""
    got = _run_everything(model, inputs)
    for t in _outputs(model):
        assert got[t.name].shape == t.shape, f"{t.name}: runtime {got[t.name].shape}, inferred {t.shape}"
        assert got[t.name].dtype == t.dtype.numpy, f"{t.name}: runtime {got[t.name].dtype}, {t.dtype.name}"
        sig = signature(t)
        assert all(s in (-1, d) for s, d in zip(sig, t.shape)), f"{t.name}: signature {sig}, shape {t.shape}"


# ------------------------------------------------------------------------------------------
# Rules and coverage
# ------------------------------------------------------------------------------------------

#: The operators real models use that the rules must cover.
REQUIRED = """
    ADD SUB MUL DIV POW MAXIMUM MINIMUM SQUARED_DIFFERENCE FLOOR_DIV FLOOR_MOD EQUAL NOT_EQUAL LESS
    LESS_EQUAL GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR LOGICAL_NOT ABS NEG EXP LOG SQRT RSQRT SIN
    COS TANH LOGISTIC SQUARE CEIL FLOOR ROUND SIGN ELU LEAKY_RELU HARD_SWISH RELU RELU6 RELU_N1_TO_1
    GELU PRELU CONV_2D DEPTHWISE_CONV_2D TRANSPOSE_CONV CONV_3D FULLY_CONNECTED BATCH_MATMUL
    AVERAGE_POOL_2D MAX_POOL_2D MEAN SUM REDUCE_PROD REDUCE_MAX REDUCE_MIN REDUCE_ANY REDUCE_ALL RESHAPE
    SQUEEZE EXPAND_DIMS TRANSPOSE CONCATENATION SPLIT SPLIT_V PACK UNPACK SLICE STRIDED_SLICE GATHER
    GATHER_ND PAD PADV2 MIRROR_PAD RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR DEPTH_TO_SPACE SPACE_TO_DEPTH
    BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND SOFTMAX LOG_SOFTMAX L2_NORMALIZATION ARG_MAX ARG_MIN TOPK_V2
    CAST QUANTIZE DEQUANTIZE SHAPE RANK FILL TILE BROADCAST_TO ONE_HOT CUMSUM REVERSE_V2 SELECT SELECT_V2
    EMBEDDING_LOOKUP WHERE UNIQUE RANGE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5
""".split()


def test_rules_cover_the_operators_of_real_models() -> None:
    assert set(REQUIRED) - set(SHAPE_RULES) == set()
    assert set(REQUIRED) - set(DTYPE_RULES) == {"QUANTIZE"}  # its type is the quantization's
    assert set(SHAPE_RULES) <= set(OPCODES) and set(DTYPE_RULES) <= set(OPCODES)
    for name in [*TF_MODELS, *ZOO]:
        ops = {op.name for op in _load(name).main.operators}
        assert ops - set(SHAPE_RULES) == set(), name  # nothing of these models is kept untested


# ------------------------------------------------------------------------------------------
# Against the converters: wrong shapes and dtypes are inferred back
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*TF_MODELS, *ZOO])
def test_shape_inference_restores_what_the_converter_wrote(name: str) -> None:
    """Every operator output's shape is overwritten with zeros and its signature dropped;
    shape_inference gives back the converter's signature everywhere (except the listed
    tensors, where the converter is less precise) and its shape wherever the signature is
    static. Dynamic dimensions hold representative values, checked against the runtime below."""
    original = _load(name)
    model = clone(original)
    _wrong_shapes(model)
    assert infer_shapes(model) is True
    want = {t.name: t for t in _outputs(original)}
    differences = {}
    for t in _outputs(model):
        w = want[t.name]
        if signature(t) != signature(w):
            differences[t.name] = (signature(w), signature(t))
        for i, (s, written) in enumerate(zip(signature(t), signature(w))):
            assert s in (-1, t.shape[i]), f"{t.name}: shape {t.shape}, signature {signature(t)}"
            if written != -1:
                assert t.shape[i] == w.shape[i], f"{t.name}: shape {t.shape}, the converter's {w.shape}"
    assert differences == CONVERTER_DIFFERENCES.get(name, {})
    assert infer_shapes(model) is False  # idempotent


@pytest.mark.parametrize("name", [n for n in (*TF_MODELS, *ZOO) if n != "dynamic_ops"])
def test_inferred_shapes_are_the_runtimes(name: str) -> None:
    """From wrong shapes, at the model's own input shapes: every operator output's shape and
    dtype is what the runtime computes (dynamic dimensions included)."""
    model = _load(name)
    _wrong_shapes(model)
    infer_shapes(model)
    _check_against_runtime(model, random_inputs(model))


@pytest.mark.parametrize("name", ["layout_ops", "conv_ops", "volume_ops", "math_ops", "mobilenet_v2",
                                  "efficientnet_b0", "int8_mobilenet_v3_small"])
def test_batch_3_shapes_are_the_runtimes(name: str) -> None:
    """The dynamic batch set to 3 (signature kept): every shape follows, as the runtime runs it."""
    model = _load(name)
    sigs = [signature(t) for t in model.main.inputs]
    _set_input_shapes(model, [(3, *t.shape[1:]) if s[0] == -1 else t.shape for t, s in zip(model.main.inputs, sigs)],
                      sigs)
    assert infer_shapes(model) is True
    assert infer_shapes(model) is False
    _check_against_runtime(model, random_inputs(model))


@pytest.mark.parametrize("name", ["mobilenet_v2", "onnx_mobilenet_v2", "onnx_resnet50"])
def test_new_image_size_shapes_are_the_runtimes(name: str) -> None:
    """96x96 (64x64) -> 128x128 images, batch 2 on the static ONNX imports: shapes and static
    signatures everywhere follow; the runtime agrees; the classifier keeps its 1000 classes."""
    model = _load(name)
    batch = 1 if signature(model.main.inputs[0])[0] == -1 else 2
    _set_input_shapes(model, [(batch, 128, 128, 3)], [(-1 if batch == 1 else 2, 128, 128, 3)])
    assert infer_shapes(model) is True
    _check_against_runtime(model, random_inputs(model))
    out = model.main.outputs[0]
    assert out.shape == (batch, 1000)


def _data_dependent(model: Model) -> tuple[set[tuple[str, int]], dict[str, np.ndarray]]:
    """The (tensor, dimension) pairs of dynamic_ops whose size changes with the input's values
    at one input shape (x: k = 6, 3, 6 positive elements in x[0]; 6, 6, 1 unique values;
    x[0, 0] > 0 or not), and the runtime's results for the first input."""
    boxes = np.array([[0, 0, 1, 1]], np.float32)
    scores = np.array([0.9], np.float32)
    xs = [np.arange(1, 7), [-1, 2, -3, 4, -5, 6], np.ones(6)]
    runs = [_run_everything(model, [np.float32(x).reshape(1, 6), boxes, scores]) for x in xs]
    varying = {(t.name, i) for t in _outputs(model) for i in range(len(t.shape))
               if len({r[t.name].shape[i] for r in runs}) > 1}
    return varying, runs[0]


def test_data_dependent_sizes_keep_what_they_had() -> None:
    """WHERE, UNIQUE and sizes computed from data: the signature says -1 and the shape keeps
    the value written (never a guess); every other dimension is the runtime's."""
    placeholder = 0
    model = _load("dynamic_ops")
    _wrong_shapes(model)
    infer_shapes(model)
    varying, got = _data_dependent(model)
    assert len(varying) == 12  # 2 WHEREs, UNIQUE, 7 sizes computed from k, 2 after boolean_mask's WHERE
    for t in _outputs(model):
        for i, d in enumerate(t.shape):
            if (t.name, i) in varying:
                assert signature(t)[i] == -1 and d == placeholder, f"{t.name}: {t.shape} {signature(t)}"
            else:
                assert d == got[t.name].shape[i], f"{t.name}: {t.shape}, runtime {got[t.name].shape}"


@pytest.mark.parametrize("name", [*TF_MODELS, *ZOO])
def test_dtype_inference_restores_what_the_converter_wrote(name: str) -> None:
    """Every operator output dtype_inference can infer is set to COMPLEX64; it gives back
    the converter's dtype. The ones it keeps are exactly the kinds listed in DTYPE_KEPT (and
    operators reading quantized tensors)."""
    original = _load(name)
    model = clone(original)
    inferable = []
    for op in model.main.operators:
        types = DTYPE_RULES[op.name](op) if op.name in DTYPE_RULES else [None] * len(op.outputs)
        for i, (t, dtype) in enumerate(zip(op.outputs, types)):
            if dtype is None:
                quantized_input = any(x is not None and is_quantized(x) for x in op.inputs)
                assert (op.name, i) in DTYPE_KEPT or quantized_input, f"{op.type} output {i} '{t.name}'"
            else:
                inferable.append(t)
    for t in inferable:
        t.dtype = DType.COMPLEX64
    assert infer_dtypes(model) is bool(inferable)
    want = {t.name: t.dtype for t in original.main.tensors}
    assert [(t.name, t.dtype) for t in _outputs(model)] == [(t.name, want[t.name]) for t in _outputs(model)]
    assert infer_dtypes(model) is False


# ------------------------------------------------------------------------------------------
# dynamic_batch_to_single_batch
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["layout_ops", "conv_ops", "volume_ops", "math_ops", "efficientnet_b0"])
def test_dynamic_batch_to_single_batch(name: str) -> None:
    """Inputs with a dynamic batch get batch 1 and every signature that depended on it only
    becomes static; outputs at batch 1 are the original's on the runtime (and on LiteRT when
    its reference kernels run the model: check_pass)."""
    model = _load(name)
    assert any(t.is_dynamic for t in model.main.tensors)
    opt = check_pass(model, "dynamic_batch_to_single_batch", {})
    assert [t.shape for t in opt.main.inputs] == [(1, *t.shape[1:]) for t in model.main.inputs]
    assert [t.name for t in opt.main.tensors if t.is_dynamic] == []


@pytest.mark.parametrize("name", ["layout_ops", "volume_ops", "efficientnet_b0"])
def test_dynamic_batch_to_single_batch_runs_on_litert(name: str, tmp_path: Path) -> None:
    """LiteRT's reference kernels run the single-batch model with the original's outputs
    (conv_ops and math_ops use ELU and CEIL, which they lack)."""
    original = _load(name)
    opt = one_core.optimize(clone(original), passes=["dynamic_batch_to_single_batch"])
    path = tmp_path / "single.tflite"
    one_core.save(opt, path)
    for seed in (0, 1):
        xs = random_inputs(original, seed)
        assert_close(run_litert(path, xs), run_litert(Path(original.source), xs))


def test_dynamic_batch_to_single_batch_keeps_data_dependent_sizes() -> None:
    """At batch 1 the dynamic dimensions left are exactly those that depend on the data."""
    model = _load("dynamic_ops")
    opt = check_pass(model, "dynamic_batch_to_single_batch", {})
    dynamic = {(t.name, i) for t in opt.main.tensors for i, d in enumerate(signature(t)) if d == -1}
    assert dynamic == _data_dependent(model)[0]


# ------------------------------------------------------------------------------------------
# Models the passes leave alone, invalid models
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0", "onnx_efficientnet_b0",
                                  "int8_mobilenet_v3_small", "fp16_model"])
def test_consistent_models_are_left_unchanged(name: str) -> None:
    check_unchanged(_load(name), ["shape_inference", "dtype_inference"])


@pytest.mark.parametrize("make", [modelzoo.control_flow_model, modelzoo.lstm_model, modelzoo.custom_op_model,
                                  lambda: modelzoo.keras_onnx("MobileNetV2", 96)])
def test_static_models_and_operators_without_rules_are_left_unchanged(make: Callable[[], Path]) -> None:
    """Static batches; IF, WHILE, UNIDIRECTIONAL_SEQUENCE_LSTM and a custom operator (kept)."""
    check_unchanged(one_core.load(make()), ["dynamic_batch_to_single_batch", "shape_inference", "dtype_inference"])


def _mismatched_conv() -> Model:
    """A CONV_2D whose filter expects 4 input channels, of a 3-channel input."""
    g = Graph()
    x = g.input("x", (1, 8, 8, 3))
    w = g.randn(4, 3, 3, 4, name="w")
    y = g.op("CONV_2D", [x, w, None], (1, 8, 8, 4), Conv2DOptions(Padding.SAME, 1, 1))
    return g.done([y])


def test_inconsistent_model_is_a_one_line_error() -> None:
    model = _mismatched_conv()
    with pytest.raises(InvalidModelError) as info:
        infer_shapes(model)
    assert str(info.value) == ("subgraph 0 ('main'), operator 0 (CONV_2D): input 'x' [1, 8, 8, 3] has channels "
                               "the filter 'w_1' [4, 3, 3, 4] cannot group")
    with pytest.raises(InvalidModelError, match=r"^subgraph 0 \('main'\), operator 0 \(CONV_2D\): input 'x'"):
        one_core.optimize(_mismatched_conv(), passes=["shape_inference"])
    g = Graph()
    a, b = g.input("a", (2, 4)), g.input("b", (3, 1))
    g.done([g.op("ADD", [a, b], (2, 4), AddOptions())])
    with pytest.raises(InvalidModelError, match=r"^[^\n]*ADD\): shapes 'a' \[2, 4\] and 'b' \[3, 1\] do not broadcast$"):
        infer_shapes(g.model)
    g = Graph()
    x = g.input("x", (2, 3))
    g.done([g.op("RESHAPE", [x, g.const(np.array([4, -1], np.int32))], (4, 2))])
    with pytest.raises(InvalidModelError, match=r"^[^\n]*RESHAPE\): elements of input 'x' \[2, 3\] by the new shape "
                                                r"\[4, -1\]: 6 is not divisible by 4$"):
        infer_shapes(g.model)
    g = Graph()
    x = g.input("x", (2, 3), signature=(4, 3))  # a shape that contradicts its own signature
    g.done([g.op("RELU", [x], (2, 3))])
    with pytest.raises(InvalidModelError, match=r"^[^\n]*RELU\): output 'relu_1': dimension 0 is 2 at the inputs' "
                                                r"shapes but 4 in the signature$"):
        infer_shapes(g.model)


# ------------------------------------------------------------------------------------------
# Operators TensorFlow's converter does not write here, built with the IR
# ------------------------------------------------------------------------------------------


def _ir_operators_model() -> Model:
    """EMBEDDING_LOOKUP, QUANTIZE, RANK, CAST and ARG_MAX with options, RESHAPE by its option,
    SQUEEZE of every 1, SELECT, STRIDED_SLICE with offset and with ellipsis, new-axis and shrink
    masks (the converter rewrites those into plain slices), all with wrong output shapes."""
    from one_core.ir import Quantization

    g = Graph()
    x = g.input("x", (2, 1, 6, 1))
    y = g.input("y", (2, 3, 4, 5))
    ids = g.input("ids", (3,), DType.INT32)
    wrong = (7,)
    table = g.randn(5, 4, name="table")
    outs = [
        g.op("EMBEDDING_LOOKUP", [ids, table], wrong),
        g.op("RANK", [x], wrong, dtype=DType.INT32),
        g.op("CAST", [x], wrong, CastOptions(DType.FLOAT32, DType.INT32), dtype=DType.INT32),
        g.op("ARG_MAX", [x, g.const(np.array([2], np.int32))], wrong, ArgMaxOptions(DType.INT64), dtype=DType.INT64),
        g.op("RESHAPE", [x], wrong, ReshapeOptions([3, -1])),
        g.op("SQUEEZE", [x], wrong, SqueezeOptions([])),
        g.op("SQUEEZE", [x], wrong, SqueezeOptions([-1])),
        g.op("SELECT", [g.op("GREATER", [x, g.const(np.float32(0))], wrong, dtype=DType.BOOL), x, x], wrong),
        g.op("STRIDED_SLICE", [x, *(g.const(np.array(v, np.int32)) for v in ([0, 0, 1, 0], [1, 1, 3, 1], [1, 1, 1, 1]))],
             wrong, StridedSliceOptions(offset=True)),
        # y[..., tf.newaxis, 1:4:2], y[..., 2], y[tf.newaxis, 1, ..., ::-2] with explicit masks
        *(g.op("STRIDED_SLICE", [y, *(g.const(np.array(v, np.int32)) for v in spec)], wrong, StridedSliceOptions(**masks))
          for spec, masks in [
              (([0, 0, 1], [0, 0, 4], [1, 1, 2]), dict(ellipsis_mask=1, new_axis_mask=2)),
              (([0, 2], [0, 3], [1, 1]), dict(ellipsis_mask=1, shrink_axis_mask=2)),
              (([0, 1, 0, 0], [0, 2, 0, 0], [1, 1, 1, -2]), dict(new_axis_mask=1, ellipsis_mask=4, shrink_axis_mask=2,
                                                              begin_mask=8, end_mask=8)),
          ]),
    ]
    q = g.op("QUANTIZE", [x], wrong, dtype=DType.INT8)
    q.quantization = Quantization(np.array([0.05], np.float32), np.array([3], np.int64))
    outs.append(g.op("DEQUANTIZE", [q], wrong))
    return g.done(outs)


def test_ir_built_operators_shapes_are_the_runtimes() -> None:
    model = _ir_operators_model()
    assert infer_shapes(model) is True
    _check_against_runtime(model, random_inputs(model))
    assert [t.shape for t in model.main.outputs[:3]] == [(3, 4), (), (2, 1, 6, 1)]
    assert [t.shape for t in model.main.outputs[-4:-1]] == [(2, 3, 4, 1, 2), (2, 3, 4), (1, 3, 4, 3)]


def test_unknown_rank_and_custom_operators_keep_their_outputs() -> None:
    """A custom operator's outputs are kept as written; an output of shape [] without a rank
    may be of unknown rank, so what reads it is kept too."""
    g = Graph()
    x = g.input("x", (2, 3))
    c = g.op("CUSTOM", [x], (), custom_code="Mystery")
    y = g.op("RELU", [c], (5, 5))
    d = g.op("CUSTOM", [x], (4, 4), custom_code="Mystery")
    z = g.op("RELU", [d], (0, 0))
    model = g.done([y, z])
    assert infer_shapes(model) is True
    assert (c.shape, y.shape, d.shape, z.shape) == ((), (5, 5), (4, 4), (4, 4))
