"""Sampling, signal, ml and the other composed converters (sampling.py, signal.py, misc.py, ml.py) on
what the ONNX backend suite leaves out: every GridSample mode and padding on points outside the
image, batch dimensions unknown at import, parameters given as constants or at run time, groups
and overlapping windows, repeated values. Each model runs on our runtime and on onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import one_core
from one_core.errors import UnsupportedOperatorError

import onnx_compare

RNG = np.random.default_rng(11)
ML = "ai.onnx.ml"


def floats(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class Case:
    """A one-node ONNX model: inputs fed at run time or given as initializers."""

    def __init__(self, opset: int = 22, ml: int | None = None) -> None:
        self.opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(ML, ml)] if ml else [])
        self.inputs: list[onnx.ValueInfoProto] = []
        self.feeds: list[np.ndarray] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: list[str] = []

    def feed(self, value: np.ndarray, dims: Sequence[Any] | None = None) -> Case:
        """An input fed at run time; `dims` declares its shape (strings: unknown at import)."""
        name = f"in{len(self.names)}"
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape) if dims is None else dims))
        self.feeds.append(value)
        self.names.append(name)
        return self

    def const(self, value: Any) -> Case:
        name = f"in{len(self.names)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        self.names.append(name)
        return self

    def skip(self) -> Case:
        """An omitted optional input."""
        self.names.append("")
        return self

    def run(self, op: str, outputs: int = 1, domain: str = "", tol: float = 1e-5, reference: bool = False,
            **attrs: Any) -> one_core.Model:
        """Ours equals onnxruntime (or ONNX's reference implementation): floats within `tol` of the
        output's scale, the rest exactly."""
        names = [f"y{i}" for i in range(outputs)]
        node = helper.make_node(op, self.names, names, domain=domain, **attrs)
        graph = helper.make_graph([node], "g", self.inputs, [helper.make_tensor_value_info(n, TensorProto.UNDEFINED,
                                                                                         None) for n in names],
                                  self.inits)
        model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=self.opsets, ir_version=10))
        return onnx_compare.assert_matches(model, self.feeds, tol, reference)


# --- sampling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_modes_outside_the_image(mode: str, padding: str, align: int) -> None:
    """Cubic with border padding: onnxruntime clamps each tap (as PyTorch); ONNX clamps the point,
    so a point outside reads the border value itself, as its specification says."""
    grid = RNG.uniform(-1.6, 1.6, (2, 4, 5, 2)).astype(np.float32)
    grid[0, 0, :3] = [[-1, -1], [1, 1], [0.5, -0.25]]  # on the borders and pixel centres
    Case().feed(floats(2, 3, 5, 6)).feed(grid, ["N", 4, 5, 2]).run(
        "GridSample", mode=mode, padding_mode=padding, align_corners=align, tol=1e-4,
        reference=(mode, padding) == ("cubic", "border"))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_grid_sample_volumetric(mode: str) -> None:
    grid = RNG.uniform(-1.2, 1.2, (1, 2, 3, 4, 3)).astype(np.float32)
    Case().feed(floats(1, 2, 3, 4, 5)).feed(grid).run("GridSample", mode=mode, padding_mode="border")


def test_grid_sample_opset_16_names() -> None:
    grid = RNG.uniform(-1, 1, (1, 3, 3, 2)).astype(np.float32)
    Case(16).feed(floats(1, 2, 4, 4)).feed(grid).run("GridSample", mode="bicubic", tol=1e-4)


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 4, 5], [1, 1, 3, 4, 2]])
def test_affine_grid_constant_size(align: int, size: list[int]) -> None:
    k = len(size) - 2
    Case(20).feed(floats(size[0], k, k + 1)).const(np.array(size, np.int64)).run("AffineGrid", align_corners=align)


def test_affine_grid_float16() -> None:
    Case(20).feed(floats(2, 2, 3).astype(np.float16)).feed(np.array([2, 1, 3, 4], np.int64)).run(
        "AffineGrid", tol=2e-3)


@pytest.mark.parametrize("masked", [False, True])
def test_deform_conv_groups_strides_dilations(masked: bool) -> None:
    case = Case().feed(floats(2, 4, 7, 6)).feed(floats(6, 2, 3, 2)).feed(floats(2, 2 * 6 * 2, 3, 3, scale=1.5))
    case.feed(floats(6)) if masked else case.skip()
    if masked:
        case.feed(RNG.uniform(0, 1, (2, 2 * 6, 3, 3)).astype(np.float32))
    case.run("DeformConv", group=2, offset_group=2, strides=[2, 3], dilations=[2, 1], pads=[1, 0, 1, 2],
             kernel_shape=[3, 2], tol=1e-4)


