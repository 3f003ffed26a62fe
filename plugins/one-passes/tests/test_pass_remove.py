"""Removing operators that do nothing or cancel."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import Graph, check_pass, check_unchanged, counts, tf_model

import one_core
from one_core.ir import DType, Quantization
from one_core.ir.options import (
    AddOptions,
    FakeQuantOptions,
    ReshapeOptions,
    SliceOptions,
    SplitOptions,
    SplitVOptions,
    StridedSliceOptions,
    TransposeOptions,
)


def _i32(*values: int) -> np.ndarray:
    return np.array(values, np.int32)


def _reshape(g: Graph, x, shape, **kw):
    return g.op("RESHAPE", [x, g.const(_i32(*shape))], tuple(d if d >= 0 else 1 for d in shape),
                ReshapeOptions(list(shape)), **kw)


def _transpose(g: Graph, x, perm):
    return g.op("TRANSPOSE", [x, g.const(_i32(*perm))], tuple(x.shape[p] for p in perm), TransposeOptions())


def test_remove_redundant_reshape() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4))
    r = _reshape(g, _reshape(g, x, (6, 4)), (4, 6))
    model = g.done([g.op("RELU", [r], r.shape)])
    opt = check_pass(model, "remove_redundant_reshape", {"RESHAPE": -1})
    assert opt.main.operators[0].input(0) is opt.main.inputs[0]


def test_remove_redundant_reshape_keeps_a_first_reshape_read_elsewhere() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4))
    first = _reshape(g, x, (6, 4))
    model = g.done([_reshape(g, first, (4, 6)), g.op("RELU", [first], first.shape)])
    check_pass(model, "remove_redundant_reshape", {})  # rewired, nothing removed


def test_remove_redundant_transpose_cancelling() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4, 5))
    t = _transpose(g, _transpose(g, x, (0, 2, 3, 1)), (0, 3, 1, 2))
    model = g.done([g.op("RELU", [t], t.shape)])
    check_pass(model, "remove_redundant_transpose", {"TRANSPOSE": -2})


def test_remove_redundant_transpose_merging() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4, 5))
    t = _transpose(g, _transpose(g, x, (0, 2, 3, 1)), (0, 2, 1, 3))
    model = g.done([t])  # the model output keeps its name through the merge
    opt = check_pass(model, "remove_redundant_transpose", {"TRANSPOSE": -1})
    assert opt.main.outputs[0].name == model.main.outputs[0].name


def test_remove_redundant_transpose_at_the_output_of_a_tensorflow_model() -> None:
    """The converter itself merges tf.transpose(tf.transpose(x)) into one TRANSPOSE; the pass
    finds nothing more to do there."""

    def transposes(x):
        import tensorflow as tf

        return tf.transpose(tf.transpose(x, [0, 2, 1, 3]), [0, 3, 1, 2])

    model = one_core.load(tf_model(transposes, [((1, 4, 5, 3), np.float32)]))
    assert counts(model) == {"TRANSPOSE": 1}
    check_unchanged(model, "remove_redundant_transpose")


def test_remove_redundant_transpose_keeps_a_first_transpose_read_elsewhere() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4, 5))
    first = _transpose(g, x, (0, 2, 3, 1))
    model = g.done([_transpose(g, first, (0, 2, 1, 3)), first])
    check_unchanged(model, "remove_redundant_transpose")


def test_remove_unnecessary_reshape() -> None:
    g = Graph()
    x = g.input("x", (2, 6), signature=(-1, 6))
    r = g.op("RESHAPE", [x, g.const(_i32(-1, 6))], (2, 6), ReshapeOptions([-1, 6]), signature=(-1, 6))
    model = g.done([g.op("RELU", [r], r.shape, signature=(-1, 6))])
    check_pass(model, "remove_unnecessary_reshape", {"RESHAPE": -1})


def test_remove_unnecessary_reshape_at_a_model_output() -> None:
    """The RESHAPE writes the model's output: its input's producer takes the output over."""
    g = Graph()
    x = g.input("x", (2, 6))
    y = g.op("RELU", [x], (2, 6))
    model = g.done([_reshape(g, y, (2, 6))])
    opt = check_pass(model, "remove_unnecessary_reshape", {"RESHAPE": -1})
    assert opt.main.outputs[0].name == model.main.outputs[0].name


def test_remove_unnecessary_reshape_must_not_fire() -> None:
    """A real reshape, and an identity from input to output (no producer to take over)."""
    g = Graph()
    x = g.input("x", (2, 6))
    a = _reshape(g, x, (3, 4))
    b = _reshape(g, x, (2, 6))
    check_unchanged(g.done([a, b]), "remove_unnecessary_reshape")


def test_remove_unnecessary_slice() -> None:
    g = Graph()
    x = g.input("x", (3, 4))
    s = g.op("SLICE", [x, g.const(_i32(0, 0)), g.const(_i32(-1, 4))], (3, 4), SliceOptions())
    partial = g.op("SLICE", [x, g.const(_i32(0, 1)), g.const(_i32(-1, 3))], (3, 3), SliceOptions())
    model = g.done([g.op("RELU", [s], s.shape), partial])
    check_pass(model, "remove_unnecessary_slice", {"SLICE": -1})


def _ss(g: Graph, x, begin, end, strides, shape, **masks):
    return g.op("STRIDED_SLICE", [x, g.const(_i32(*begin)), g.const(_i32(*end)), g.const(_i32(*strides))],
                shape, StridedSliceOptions(**masks))


def test_remove_unnecessary_strided_slice() -> None:
    g = Graph()
    x = g.input("x", (3, 4))
    whole = _ss(g, x, (0, 0), (3, 2**31 - 1), (1, 1), (3, 4))
    masked = _ss(g, x, (2, 1), (0, 0), (1, 1), (3, 4), begin_mask=3, end_mask=3)
    keep = [_ss(g, x, (0, 0), (3, 4), (1, 2), (3, 2)),   # strided
            _ss(g, x, (0, 0), (3, -1), (1, 1), (3, 3)),  # stops before the last column
            _ss(g, x, (1, 0), (3, 4), (1, 1), (2, 4))]   # starts later
    model = g.done([g.op("RELU", [whole], (3, 4)), g.op("RELU", [masked], (3, 4)), *keep])
    check_pass(model, "remove_unnecessary_strided_slice", {"STRIDED_SLICE": -2})


@pytest.mark.parametrize("kind", ["SPLIT", "SPLIT_V"])
def test_remove_unnecessary_split(kind: str) -> None:
    g = Graph()
    x = g.input("x", (3, 4))
    if kind == "SPLIT":
        s = g.op("SPLIT", [g.const(np.int32(1)), x], (3, 4), SplitOptions(1))
    else:
        s = g.op("SPLIT_V", [x, g.const(_i32(4)), g.const(np.int32(1))], (3, 4), SplitVOptions(1))
    two = g.op("SPLIT", [g.const(np.int32(1)), x], [(3, 2), (3, 2)], SplitOptions(2), outputs=2)
    model = g.done([g.op("RELU", [s], (3, 4)), *two])
    check_pass(model, "remove_unnecessary_split", {kind: -1})


def test_remove_unnecessary_split_tensorflow() -> None:
    def split_one(x):
        import tensorflow as tf

        return tf.split(x, 1, axis=1)[0] * 2.0

    model = one_core.load(tf_model(split_one, [((3, 4), np.float32)]))
    assert counts(model)["SPLIT"] == 1
    check_pass(model, "remove_unnecessary_split", {"SPLIT": -1})


def test_remove_unnecessary_transpose() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4))
    t = _transpose(g, x, (0, 1, 2))
    model = g.done([g.op("RELU", [t], t.shape), _transpose(g, x, (0, 2, 1))])
    check_pass(model, "remove_unnecessary_transpose", {"TRANSPOSE": -1})


def test_remove_unnecessary_add() -> None:
    g = Graph()
    x = g.input("x", (2, 3))
    a = g.op("ADD", [x, g.const(np.zeros(3, np.float32))], (2, 3), AddOptions())
    keep = [g.op("ADD", [x, g.const(np.zeros((4, 2, 3), np.float32))], (4, 2, 3), AddOptions()),  # broadcasts
            g.op("ADD", [x, g.const(np.full(3, 1e-30, np.float32))], (2, 3), AddOptions())]
    model = g.done([g.op("RELU", [a], (2, 3)), *keep])
    check_pass(model, "remove_unnecessary_add", {"ADD": -1})


def test_remove_unnecessary_add_keeps_integer_and_activation() -> None:
    from one_core.ir.options import ActivationFunctionType as Act

    g = Graph()
    x = g.input("x", (2, 3))
    i = g.input("i", (2, 3), DType.INT32)
    model = g.done([g.op("ADD", [x, g.const(np.zeros(3, np.float32))], (2, 3), AddOptions(Act.RELU)),
                    g.op("ADD", [i, g.const(np.zeros(3, np.int32))], (2, 3), AddOptions(), DType.INT32)])
    check_unchanged(model, "remove_unnecessary_add")


# ------------------------------------------------------------------------------ quantization


def _quantized(g: Graph, x, scale: float, dtype: DType = DType.INT8):
    q = g.op("QUANTIZE", [x], x.shape, dtype=dtype)
    q.quantization = Quantization(np.array([scale], np.float32), np.array([0], np.int64))
    return q


def test_remove_quantdequant() -> None:
    g = Graph()
    x = g.input("x", (2, 8))
    d = g.op("DEQUANTIZE", [_quantized(g, x, 0.05)], x.shape)
    model = g.done([g.op("RELU", [d], x.shape)])
    check_pass(model, "remove_quantdequant", {"QUANTIZE": -1, "DEQUANTIZE": -1},
               reference=lambda xs: [np.maximum(xs[0], 0)], litert=False)


def test_remove_quantdequant_must_not_fire_on_a_quantized_source() -> None:
    g = Graph()
    x = g.input("x", (2, 8))
    q = _quantized(g, _quantized(g, x, 0.05), 0.1)
    check_unchanged(g.done([g.op("DEQUANTIZE", [q], x.shape)]), "remove_quantdequant")


def test_remove_redundant_quantize_same_parameters() -> None:
    g = Graph()
    q = _quantized(g, g.input("x", (2, 8)), 0.05)
    model = g.done([g.op("DEQUANTIZE", [_quantized(g, q, 0.05)], q.shape)])
    check_pass(model, "remove_redundant_quantize", {"QUANTIZE": -1})


def test_remove_redundant_quantize_consecutive() -> None:
    """QUANTIZE(QUANTIZE(x)) quantizes x once, with the last parameters (one rounding instead
    of two: compared with that, not with the original)."""
    g = Graph()
    x = g.input("x", (2, 8))
    q = _quantized(g, _quantized(g, x, 0.02, DType.INT16), 0.05)
    model = g.done([g.op("DEQUANTIZE", [q], x.shape)])

    def reference(xs):
        v = xs[0] / np.float32(0.05)
        return [np.clip(np.trunc(v + np.copysign(0.5, v)), -128, 127).astype(np.float32) * np.float32(0.05)]

    check_pass(model, "remove_redundant_quantize", {"QUANTIZE": -1}, reference=reference, litert=False)


def test_remove_redundant_quantize_must_not_fire_on_new_parameters() -> None:
    g = Graph()
    q = g.input("q", (2, 8), DType.INT8)
    q.quantization = Quantization(np.array([0.05], np.float32), np.array([0], np.int64))
    check_unchanged(g.done([g.op("DEQUANTIZE", [_quantized(g, q, 0.1)], q.shape)]), "remove_redundant_quantize")


def _fake_quant(g: Graph, x):
    return g.op("FAKE_QUANT", [x], x.shape, FakeQuantOptions(min=-1.0, max=1.0, num_bits=8))


@pytest.mark.parametrize("output", [False, True])
def test_remove_fakequant(output: bool) -> None:
    """The readers read the input; as a model output, its producer writes it. Not exact: the
    rounding and the clamp to [-1, 1] go (compared with that, not with the original)."""
    g = Graph()
    x = g.input("x", (2, 8))
    if output:
        model = g.done([_fake_quant(g, g.op("RELU", [x], x.shape))])
    else:
        model = g.done([g.op("RELU", [_fake_quant(g, x)], x.shape)])
    opt = check_pass(model, "remove_fakequant", {"FAKE_QUANT": -1},
                     reference=lambda xs: [np.maximum(xs[0], 0)], litert=False)
    assert opt.main.outputs[0].name == model.main.outputs[0].name


def test_remove_fakequant_must_not_fire_between_input_and_output() -> None:
    """No operator is left to write the output tensor (its name must survive)."""
    g = Graph()
    x = g.input("x", (2, 8))
    check_unchanged(g.done([_fake_quant(g, x)]), "remove_fakequant")
