"""Shape and data-movement kernels against LiteRT's reference kernels: RESHAPE, SQUEEZE,
EXPAND_DIMS, TRANSPOSE, REVERSE_V2, CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK, SLICE,
STRIDED_SLICE, SHAPE, RANK, FILL, RANGE, ZEROS_LIKE, TILE, BROADCAST_TO.

Models come from TensorFlow (float, int8 and 16x8) where the converter emits the operator;
a few come from the IR directly (`one_op_model`) for what the converter never writes: RANK,
STRIDED_SLICE ellipsis/new-axis/offset forms, uint8 CONCATENATION with differing scales, and
the fused activation circle allows on CONCATENATION (LiteRT refuses it, so numpy is the
reference there)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from opharness import check, run_litert, run_ours, tflite_model

import one_core
from one_core.ir import DType, Model, Operator, Quantization, Subgraph, Tensor
from one_core.ir import options as opt

QUANT = [None, "int8", "int16x8"]


# --------------------------------------------------------------------------------------
# helpers (also used by test_space.py and test_gather_scatter.py)
# --------------------------------------------------------------------------------------


def assert_ops(path: Path, expected: set[str]) -> None:
    """The model uses every operator in `expected` (the converter did not fold them away)."""
    names = {op.name for _, op in one_core.load(path).operators()}
    assert expected <= names, f"expected {sorted(expected)}, the model has {sorted(names)}"


def inputs_for(path: Path, shapes: Sequence[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    """Random inputs of the given shapes (for dynamic dimensions), typed as the model wants:
    N(0, 1) floats, or reals quantized with the input's parameters."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    out = []
    for d, shape in zip(Interpreter(model_path=str(path)).get_input_details(), shapes):
        dtype = d["dtype"]
        scale, zero = d["quantization"]
        if np.issubdtype(dtype, np.floating):
            out.append(rng.standard_normal(shape).astype(dtype))
        elif scale:
            info = np.iinfo(dtype)
            q = np.round(rng.standard_normal(shape) / scale) + zero
            out.append(np.clip(q, info.min, info.max).astype(dtype))
        else:
            out.append(rng.integers(0, 5, size=shape).astype(dtype))
    return out


def tensor(name: str, dtype, shape, data=None, q: tuple[float, int] | None = None) -> Tensor:
    quant = None
    if q is not None:
        quant = Quantization(scale=np.array([q[0]], np.float32), zero_point=np.array([q[1]], np.int64))
    return Tensor(name, DType.from_numpy(dtype), tuple(shape), data=data, quantization=quant)


def one_op_model(path: Path, op: str, inputs: list[Tensor | None], outputs: list[Tensor], options=None) -> Path:
    """A .tflite file with one operator; inputs without data are the model's inputs."""
    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    for t in [*inputs, *outputs]:
        if t is not None and all(t is not s for s in sg.tensors):
            sg.add_tensor(t)
    sg.add_operator(Operator(op, inputs, outputs, options))
    sg.inputs = [t for t in inputs if t is not None and t.data is None]
    sg.outputs = list(outputs)
    one_core.save(model, path)
    return path


def same(path: Path, inputs: Sequence[np.ndarray], reference: bool = True) -> None:
    """Our outputs equal LiteRT's exactly (data movement does no arithmetic). `reference`
    False uses LiteRT's default kernels, for types its reference resolver lacks."""
    want, got = run_litert(path, inputs, reference=reference), run_ours(path, inputs)
    for w, g in zip(want, got):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(g, w)


# --------------------------------------------------------------------------------------
# RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE, REVERSE_V2, SHAPE
# --------------------------------------------------------------------------------------


def reshapes(x):
    import tensorflow as tf

    return (
        tf.reshape(x, [-1, 4]),
        tf.reshape(x, [4, 6]),
        tf.transpose(x, [3, 0, 2, 1]),
        tf.transpose(x, [0, 2, 3, 1]),
        tf.reverse(x, [-2, -1]),
        tf.reverse(x, [1]),
    )


@pytest.mark.parametrize("quantize", QUANT)
def test_reshape_transpose_reverse(quantize) -> None:
    path = tflite_model(reshapes, [((2, 3, 1, 4), np.float32)], quantize=quantize)
    assert_ops(path, {"RESHAPE", "TRANSPOSE", "REVERSE_V2"})
    check(path)