def test_col2im_constant_shapes() -> None:
    Case().feed(floats(2, 2 * 6, 9)).const(np.array([5, 6], np.int64)).const(np.array([2, 3], np.int64)).run(
        "Col2Im", strides=[2, 1], pads=[1, 0, 0, 1], dilations=[1, 2])


def test_max_unpool_overlapping_windows() -> None:
    """MaxPool indices of overlapping windows repeat; the pool runs in onnxruntime."""
    x = floats(2, 3, 5, 5)
    pool = helper.make_node("MaxPool", ["x"], ["v", "i"], kernel_shape=[3, 3], strides=[1, 1])
    graph = helper.make_graph([pool], "p", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("i", TensorProto.INT64, None)])
    session = onnxruntime.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
                                           .SerializeToString(), providers=["CPUExecutionProvider"])
    values, indices = session.run(None, {"x": x})
    Case().feed(values).feed(indices).run("MaxUnpool", kernel_shape=[3, 3], strides=[1, 1])
    # onnxruntime reads the indices in the output_shape; ONNX in the inferred shape, then pads
    Case().feed(values, ["N", 3, 3, 3]).feed(indices, ["N", 3, 3, 3]).const(np.array([2, 3, 6, 7], np.int64)).run(
        "MaxUnpool", kernel_shape=[3, 3], strides=[1, 1], reference=True)


# --- misc -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [np.array([3, 9], np.int64), np.array([8, 2], np.int64)])
def test_center_crop_pad_run_time_shape_and_dims(shape: np.ndarray) -> None:
    Case().feed(floats(2, 6, 5), [2, "H", "W"]).feed(shape).run("CenterCropPad", axes=[-2, 2])
    Case().feed(floats(2, 6, 5)).const(shape).run("CenterCropPad", axes=[1, 2])


@pytest.mark.parametrize("n", [1, 3, 4])
def test_det_pivots_and_singular_matrices(n: int) -> None:
    x = floats(5, n, n)
    x[1] = 0  # singular
    x[2, 0] = 0  # a zero first pivot
    x[3, :, 0] = 0
    Case().feed(x, ["B", n, n]).run("Det", tol=1e-4)


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
def test_cum_prod_float_and_run_time_axis(exclusive: int, reverse: int) -> None:
    x = RNG.uniform(0.5, 1.5, (3, 7)).astype(np.float32)
    Case(26).feed(x).const(np.array(-1, np.int64)).run("CumProd", exclusive=exclusive, reverse=reverse)
    ints = RNG.integers(-3, 4, (3, 6)).astype(np.int64)
    for axis in (0, -1):
        Case(26).feed(ints).feed(np.array(axis, np.int32)).run("CumProd", exclusive=exclusive, reverse=reverse)


@pytest.mark.parametrize("sort", [0, 1])
def test_unique_repeated_values(sort: int) -> None:
    ints = RNG.integers(-3, 4, (4, 5)).astype(np.int64)
    Case().feed(ints).run("Unique", outputs=4, sorted=sort)
    rows = RNG.integers(0, 2, (2, 6, 3)).astype(np.float32)
    Case().feed(rows).run("Unique", outputs=4, sorted=sort, axis=1)


def test_compress_constant_and_run_time_conditions() -> None:
    x = floats(4, 3)
    Case().feed(x).const(np.array([True, False, True])).run("Compress", axis=1)
    Case().feed(x).feed(np.array([False, True, True, False])).run("Compress", axis=-2)


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter_axis_and_default_indices(mode: str) -> None:
    Case(24).feed(floats(2, 5, 3, 2)).feed(floats(2, 2, 3, 2)).feed(np.array([3, 1], np.int64)).run(
        "TensorScatter", axis=1, mode=mode)
    Case(24).feed(floats(2, 3, 6)).feed(floats(2, 3, 4)).run("TensorScatter", axis=-1, mode=mode)


def test_bit_cast_float16_and_bytes() -> None:
    Case(26).feed(floats(2, 3).astype(np.float16)).run("BitCast", to=TensorProto.INT16)
    Case(26).feed(RNG.integers(0, 255, (5,)).astype(np.uint8)).run("BitCast", to=TensorProto.INT8)


