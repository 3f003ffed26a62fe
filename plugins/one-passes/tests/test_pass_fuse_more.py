"""Fusions across convolutions: fuse_preactivation_batchnorm (pre-activation ResNet blocks) and
fuse_slice_with_tconv."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, counts, tf_model

import one_core

from one_core.ir import DType
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import (
    AddOptions,
    Conv2DOptions,
    FullyConnectedOptions,
    MulOptions,
    PadOptions,
    Padding,
    Pool2DOptions,
    ReducerOptions,
    SliceOptions,
    TransposeConvOptions,
)
from one_core.passes import available_passes

C = 8


def test_not_in_o1() -> None:
    registry = available_passes()
    assert not registry["fuse_preactivation_batchnorm"].levels and not registry["fuse_slice_with_tconv"].levels


# --------------------------------------------------------------------- fuse_preactivation_batchnorm


def _conv(g: Graph, x, cout: int, k: int, stride: int = 1, act: Act = Act.NONE):
    n, h, w, cin = x.shape
    out = (n, -(-h // stride), -(-w // stride), cout)
    return g.op("CONV_2D", [x, g.randn(cout, k, k, cin), g.randn(cout)], out,
                Conv2DOptions(Padding.SAME, stride, stride, act))


def _bn(g: Graph, x, gamma=None, act: Act = Act.RELU):
    """The batch norm before a ReLU as the converter writes it: MUL(x, gamma), ADD(beta, RELU)."""
    gamma = g.rng.uniform(0.5, 2.0, C).astype(np.float32) if gamma is None else np.asarray(gamma, np.float32)
    m = g.op("MUL", [x, g.const(gamma)], x.shape, MulOptions())
    return g.op("ADD", [m, g.randn(C)], x.shape, AddOptions(act))


def _pool(g: Graph, x, k: int, stride: int, padding: Padding = Padding.SAME):
    n, h, w, c = x.shape
    out = (n, -(-h // stride), -(-w // stride), c) if padding == Padding.SAME else \
        (n, (h - k) // stride + 1, (w - k) // stride + 1, c)
    return g.op("MAX_POOL_2D", [x], out, Pool2DOptions(padding, stride, stride, k, k))


def _resnet_v2(stem_pad: bool = False):
    """A pre-activation ResNet: stem conv and max pool; a block with a conv shortcut, one with an
    identity shortcut, one with a strided max-pool shortcut; batch norm, ReLU, MEAN and a 1x1
    conv as the head."""
    g = Graph()
    x = g.input("x", (1, 8, 8, 3))
    stem = _conv(g, x, C, 3)
    if stem_pad:  # Keras' ResNet50V2 stem: ZeroPadding2D then MaxPooling2D
        padded = g.op("PAD", [stem, g.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))], (1, 10, 10, C),
                      PadOptions())
        r0 = _pool(g, padded, 3, 1, Padding.VALID)
    else:
        r0 = _pool(g, stem, 2, 1)
    a1 = _bn(g, r0)
    r1 = g.op("ADD", [_conv(g, a1, C, 1), _conv(g, _conv(g, a1, C, 3, act=Act.RELU), C, 1)], r0.shape, AddOptions())
    a2 = _bn(g, r1)
    r2 = g.op("ADD", [_conv(g, _conv(g, a2, C, 3, act=Act.RELU), C, 1), r1], r1.shape, AddOptions())
    a3 = _bn(g, r2)
    c6 = _conv(g, _conv(g, a3, C, 3, stride=2, act=Act.RELU), C, 1)
    r3 = g.op("ADD", [c6, _pool(g, r2, 1, 2)], c6.shape, AddOptions())
    a4 = _bn(g, r3)
    mean = g.op("MEAN", [a4, g.const(np.array([1, 2], np.int32))], (1, 1, 1, C), ReducerOptions(keep_dims=True))
    return g.done([_conv(g, mean, 4, 1)])


def test_fuse_preactivation_batchnorm_resnet_v2() -> None:
    """Every batch norm goes: MUL into the next convs (the head's through MEAN), ADD into the
    previous conv (through the stem's MAX_POOL_2D; through a residual ADD with a SUB for the
    skip connection, which goes into the next block's last conv, directly or through a
    MAX_POOL_2D); a RELU stays for each."""
    model = _resnet_v2()
    opt = check_pass(model, "fuse_preactivation_batchnorm", {"MUL": -4, "ADD": -4, "RELU": 4})
    assert "SUB" not in counts(opt)


def test_fuse_preactivation_batchnorm_stops_at_pad() -> None:
    """The stem's conv -> PAD -> MAX_POOL_2D: shifting the conv would shift the padding's zeros
    too (ONE does it anyway), so the first batch norm keeps its ADD, before the MUL that moved
    into the next convs."""
    model = _resnet_v2(stem_pad=True)
    opt = check_pass(model, "fuse_preactivation_batchnorm", {"MUL": -4, "ADD": -3, "RELU": 4})
    pad_reader = opt.main.operators[[op.type for op in opt.main.operators].index("MAX_POOL_2D") + 1]
    assert pad_reader.type == "ADD" and pad_reader.outputs[0].consumers[0].type == "RELU"


_RNG = np.random.default_rng(3)


def _normal(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (_RNG.standard_normal(shape) * scale).astype(np.float32)


def _gamma() -> np.ndarray:
    return _RNG.uniform(0.5, 2, C).astype(np.float32)


W0, B0 = _normal(3, 3, 3, C, scale=0.3), _normal(C)
G1, S1 = _gamma(), _normal(C)
W1, W2, B2 = _normal(3, 3, C, C, scale=0.2), _normal(1, 1, C, C, scale=0.2), _normal(C)
G2, S2 = _gamma(), _normal(C)
W3 = _normal(1, 1, C, 4, scale=0.2)


def preact_resnet(x):
    import tensorflow as tf

    r0 = tf.nn.max_pool2d(tf.nn.conv2d(x, W0, 1, "SAME") + B0, 2, 1, "SAME")
    a1 = tf.nn.relu(r0 * G1 + S1)
    r1 = tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(a1, W1, 1, "SAME")), W2, 1, "SAME") + B2 + r0
    a2 = tf.nn.relu(r1 * G2 + S2)
    return tf.nn.conv2d(a2, W3, 1, "SAME")


def test_fuse_preactivation_batchnorm_tensorflow() -> None:
    """Two pre-activation blocks as TensorFlow's converter writes them (MUL, ADD with a fused
    RELU). The first batch norm reads a MAX_POOL_2D that the residual ADD reads too and that
    is no residual sum: its ADD stays (ONE's too); the second's goes into the conv before."""
    model = one_core.load(tf_model(preact_resnet, [((1, 8, 8, 3), np.float32)]))
    assert counts(model) == {"CONV_2D": 4, "MAX_POOL_2D": 1, "MUL": 2, "ADD": 3}
    check_pass(model, "fuse_preactivation_batchnorm", {"MUL": -2, "ADD": -1, "RELU": 2})


def _one_block(gamma=None, act: Act = Act.RELU, head: str = "conv", extra_reader: bool = False):
    g = Graph()
    x = g.input("x", (1, 6, 6, 3))
    y = _conv(g, x, C, 3)
    m = _bn(g, y, gamma, act)
    outs = []
    if head == "conv":
        outs.append(_conv(g, m, 4, 3))
    else:  # ResNetV2's classifier: MEAN, then FULLY_CONNECTED
        mean = g.op("MEAN", [m, g.const(np.array([1, 2], np.int32))], (1, C), ReducerOptions(keep_dims=False))
        outs.append(g.op("FULLY_CONNECTED", [mean, g.randn(4, C), g.randn(4)], (1, 4), FullyConnectedOptions()))
    if extra_reader:
        outs.append(g.op("RELU", [m.producer.input(0)], m.shape))  # the MUL read twice
    return g.done(outs)


def test_fuse_preactivation_batchnorm_classifier_head() -> None:
    """RELU -> MEAN -> FULLY_CONNECTED: the MUL has no conv to go to and stays, after the ADD
    that went into the previous conv (ONE's step 1 applies whatever follows)."""
    opt = check_pass(_one_block(head="fc"), "fuse_preactivation_batchnorm", {"ADD": -1, "RELU": 1})
    assert [op.type for op in opt.main.operators] == ["CONV_2D", "MUL", "RELU", "MEAN", "FULLY_CONNECTED"]


def test_fuse_preactivation_batchnorm_single_block() -> None:
    check_pass(_one_block(), "fuse_preactivation_batchnorm", {"ADD": -1, "MUL": -1, "RELU": 1})


@pytest.mark.parametrize("case", ["zero_gamma", "negative_gamma", "relu6", "no_activation", "mul_read_twice"])
def test_fuse_preactivation_batchnorm_must_not_fire(case: str) -> None:
    """A zero gamma (ONE divides by 1e-10 instead, which changes the result) or a negative one
    (RELU(g * y) is not g * RELU(y)); another activation; the MUL read elsewhere."""
    gamma = np.linspace(0.5, 1.5, C)
    if case == "zero_gamma":
        gamma[2] = 0
    elif case == "negative_gamma":
        gamma[2] = -0.5
    act = {"relu6": Act.RELU6, "no_activation": Act.NONE}.get(case, Act.RELU)
    check_unchanged(_one_block(gamma, act, extra_reader=case == "mul_read_twice"), "fuse_preactivation_batchnorm")


# --------------------------------------------------------------------------- fuse_slice_with_tconv


def _tconv_slice(begin, size, *, padding=Padding.VALID, full=(1, 9, 9, 6), bias=True, act=Act.NONE,
                 read_twice=False):
    """TRANSPOSE_CONV (stride 2, 3x3) of x [N, 4, 4, 3] to `full`, then SLICE(begin, size)."""
    g = Graph()
    x = g.input("x", (full[0], 4, 4, 3))
    inputs = [g.const(np.array(full, np.int32)), g.randn(full[3], 3, 3, 3), x] + ([g.randn(full[3])] if bias else [])
    y = g.op("TRANSPOSE_CONV", inputs, full, TransposeConvOptions(padding, 2, 2, act))
    out_shape = [f - b if s == -1 else s for b, s, f in zip(begin, size, full)]
    s = g.op("SLICE", [y, g.const(np.array(begin, np.int32)), g.const(np.array(size, np.int32))], out_shape,
             SliceOptions())
    return g.done([s, y] if read_twice else [s])


@pytest.mark.parametrize(("begin", "size", "padding", "full", "bias", "want"), [
    # PyTorch's ConvTranspose2d(padding=1): the full VALID result cropped by 1 is SAME
    ([0, 1, 1, 0], [1, 7, 7, 6], Padding.VALID, (1, 9, 9, 6), True, Padding.SAME),
    # the first 8 rows and columns (sizes -1: to the end), no bias: VALID pads 0 too, but from
    # an output of 8 it takes an input of 3 (LiteRT checks); SAME pads 0 and takes 4
    ([0, 0, 0, 0], [-1, 8, 8, -1], Padding.VALID, (1, 9, 9, 6), False, Padding.SAME),
    # channels 2..4 too: the filter and the bias are sliced
    ([0, 1, 1, 2], [1, 7, 7, 3], Padding.VALID, (1, 9, 9, 6), True, Padding.SAME),
    # a SAME transposed convolution (padding 0 of 8) cropped by 1: SAME of 7 pads 1
    ([0, 1, 1, 0], [1, 7, 7, 6], Padding.SAME, (1, 8, 8, 6), True, Padding.SAME),
])
def test_fuse_slice_with_tconv(begin, size, padding, full, bias, want) -> None:
    model = _tconv_slice(begin, size, padding=padding, full=full, bias=bias, act=Act.RELU)
    opt = check_pass(model, "fuse_slice_with_tconv", {"SLICE": -1})
    (tconv,) = opt.main.operators
    assert tconv.options.padding == want and tconv.options.fused_activation_function == Act.RELU
    assert tconv.outputs[0].name == model.main.outputs[0].name
    assert tconv.input(0).data.tolist() == list(tconv.outputs[0].shape)
    assert tconv.input(1).shape[0] == tconv.outputs[0].shape[3]


@pytest.mark.parametrize("case", ["offset_not_a_padding", "same_padding_ignored_by_one", "batch", "read_twice",
                                  "begin_at_run_time"])
def test_fuse_slice_with_tconv_must_not_fire(case: str) -> None:
    """A crop no padding gives; one ONE would take for VALID from its begin alone (0) although
    the SAME transposed convolution already pads by 1 (the result would move by a row); a crop
    of the batch; the transposed convolution read elsewhere; a begin computed at run time."""
    if case == "offset_not_a_padding":
        model = _tconv_slice([0, 1, 1, 0], [1, 8, 8, 6])
    elif case == "same_padding_ignored_by_one":
        model = _tconv_slice([0, 0, 0, 0], [1, 6, 6, 6], padding=Padding.SAME, full=(1, 7, 7, 6))
    elif case == "batch":
        model = _tconv_slice([1, 1, 1, 0], [1, 7, 7, 6], full=(2, 9, 9, 6))
    elif case == "read_twice":
        model = _tconv_slice([0, 1, 1, 0], [1, 7, 7, 6], read_twice=True)
    else:
        g = Graph()
        x, begin = g.input("x", (1, 4, 4, 3)), g.input("begin", (4,), DType.INT32)
        y = g.op("TRANSPOSE_CONV", [g.const(np.array([1, 9, 9, 6], np.int32)), g.randn(6, 3, 3, 3), x, g.randn(6)],
                 (1, 9, 9, 6), TransposeConvOptions(Padding.VALID, 2, 2))
        s = g.op("SLICE", [y, begin, g.const(np.array([1, 7, 7, 6], np.int32))], (1, 7, 7, 6), SliceOptions())
        model = g.done([s])
    check_unchanged(model, "fuse_slice_with_tconv")