def dynamic_shapes(x):
    import tensorflow as tf

    return (
        tf.reshape(x, [-1, 4]),
        tf.squeeze(x, axis=[-2]),
        tf.squeeze(x),
        tf.expand_dims(x, 1),
        tf.expand_dims(x, -1),
        tf.transpose(x, [3, 0, 2, 1]),
        tf.reverse(x, [0]),
        tf.shape(x),
        tf.shape(x, out_type=tf.int64),
    )


def _batch_of_three(rng):
    return [rng.standard_normal((3, 3, 1, 4)).astype(np.float32)]


@pytest.mark.parametrize("quantize", QUANT)
def test_dynamic_batch(quantize) -> None:
    path = tflite_model(dynamic_shapes, [((None, 3, 1, 4), np.float32)], quantize=quantize,
                        representative=_batch_of_three)
    assert_ops(path, {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "REVERSE_V2", "SHAPE"})
    for batch in (1, 5):
        check(path, inputs=inputs_for(path, [(batch, 3, 1, 4)], seed=batch))


def test_reshape_shape_from_options_and_input(tmp_path) -> None:
    x = tensor("x", np.float32, (2, 6))
    # New shape from the options only (no shape input), with -1 inference.
    p = one_op_model(tmp_path / "a.tflite", "RESHAPE", [x], [tensor("y", np.float32, (3, 4))],
                     opt.ReshapeOptions(new_shape=[3, -1]))
    same(p, [np.arange(12, dtype=np.float32).reshape(2, 6)])
    # A dynamic shape input (a model input).
    s = tensor("s", np.int32, (3,))
    p = one_op_model(tmp_path / "b.tflite", "RESHAPE", [tensor("x", np.float32, (2, 6)), s],
                     [tensor("y", np.float32, (1, 3, 4))])
    same(p, [np.arange(12, dtype=np.float32).reshape(2, 6), np.array([-1, 2, 3], np.int32)])


def test_rank_and_squeeze_all(tmp_path) -> None:
    p = one_op_model(tmp_path / "r.tflite", "RANK", [tensor("x", np.float32, (2, 1, 3))],
                     [tensor("r", np.int32, ())])
    same(p, [np.zeros((2, 1, 3), np.float32)])
    p = one_op_model(tmp_path / "s.tflite", "SQUEEZE", [tensor("x", np.int8, (1, 2, 1, 3), q=(0.5, 3))],
                     [tensor("y", np.int8, (2, 3), q=(0.5, 3))], opt.SqueezeOptions(squeeze_dims=[]))
    same(p, [np.arange(6, dtype=np.int8).reshape(1, 2, 1, 3)])


# --------------------------------------------------------------------------------------
# CONCATENATION, PACK, UNPACK, SPLIT, SPLIT_V
# --------------------------------------------------------------------------------------


def concats(x, y):
    import tensorflow as tf

    return (tf.concat([x, y], axis=-1), tf.concat([x, y, x], axis=0), tf.concat([y, x], axis=1))


def _different_ranges(rng):
    return [rng.standard_normal((2, 3, 4)).astype(np.float32),
            4 * rng.standard_normal((2, 3, 4)).astype(np.float32)]


@pytest.mark.parametrize("quantize", QUANT)
def test_concatenation(quantize) -> None:
    path = tflite_model(concats, [((2, 3, 4), np.float32)] * 2, quantize=quantize,
                        representative=_different_ranges)
    assert_ops(path, {"CONCATENATION"})
    check(path)


def splits(x):
    import tensorflow as tf

    a, b, c = tf.split(x, 3, axis=1)
    d, e, f = tf.split(x, [1, 3, 2], axis=-1)
    g, h = tf.split(x, [2, -1], axis=1)
    parts = tf.unstack(x, axis=-2)
    return (a, b, c, d, e, f, g, h, tf.stack(parts[::-1], axis=0), tf.stack([a, c], axis=-1), parts[1])


@pytest.mark.parametrize("quantize", QUANT)
def test_split_pack_unpack(quantize) -> None:
    path = tflite_model(splits, [((2, 6, 6), np.float32)], quantize=quantize)
    assert_ops(path, {"SPLIT", "SPLIT_V", "UNPACK", "PACK"})
    check(path)