# --- signal -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_windows_run_time_size_and_types(op: str) -> None:
    Case(17).feed(np.array(16, np.int64)).run(op, periodic=0)
    Case(17).feed(np.array(7, np.int32)).run(op, output_datatype=TensorProto.FLOAT16, tol=1e-3)


def test_mel_weight_matrix_parameters() -> None:
    case = Case(17).feed(np.array(10, np.int64)).feed(np.array(64, np.int64)).feed(np.array(16000, np.int64))
    case.feed(np.array(100, np.float32)).feed(np.array(6000, np.float32)).run("MelWeightMatrix")


# --- ml ---------------------------------------------------------------------------------------------


def test_binarizer_and_array_feature_extractor() -> None:
    Case(ml=1).feed(floats(4, 5)).run("Binarizer", domain=ML, threshold=0.5)
    Case(ml=1).feed(RNG.integers(-3, 3, (4, 5)).astype(np.int64)).run("Binarizer", domain=ML, threshold=0.5,
                                                                      reference=True)
    Case(ml=1).feed(floats(6)).feed(np.array([[4, 0, 4]], np.int64)).run("ArrayFeatureExtractor", domain=ML)
    Case(ml=1).feed(floats(2, 3, 6), ["N", 3, 6]).const(np.array([5, 1], np.int64)).run(
        "ArrayFeatureExtractor", domain=ML)


def _tree_attrs(aggregate: int) -> dict[str, Any]:
    """Two trees over 3 features: every comparison mode, a set membership, missing values going true."""
    return dict(
        nodes_featureids=[0, 1, 2, 1, 2, 0],
        nodes_modes=numpy_helper.from_array(np.array([0, 3, 6, 1, 4, 2], np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([0.1, -0.3, np.nan, 0.7, 1.0, -0.2], np.float32)),
        nodes_truenodeids=[1, 0, 2, 4, 1, 3], nodes_trueleafs=[0, 1, 1, 0, 1, 1],
        nodes_falsenodeids=[2, 1, 3, 5, 4, 5], nodes_falseleafs=[0, 1, 1, 1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 1, 0],
        membership_values=numpy_helper.from_array(np.array([1.0, 2.0, np.nan], np.float32)),
        leaf_targetids=[0, 1, 1, 0, 1, 0],
        leaf_weights=numpy_helper.from_array(np.array([1.5, -2.0, 3.25, 0.5, 7.0, -1.0], np.float32)),
        tree_roots=[0, 3], n_targets=2, aggregate_function=aggregate, post_transform=0)


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
def test_tree_ensemble_modes_and_aggregates(aggregate: int) -> None:
    x = np.round(floats(16, 3), 1)
    x[:4, 2] = [1.0, 2.0, 3.0, np.nan]
    x[4:7, 0] = [np.nan, 0.1, np.float32(0.1) + 1e-7]
    x[7, 1] = 0.7
    Case(ml=5).feed(x, ["N", 3]).run("TreeEnsemble", domain=ML, **_tree_attrs(aggregate))


def _tfidf_attrs(mode: str) -> dict[str, Any]:
    return dict(mode=mode, min_gram_length=1, max_gram_length=3, max_skip_count=2, ngram_counts=[0, 3, 7],
                ngram_indexes=[4, 0, 2, 1, 3, 6, 5], pool_int64s=[2, 3, 5, 4, 5, 6, 7, 5, 6, 4, 5, 6, 7],
                weights=[0.5, 1.0, 2.0, 0.25, 1.5, 3.0, 0.75])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
def test_tfidf_vectorizer_trigrams_and_weights(mode: str) -> None:
    x = RNG.integers(2, 8, (3, 10)).astype(np.int64)
    Case(9).feed(x, ["N", 10]).run("TfIdfVectorizer", **_tfidf_attrs(mode))
    Case(9).feed(x[0].astype(np.int32)).run("TfIdfVectorizer", **_tfidf_attrs(mode))


def test_unsupported_reasons() -> None:
    case = Case().feed(floats(1, 2, 3, 3), [1, 2, "H", "W"]).feed(floats(1, 2, 2, 2))
    with pytest.raises(UnsupportedOperatorError, match="spatial dimensions of the input must be known"):
        one_core.load(onnx.shape_inference.infer_shapes(helper.make_model(helper.make_graph(
            [helper.make_node("GridSample", case.names, ["y"])], "g", case.inputs,
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=case.opsets)))
