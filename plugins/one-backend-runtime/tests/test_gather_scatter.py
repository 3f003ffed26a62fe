"""GATHER, GATHER_ND, SCATTER_ND, ONE_HOT, WHERE and DENSIFY against LiteRT's reference kernels.

DENSIFY is checked two ways: on the model zoo's sparse model (every densified constant equals
what LiteRT computes inside that model) and on block-sparse encodings written out by hand in
the TACO format, as in TFLite's own format-converter tests."""

from __future__ import annotations

import modelzoo
import numpy as np
import pytest
from opharness import check, run_ours, tflite_model
from test_shape_ops import QUANT, assert_ops, one_op_model, same, tensor

import one_core
from one_core.errors import OneError
from one_core.ir import DimensionMetadata, DType, Sparsity, Tensor
from one_core.ir import options as opt


def gathers(x):
    import tensorflow as tf

    idx = tf.constant([[1, 4, 0], [2, 2, 3], [0, 1, 1], [4, 3, 2]])
    return (
        tf.gather(x, [3, 0, 0, 2], axis=0),
        tf.gather(x, [[1, 4], [0, 2]], axis=1),
        tf.gather(x, [5, 1], axis=-1),
        tf.gather(x, idx, axis=1, batch_dims=1),
        tf.gather(x, idx[:, :2], axis=-2, batch_dims=-1),
        tf.gather_nd(x, [[0, 1], [3, 4], [3, 4]]),
        tf.gather_nd(x, [[[1, 2, 3]], [[0, 0, 5]]]),
        tf.gather_nd(x, [[2]]),
    )


@pytest.mark.parametrize("quantize", QUANT)
def test_gather_and_gather_nd(quantize) -> None:
    path = tflite_model(gathers, [((4, 5, 6), np.float32)], quantize=quantize)
    assert_ops(path, {"GATHER", "GATHER_ND"})
    check(path)


def dynamic_gather(x, idx):
    import tensorflow as tf

    return tf.gather(x, idx, axis=1), tf.gather_nd(x, tf.stack([idx, idx], axis=-1))


def test_gather_with_index_inputs() -> None:
    path = tflite_model(dynamic_gather, [((6, 6), np.float32), ((2, 3), np.int32)])
    assert_ops(path, {"GATHER", "GATHER_ND"})
    check(path, seed=1)


def test_gather_out_of_range_is_an_error(tmp_path) -> None:
    p = one_op_model(tmp_path / "g.tflite", "GATHER", [tensor("x", np.float32, (3, 2)), tensor("i", np.int32, (2,))],
                     [tensor("y", np.float32, (2, 2))], opt.GatherOptions(axis=0))
    with pytest.raises(OneError, match="out of range"):
        run_ours(p, [np.zeros((3, 2), np.float32), np.array([0, -1], np.int32)])


def scatters(updates):
    import tensorflow as tf

    return (
        tf.scatter_nd([[1], [3], [1]], updates, [5, 4]),  # index 1 twice: the updates add up
        tf.scatter_nd([[0, 2], [1, 1], [0, 2]], updates, [2, 3, 4]),
    )


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_scatter_nd(quantize) -> None:
    path = tflite_model(scatters, [((3, 4), np.float32)], quantize=quantize)
    assert_ops(path, {"SCATTER_ND"})
    check(path)


def test_scatter_nd_integer_and_dynamic_shape(tmp_path) -> None:
    ins = [tensor("i", np.int32, (4, 2)), tensor("u", np.int32, (4,)), tensor("s", np.int32, (2,))]
    p = one_op_model(tmp_path / "s.tflite", "SCATTER_ND", ins, [tensor("y", np.int32, (1,))])
    same(p, [np.array([[0, 1], [2, 2], [0, 1], [1, 0]], np.int32), np.array([5, -3, 7, 11], np.int32),
             np.array([3, 4], np.int32)])


def one_hots(idx):
    import tensorflow as tf

    return (
        tf.one_hot(idx, 6),
        tf.one_hot(idx, 4, on_value=2.5, off_value=-1.0, axis=0),
        tf.one_hot(idx, 5, on_value=7, off_value=3, axis=1, dtype=tf.int32),
    )


def test_one_hot() -> None:
    path = tflite_model(one_hots, [((2, 3), np.int32)])
    assert_ops(path, {"ONE_HOT"})
    check(path)
    check(path, inputs=[np.array([[0, 5, -1], [7, 3, 1]], np.int32)])  # out of range: all off


def wheres(mask, x):
    import tensorflow as tf

    return tf.where(mask), tf.where(tf.reshape(mask, [-1])), tf.reverse(x, [1])


def test_where_coordinates() -> None:
    path = tflite_model(wheres, [((3, 4, 2), np.bool_), ((3, 4, 2), np.float32)])
    assert_ops(path, {"WHERE"})
    check(path, seed=2)


# --------------------------------------------------------------------------------------
# DENSIFY
# --------------------------------------------------------------------------------------