def test_split_v_with_inferred_size_and_dynamic_axis(tmp_path) -> None:
    x = tensor("x", np.float32, (2, 7))
    sizes = tensor("sizes", np.int32, (3,), np.array([2, -1, 1], np.int32))
    axis = tensor("axis", np.int32, (), np.array(-1, np.int32))
    outs = [tensor(f"y{i}", np.float32, (2, n)) for i, n in enumerate((2, 4, 1))]
    p = one_op_model(tmp_path / "sv.tflite", "SPLIT_V", [x, sizes, axis], outs, opt.SplitVOptions(num_splits=3))
    same(p, [np.arange(14, dtype=np.float32).reshape(2, 7)])


@pytest.mark.parametrize(
    "scales",
    [((0.0137, 3), (0.05, 100), (0.031, 7)), ((0.1, 128), (0.1, 120), (0.1, 128)), ((0.02, 0), (0.0031, 255), (0.0117, 17))],
)
def test_uint8_concatenation_requantizes_like_tflite(tmp_path, scales) -> None:
    """Inputs whose scale or zero point differ from the output's are rescaled with TFLite's
    float formula; every uint8 value is tried."""
    (sa, za), (sb, zb), (so, zo) = scales
    a = tensor("a", np.uint8, (1, 256), q=(sa, za))
    b = tensor("b", np.uint8, (1, 256), q=(sb, zb))
    y = tensor("y", np.uint8, (2, 256), q=(so, zo))
    p = one_op_model(tmp_path / "c.tflite", "CONCATENATION", [a, b], [y], opt.ConcatenationOptions(axis=0))
    v = np.arange(256, dtype=np.uint8).reshape(1, 256)
    same(p, [v, v[:, ::-1].copy()])


def test_concatenation_fused_activation_and_int8_rescale() -> None:
    """Circle allows a fused activation on CONCATENATION and int8 inputs of another scale
    (LiteRT refuses both), so numpy is the reference."""
    from one_backend_runtime.kernels.base import OpContext
    from one_backend_runtime.kernels.shape_ops import concatenation

    relu6 = opt.ActivationFunctionType.RELU6
    a, b = tensor("a", np.float32, (2, 3)), tensor("b", np.float32, (2, 3))
    op = Operator("CONCATENATION", [a, b], [tensor("y", np.float32, (2, 6))],
                  opt.ConcatenationOptions(axis=-1, fused_activation_function=relu6))
    xa, xb = (np.linspace(-8, 8, 6, dtype=np.float32).reshape(2, 3) * k for k in (1, -1))
    (y,) = concatenation(OpContext(op, None))([xa, xb])
    np.testing.assert_array_equal(y, np.clip(np.concatenate([xa, xb], -1), 0, 6))

    qa, qb, qo = (0.05, -3), (0.2, 10), (0.1, -20)
    a, b = tensor("a", np.int8, (1, 256), q=qa), tensor("b", np.int8, (1, 256), q=qb)
    op = Operator("CONCATENATION", [a, b], [tensor("y", np.int8, (2, 256), q=qo)],
                  opt.ConcatenationOptions(axis=0, fused_activation_function=opt.ActivationFunctionType.RELU))
    v = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    (y,) = concatenation(OpContext(op, None))([v, v])
    real = np.concatenate([(v.astype(np.float64) - qa[1]) * qa[0], (v.astype(np.float64) - qb[1]) * qb[0]])
    want = np.clip(np.round(real / qo[0]) + qo[1], qo[1], 127)  # RELU: nothing below the zero point
    assert np.abs(y.astype(np.int64) - want).max() <= 1
    assert y.dtype == np.int8 and y.min() == qo[1]


# --------------------------------------------------------------------------------------
# SLICE, STRIDED_SLICE
# --------------------------------------------------------------------------------------


def slices(x):
    import tensorflow as tf

    return (
        tf.slice(x, [1, 0, 2], [2, -1, 3]),
        x[1:3, ::2, -1],
        x[::-1, 1:, ::-2],
        x[..., 1:3],
        x[:, tf.newaxis, 2:4],
        x[-1],
        x[1:-1, 4:0:-1, :],
        x[-2:, -3:-1, 5:1:-3],
        x[0, ..., 1],
    )


@pytest.mark.parametrize("quantize", QUANT)
def test_slice_and_strided_slice(quantize) -> None:
    path = tflite_model(slices, [((4, 5, 6), np.float32)], quantize=quantize)
    assert_ops(path, {"SLICE", "STRIDED_SLICE"})
    check(path)


def dynamic_slices(x, n):
    import tensorflow as tf

    return (x[:, 1:n], tf.slice(x, [0, n], [-1, 2]), x[: tf.shape(x)[0] - 1, ::-1])


def _dynamic_slice_data(rng):
    return [rng.standard_normal((3, 8)).astype(np.float32), np.array(3, np.int32)]


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_dynamic_slices(quantize) -> None:
    path = tflite_model(dynamic_slices, [((None, 8), np.float32), ((), np.int32)], quantize=quantize,
                        representative=_dynamic_slice_data)
    assert_ops(path, {"SLICE", "STRIDED_SLICE"})
    for batch, n in ((2, 3), (5, 6)):
        x = inputs_for(path, [(batch, 8)], seed=batch)[0]
        check(path, inputs=[x, np.array(n, np.int32)])


def _strided_slice_cases():
    """(shape, begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask,
    shrink_axis_mask, offset): masks in every combination the converter leaves to the
    kernel, plus `offset` (end counted from begin). Left out, as there is nothing to match:
    cases where LiteRT writes past its output or leaves it unwritten (offset slices with
    begin or end masks or running past the end, begin_mask or a negative stride on a shrunk
    axis, empty results)."""
    rng = np.random.default_rng(7)
    shape = (5, 6, 7)
    cases = []
    for trial in range(40):
        begin = rng.integers(-8, 8, 3)
        end = rng.integers(-8, 9, 3)
        strides = rng.choice([-3, -2, -1, 1, 2, 3], 3)
        bmask, emask, smask = (int(v) for v in rng.integers(0, 8, 3))
        offset = trial % 4 == 1
        if offset:
            bmask = emask = 0
            strides = rng.choice([1, 2, 3], 3)
            begin = rng.integers(-4, 4, 3)
            for i in range(3):
                start = begin[i] + shape[i] if begin[i] < 0 else begin[i]
                end[i] = rng.integers(1, shape[i] - start + 1)
        smask = smask if trial % 3 == 0 else 0
        bmask &= ~smask
        for i in range(3):
            if smask >> i & 1:
                begin[i] = rng.integers(-shape[i], shape[i])
                strides[i] = abs(strides[i])
        cases.append((shape, begin, end, strides, bmask, emask, 0, 0, smask, offset))
    # ellipsis and new axes (TFLite expands them the way TensorFlow does)
    cases += [
        ((4, 5, 6), [0, 2], [0, 5], [1, 2], 0, 0, 1, 0, 0, False),  # x[..., 2:5:2]
        ((4, 5, 6), [1, 0], [3, 0], [1, 1], 0, 0, 2, 0, 0, False),  # x[1:3, ...]
        ((4, 5, 6), [0, 0, 2], [0, 0, 4], [1, 1, 1], 0, 0, 1, 2, 0, False),  # x[..., newaxis, 2:4]
        ((4, 5, 6), [0, 3, 1], [0, 0, 5], [1, -1, 1], 0, 0, 0, 1, 0, False),  # x[newaxis, 3:0:-1, 1:5]
        ((4, 5, 6), [0, 3, 0, 0], [0, 0, 0, 0], [1, -1, 1, 1], 9, 11, 0, 4, 0, False),  # x[:, 3::-1, newaxis, :]
        ((4, 5, 6), [2, 0, 1], [3, 0, 2], [1, 1, 1], 0, 0, 2, 0, 5, False),  # x[2, ..., 1]
        ((2, 3, 4, 5), [1, 0, -1], [2, 0, 0], [1, 1, -2], 0, 0, 2, 0, 1, False),  # x[1, ..., -1:0:-2]
    ]
    return cases


def test_strided_slice_masks_and_offset(tmp_path) -> None:
    rng = np.random.default_rng(3)
    for n, (shape, b, e, s, bm, em, elm, nam, sm, offset) in enumerate(_strided_slice_cases()):
        k = len(b)
        ins = [
            tensor("x", np.float32, shape),
            tensor("begin", np.int32, (k,), np.asarray(b, np.int32)),
            tensor("end", np.int32, (k,), np.asarray(e, np.int32)),
            tensor("strides", np.int32, (k,), np.asarray(s, np.int32)),
        ]
        options = opt.StridedSliceOptions(begin_mask=bm, end_mask=em, ellipsis_mask=elm, new_axis_mask=nam,
                                          shrink_axis_mask=sm, offset=offset)
        p = one_op_model(tmp_path / f"ss{n}.tflite", "STRIDED_SLICE", ins, [tensor("y", np.float32, (1,))], options)
        x = rng.standard_normal(shape).astype(np.float32)
        if run_ours(p, [x])[0].size == 0:
            continue  # LiteRT may crash on empty outputs
        same(p, [x])