def test_densify_matches_litert_in_the_sparse_model() -> None:
    """Every DENSIFY output of the zoo's sparse model equals the tensor LiteRT computes."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from one_backend_runtime.kernels.base import OpContext
    from one_backend_runtime.kernels.gather_scatter import (
        dense_constant,
        densify,
        densify_kernel,
    )

    path = modelzoo.sparse_model()
    model = one_core.load(path)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    (d,) = it.get_input_details()
    it.set_tensor(d["index"], np.random.default_rng(0).standard_normal(d["shape"]).astype(np.float32))
    it.invoke()
    index = {id(t): i for i, t in enumerate(model.main.tensors)}
    densified = [op for op in model.main.operators if op.name == "DENSIFY"]
    assert len(densified) == 3
    for op in densified:
        want = it.get_tensor(index[id(op.outputs[0])])
        (got,) = densify_kernel(OpContext(op, None))([None])
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        assert np.count_nonzero(got) == op.inputs[0].data.size  # ~20 % of the weights kept
        # What a convolution sees as its weights at prepare time: the same dense array.
        assert dense_constant(op.outputs[0]) is got and dense_constant(op.inputs[0]) is got
    # The 1x4 block-sparse kernel goes to FULLY_CONNECTED directly: 20 % of its blocks kept.
    block = next(t for t in model.main.tensors if t.sparsity is not None and t.sparsity.block_map)
    dense = densify(block)
    np.testing.assert_array_equal(dense_constant(block), dense)
    blocks = dense.reshape(dense.shape[0], -1, 4) != 0
    assert blocks.any(-1).sum() == block.data.size // 4 and (blocks.any(-1) == blocks.all(-1)).all()


DENSE_4x4 = np.array([[1, 0, 2, 3], [0, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 6]], np.float32)


def _dim(fmt: int, size: int = 0, segments=None, indices=None, dtype=np.int32) -> DimensionMetadata:
    as_vec = (lambda v: None if v is None else np.asarray(v, dtype))
    return DimensionMetadata(fmt, size, as_vec(segments), as_vec(indices))


SPARSE_CASES = {
    # 2x2 blocks of the 4x4 matrix: block rows dense, block columns CSR, blocks dense.
    "block2x2_d0s1": (
        DENSE_4x4,
        [0, 1, 2, 3], [0, 1],
        [_dim(0, 2), _dim(1, 0, [0, 2, 3], [0, 1, 1]), _dim(0, 2), _dim(0, 2)],
        [1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6],
    ),
    # Plain CSR (uint8 index vectors): rows dense, columns sparse.
    "csr_d0s1": (
        DENSE_4x4, [0, 1], [],
        [_dim(0, 4), _dim(1, 0, [0, 3, 4, 5, 6], [0, 2, 3, 1, 2, 3], np.uint8)],
        [1, 2, 3, 4, 5, 6],
    ),
    # CSC: traversal column first (uint16 index vectors).
    "csc_d1s0": (
        DENSE_4x4, [1, 0], [],
        [_dim(0, 4), _dim(1, 0, [0, 1, 2, 4, 6], [0, 1, 0, 2, 0, 3], np.uint16)],
        [1, 4, 2, 5, 3, 6],
    ),
    # Both levels sparse: only the non-empty rows are stored.
    "sparse_rows_s0s1": (
        np.array([[0, 0, 0, 0], [7, 0, 0, 8], [0, 0, 0, 0], [0, 9, 0, 0]], np.float32), [0, 1], [],
        [_dim(1, 0, [0, 2], [1, 3]), _dim(1, 0, [0, 2, 3], [0, 3, 1])],
        [7, 8, 9],
    ),
    # 1x4 blocks along the columns of a 2x8 matrix (the fully-connected layout).
    "block1x4": (
        np.array([[1, 2, 3, 4, 0, 0, 0, 0], [0, 0, 0, 0, 5, 0, 6, 7]], np.float32),
        [0, 1, 2], [1],
        [_dim(0, 2), _dim(1, 0, [0, 1, 2], [0, 1]), _dim(0, 4)],
        [1, 2, 3, 4, 5, 0, 6, 7],
    ),
    # A 3-D tensor with 2x2 blocks on its last two dimensions.
    "block3d": (
        np.stack([DENSE_4x4, DENSE_4x4.T * 10]),
        [0, 1, 2, 3, 4], [1, 2],
        [_dim(0, 2), _dim(0, 2), _dim(1, 0, [0, 2, 3, 4, 6], [0, 1, 1, 0, 0, 1]), _dim(0, 2), _dim(0, 2)],
        [1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6, 10, 0, 0, 40, 20, 0, 30, 0, 50, 0, 0, 60],
    ),
}


@pytest.mark.parametrize("name", sorted(SPARSE_CASES))
def test_densify_hand_written_encodings(tmp_path, name) -> None:
    from one_backend_runtime.kernels.gather_scatter import densify

    dense, order, block_map, dims, values = SPARSE_CASES[name]
    sparsity = Sparsity(traversal_order=order, block_map=block_map, dim_metadata=dims)
    for dtype in (np.float32, np.int8):
        w = Tensor("w", DType.from_numpy(dtype), dense.shape, data=np.asarray(values, dtype), sparsity=sparsity)
        np.testing.assert_array_equal(densify(w), dense.astype(dtype))
        p = one_op_model(tmp_path / f"{name}-{np.dtype(dtype).name}.tflite", "DENSIFY", [w],
                         [tensor("y", dtype, dense.shape)])
        same(p, [])