def test_strided_slice_dynamic_begin_end(tmp_path) -> None:
    ins = [tensor("x", np.int16, (4, 6)), tensor("begin", np.int32, (2,)), tensor("end", np.int32, (2,)),
           tensor("strides", np.int32, (2,), np.array([1, -2], np.int32))]
    p = one_op_model(tmp_path / "ssd.tflite", "STRIDED_SLICE", ins, [tensor("y", np.int16, (1,))],
                     opt.StridedSliceOptions(end_mask=2))
    x = np.arange(24, dtype=np.int16).reshape(4, 6)
    same(p, [x, np.array([1, -1], np.int32), np.array([3, 0], np.int32)])
    same(p, [x, np.array([-3, 4], np.int32), np.array([-1, 0], np.int32)])


# --------------------------------------------------------------------------------------
# FILL, RANGE, ZEROS_LIKE, TILE, BROADCAST_TO
# --------------------------------------------------------------------------------------


def generators(x, n):
    import tensorflow as tf

    return (
        tf.fill(tf.shape(x), 1.5),
        tf.zeros_like(x),
        tf.range(n),
        tf.range(1, 3 * n, 2),
        tf.range(10, n, -3),
        tf.range(0.5, tf.cast(n, tf.float32), 0.3),
        tf.tile(x, [2, 3]),
        tf.broadcast_to(x[:1], [4, tf.shape(x)[0], 3]),
    )


def quantized_generators(x, n):
    import tensorflow as tf

    return (tf.zeros_like(x), tf.range(n), tf.broadcast_to(x[:1], [4, tf.shape(x)[0], 3]))


def _generators_data(rng):
    return [rng.standard_normal((2, 3)).astype(np.float32), np.array(5, np.int32)]


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_fill_range_zeros_tile_broadcast(quantize) -> None:
    # LiteRT's reference resolver has no int8 TILE (version 3); int8 FILL folds away.
    fn, ops = (generators, {"FILL", "TILE"}) if quantize is None else (quantized_generators, set())
    path = tflite_model(fn, [((None, 3), np.float32), ((), np.int32)], quantize=quantize,
                        representative=_generators_data)
    assert_ops(path, ops | {"ZEROS_LIKE", "RANGE", "BROADCAST_TO"})
    for batch, n in ((2, 4), (3, 7)):
        check(path, inputs=[inputs_for(path, [(batch, 3)], seed=n)[0], np.array(n, np.int32)])


def test_float_range_accumulates_like_tflite(tmp_path) -> None:
    """Values come from repeated float32 additions, as in TFLite, not start + i * delta."""
    ins = [tensor(n, np.float32, ()) for n in ("start", "limit", "delta")]
    p = one_op_model(tmp_path / "range.tflite", "RANGE", ins, [tensor("y", np.float32, (1,))])
    same(p, [np.float32(0.1), np.float32(1000.0), np.float32(0.7)])
    same(p, [np.float32(3.0), np.float32(-2.0), np.float32(-0.1)])


# --------------------------------------------------------------------------------------
# views and constants
# --------------------------------------------------------------------------------------


def test_views_do_not_copy_and_constants_stay_read_only(tmp_path) -> None:
    """RESHAPE and SLICE hand out views of their input; a view of a constant stays read-only."""
    from one_backend_runtime.kernels.base import OpContext
    from one_backend_runtime.kernels.shape_ops import reshape, slice_

    x = tensor("x", np.float32, (2, 6))
    shape = tensor("shape", np.int32, (2,), np.array([3, 4], np.int32))
    op = Operator("RESHAPE", [x, shape], [tensor("y", np.float32, (3, 4))])
    data = np.arange(12, dtype=np.float32).reshape(2, 6)
    (y,) = reshape(OpContext(op, None))([data, shape.data])
    assert np.shares_memory(y, data)
    const = np.arange(12, dtype=np.float32).reshape(2, 6)
    const.flags.writeable = False
    begin = tensor("b", np.int32, (2,), np.array([0, 1], np.int32))
    size = tensor("s", np.int32, (2,), np.array([-1, 2], np.int32))
    op = Operator("SLICE", [tensor("c", np.float32, (2, 6), const), begin, size], [tensor("z", np.float32, (2, 2))])
    (z,) = slice_(OpContext(op, None))([const, begin.data, size.data])
    np.testing.assert_array_equal(z, const[:, 1:3])
    assert not z.flags.writeable
