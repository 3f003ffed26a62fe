"""Shape, index, gather/scatter and resize converters on what the ONNX backend suite leaves out:
dimensions unknown at import, parameters as constants or computed at run time, negative axes and
indices, attribute forms of old opsets. Each model runs on our runtime and on onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import one_core
from one_core.errors import UnsupportedOperatorError

import onnx_compare

RNG = np.random.default_rng(7)
F32, I32 = TensorProto.FLOAT, TensorProto.INT32


class Graph:
    """A small ONNX graph: inputs with values (constant ones become initializers), nodes, outputs."""

    def __init__(self, opset: int = 17) -> None:
        self.opset = opset
        self.inputs: list[onnx.ValueInfoProto] = []
        self.feeds: list[np.ndarray] = []
        self.inits: list[onnx.TensorProto] = []
        self.nodes: list[onnx.NodeProto] = []

    def input(self, name: str, value: np.ndarray, dims: Sequence[Any] | None = None) -> str:
        """A graph input fed `value`; `dims` declares its shape (strings: unknown at import)."""
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape) if dims is None else dims))
        self.feeds.append(value)
        return name

    def const(self, name: str, value: Any) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",), **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), **attrs))

    def model(self, outputs: Sequence[str], declared: dict[str, Sequence[int]] | None = None) -> onnx.ModelProto:
        """The model; `declared` gives float outputs a shape inference could not find."""
        declared = declared or {}
        graph = helper.make_graph(self.nodes, "g", self.inputs, [
            helper.make_tensor_value_info(o, F32, declared[o]) if o in declared else
            helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8 if self.opset < 19 else 9
        return onnx.shape_inference.infer_shapes(model)

    def check(self, outputs: Sequence[str] = ("y",), tol: float = 1e-5,
              declared: dict[str, Sequence[int]] | None = None) -> one_core.Model:
        """Ours equals onnxruntime: floats within `tol` of the output's scale, the rest exactly."""
        return onnx_compare.assert_matches(self.model(outputs, declared), self.feeds, tol)


def ops_of(model: one_core.Model) -> list[str]:
    return [op.name for op in model.subgraphs[0].operators]


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# --- reshaping --------------------------------------------------------------------------------


def test_reshape_copies_a_dimension_unknown_at_import() -> None:
    g = Graph()
    g.node("Reshape", [g.input("x", floats(2, 3, 4), ["n", 3, "w"]), g.const("s", np.array([0, -1], np.int64))])
    g.check()


def test_reshape_with_a_shape_computed_at_run_time() -> None:
    g = Graph()
    x = g.input("x", floats(2, 3, 4), ["n", "c", 4])
    g.node("Reshape", [x, g.input("s", np.array([0, 0, 2, 2], np.int64))])
    g.check()
    g = Graph()
    g.node("Reshape", [g.input("x", floats(2, 0, 4), ["n", "c", 4]), g.input("s", np.array([0, 4, 2], np.int64))],
           allowzero=1)
    g.check()


def test_reshape_to_its_own_batch_dimension_needs_no_zero_check() -> None:
    """x.view(x.size(0), -1) as exported: a 0 in the shape could only copy the same dimension."""
    g = Graph(13)
    x = g.input("x", floats(2, 3, 4), ["n", 3, 4])
    g.node("Shape", [x], ["s"])
    g.node("Gather", ["s", g.const("zero", np.array(0, np.int64))], ["b"], axis=0)
    g.node("Unsqueeze", ["b", g.const("ax", np.array([0], np.int64))], ["b1"])
    g.node("Concat", ["b1", g.const("rest", np.array([-1], np.int64))], ["shape"], axis=0)
    g.node("Reshape", [x, "shape"])
    assert ops_of(g.check()) == ["SHAPE", "GATHER", "EXPAND_DIMS", "CONCATENATION", "CAST", "RESHAPE"]


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_flatten_with_unknown_dimensions(axis: int) -> None:
    g = Graph()
    g.node("Flatten", [g.input("x", floats(2, 3, 4, 5), ["n", 3, "h", "w"])], axis=axis)
    g.check()


def test_squeeze_and_unsqueeze_attribute_axes_of_opset_11() -> None:
    g = Graph(11)
    g.node("Squeeze", [g.input("x", floats(1, 3, 1, 5), [1, "c", 1, "w"])], ["s"], axes=[-2, 0])
    g.node("Unsqueeze", ["s"], ["y"], axes=[-1, 0, 2])
    model = g.check()
    assert ops_of(model) == ["SQUEEZE", "EXPAND_DIMS", "EXPAND_DIMS", "EXPAND_DIMS"]


def test_squeeze_without_axes_and_unsqueeze_with_constant_input() -> None:
    g = Graph(13)
    g.node("Squeeze", [g.input("x", floats(1, 3, 1), ["a", 3, "b"])], ["s"])
    g.node("Unsqueeze", ["s", g.const("axes", np.array([1, 0], np.int64))], ["y"])
    g.check()


def test_concat_and_split_forms() -> None:
    g = Graph(11)
    x = g.input("x", floats(2, 7), ["n", 7])
    g.node("Concat", [x, x], ["c"], axis=-1)
    g.node("Split", ["c"], ["a", "b"], axis=1, split=[5, 9])
    g.check(["a", "b"])
    g = Graph(13)
    g.node("Split", [g.input("x", floats(2, 6), ["n", "w"]), g.input("s", np.array([1, 5], np.int64))], ["a", "b"],
           axis=-1)
    g.check(["a", "b"])
    g = Graph(18)
    g.node("Split", [g.input("x", floats(3, 10))], ["a", "b", "c"], axis=1, num_outputs=3)
    g.check(["a", "b", "c"])


def test_expand_with_a_shape_computed_at_run_time() -> None:
    g = Graph()
    g.node("Expand", [g.input("x", floats(3, 1), ["n", 1]), g.input("s", np.array([2, 1, 4], np.int64))])
    g.check()


def test_tile_shape_size_of_dynamic_tensors() -> None:
    g = Graph(19)
    x = g.input("x", floats(2, 3, 4), ["n", 3, "w"])
    g.node("Tile", [x, g.input("r", np.array([1, 2, 1], np.int64))], ["t"])
    g.node("Shape", ["t"], ["s"], start=1)
    g.node("Shape", ["t"], ["s2"], start=1, end=2)
    g.node("Size", ["t"], ["n"])
    g.node("ConstantOfShape", ["s"], ["f"], value=helper.make_tensor("v", I32, [1], [7]))
    g.node("Range", [g.input("a", np.array(1, np.int64)), "n", g.input("d", np.array(5, np.int64))], ["r2"])
    model = g.check(["f", "n", "r2", "s2"])
    assert "SHAPE" in ops_of(model) and "FILL" in ops_of(model)


# --- slicing and padding --------------------------------------------------------------------------


def test_slice_attributes_of_opset_9() -> None:
    g = Graph(9)
    g.node("Slice", [g.input("x", floats(5, 6, 7))], starts=[1, -4], ends=[100, -1], axes=[2, 0])
    assert ops_of(g.check()) == ["STRIDED_SLICE"]


def test_slice_negative_steps_and_sentinels() -> None:
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    g = Graph()
    x = g.input("x", floats(5, 6, 7))
    g.node("Slice", [x, g.const("b", [-1, 1, -100]), g.const("e", [small, big, 100]),
                     g.const("a", [0, -1, 1]), g.const("st", [-2, 3, -1])])
    assert ops_of(g.check()) == ["STRIDED_SLICE"]


def test_slice_start_below_minus_dim_with_negative_step_on_unknown_dimension() -> None:
    g = Graph()
    g.node("Slice", [g.input("x", floats(4, 3), ["n", 3]), g.const("b", [-10]), g.const("e", [-20]),
                     g.const("a", [0]), g.const("st", [-1])])
    g.check()
    g = Graph()
    g.node("Slice", [g.input("x", floats(4, 3), ["n", 3]), g.const("b", [-10]), g.const("e", [3]),
                     g.const("a", [0]), g.const("st", [1])])
    g.check()


def test_slice_with_values_computed_at_run_time() -> None:
    g = Graph()
    x = g.input("x", floats(6, 5, 4), ["a", "b", 4])
    g.node("Slice", [x, g.input("b", np.array([4, -1], np.int64)), g.input("e", np.array([0, -9], np.int64)),
                     g.const("a", [0, -2]), g.input("st", np.array([-1, -2], np.int64))])
    g.check()
    g = Graph()
    x = g.input("x", floats(6, 5, 4), ["a", "b", 4])
    g.node("Slice", [x, g.input("b", np.array([1], np.int64)), g.input("e", np.array([99], np.int64)),
                     g.input("ax", np.array([-1], np.int64))])
    g.check()


def test_pad_attribute_form_and_negative_pads() -> None:
    g = Graph(2)
    g.node("Pad", [g.input("x", floats(2, 3))], pads=[1, 0, 2, 3], value=1.5)
    g.check()
    g = Graph()
    g.node("Pad", [g.input("x", floats(4, 5), ["n", 5]), g.const("p", np.array([-1, 2, 1, -2], np.int64))])
    g.check()
    g = Graph()
    g.node("Pad", [g.input("x", floats(4, 5)), g.const("p", np.array([0, -1, -2, 0], np.int64))])
    assert ops_of(g.check()) == ["STRIDED_SLICE"]
    g = Graph()
    g.node("Pad", [g.input("x", floats(4, 5)), g.const("p", np.array([1, 2, 2, 0], np.int64))], mode="reflect")
    assert ops_of(g.check()) == ["MIRROR_PAD"]


@pytest.mark.parametrize("mode", ["edge", "wrap"])
def test_gathering_pads_on_unknown_dimensions(mode: str) -> None:
    g = Graph(19)
    g.node("Pad", [g.input("x", floats(3, 4), ["n", "w"]), g.const("p", np.array([2, 0, 1, 3], np.int64))],
           mode=mode)
    g.check()


def test_pad_axes_of_opset_18_and_integer_value() -> None:
    g = Graph(18)
    x = g.input("x", RNG.integers(-5, 5, (2, 3, 4)).astype(np.int32))
    g.node("Pad", [x, g.input("p", np.array([1, 2, 0, 1], np.int64)), g.const("v", np.array(9, np.int32)),
                   g.const("a", np.array([-1, 0], np.int64))])
    g.check()


def test_depth_to_space_and_back() -> None:
    g = Graph(13)
    g.node("DepthToSpace", [g.input("x", floats(1, 8, 2, 3))], ["d"], blocksize=2, mode="CRD")
    g.node("SpaceToDepth", ["d"], ["y"], blocksize=2)
    g.check(["d", "y"])


# --- index operators --------------------------------------------------------------------------


def test_trilu_eyelike_on_unknown_dimensions() -> None:
    g = Graph()
    x = g.input("x", floats(2, 4, 5), ["b", "n", "m"])
    g.node("Trilu", [x, g.input("k", np.array(-1, np.int64))], ["t"], upper=0)
    g.node("Shape", [x], ["s"], start=1)
    g.node("ConstantOfShape", ["s"], ["z"], value=helper.make_tensor("v", I32, [1], [0]))
    g.node("EyeLike", ["z"], ["e"], k=2, dtype=F32)
    g.check(["t", "e"])


@pytest.mark.parametrize("batch_axis", [0, 1])
def test_reverse_sequence(batch_axis: int) -> None:
    g = Graph()
    shape = (3, 5, 2) if batch_axis == 0 else (5, 3, 2)
    g.node("ReverseSequence", [g.input("x", floats(*shape)), g.input("l", np.array([5, 0, 2], np.int64))],
           batch_axis=batch_axis, time_axis=1 - batch_axis)
    g.check()


def test_cumsum_topk_argmax_variants() -> None:
    g = Graph()
    x = g.input("x", RNG.integers(-3, 3, (4, 6)).astype(np.int32), ["n", 6])
    g.node("CumSum", [x, g.const("a", np.array(-1, np.int32))], ["c"], exclusive=1, reverse=1)
    g.node("TopK", [x, g.input("k", np.array([2], np.int64))], ["v", "i"], axis=0, largest=0)
    g.node("ArgMax", [x], ["m"], axis=-1, keepdims=0, select_last_index=1)
    g.node("ArgMin", [x], ["m2"], axis=0, select_last_index=1)
    g.check(["c", "v", "i", "m", "m2"])


def test_topk_attribute_k_of_opset_9() -> None:
    g = Graph(9)
    g.node("TopK", [g.input("x", RNG.permutation(12).astype(np.float32).reshape(3, 4))], ["v", "i"], k=3)
    g.check(["v", "i"])


def test_one_hot_and_non_zero() -> None:
    g = Graph()
    idx = g.input("i", np.array([[0, -1], [3, -7]], np.int64))
    g.node("OneHot", [idx, g.input("d", np.array([4.0], np.float32)), g.const("v", np.array([2, 5], np.int32))],
           ["h"], axis=-2)
    g.node("NonZero", ["h"], ["n"])
    g.check(["h", "n"])


# --- gather and scatter ---------------------------------------------------------------------------


def test_gather_negative_run_time_indices_and_scalar_index() -> None:
    g = Graph()
    x = g.input("x", floats(5, 4), ["n", 4])
    g.node("Gather", [x, g.input("i", np.array([[-1, 0], [2, -5]], np.int64))], ["a"], axis=0)
    g.node("Gather", [x, g.const("j", np.array(-1, np.int64))], ["b"], axis=-1)
    g.check(["a", "b"])


def test_gather_elements_with_indices_smaller_than_data() -> None:
    g = Graph()
    x = g.input("x", floats(4, 5, 3), ["a", "b", 3])
    g.node("GatherElements", [x, g.input("i", RNG.integers(-5, 5, (2, 3, 2)).astype(np.int64))], axis=1)
    g.check()


def test_gather_nd_batch_dims_with_negative_indices() -> None:
    g = Graph()
    g.node("GatherND", [g.input("x", floats(2, 3, 4)), g.const("i", np.array([[[-1, 0]], [[1, -4]]], np.int64))],
           batch_dims=1)
    g.check()


def test_scatter_nd_run_time_indices_and_constant_duplicates() -> None:
    g = Graph(16)
    x = g.input("x", floats(4, 3))
    g.node("ScatterND", [x, g.input("i", np.array([[-1], [1]], np.int64)), g.input("u", floats(2, 3))], ["a"])
    g.node("ScatterND", [x, g.const("j", np.array([[1], [1], [2]], np.int64)), g.input("v", floats(3, 3))], ["b"],
           reduction="mul")
    g.check(["a", "b"])


def test_scatter_elements_reductions_with_constant_indices() -> None:
    g = Graph(18)
    x = g.input("x", floats(3, 4))
    idx = g.const("i", np.array([[0, -1, 0], [1, 3, 3]], np.int64))
    for reduction in ("max", "min", "add"):
        g.node("ScatterElements", [x, idx, g.input("u" + reduction, floats(2, 3))], [reduction], axis=-1,
               reduction=reduction)
    g.check(["max", "min", "add"])


@pytest.mark.parametrize("reduction", ["max", "mul"])
def test_scatter_reduction_with_run_time_duplicate_indices(reduction: str) -> None:
    g = Graph(18)
    x = g.input("x", floats(4, 2, 3))
    g.node("ScatterND", [x, g.input("i", np.array([[1, 0], [-1, 1], [1, 0]], np.int64)), g.input("u", floats(3, 3))],
           reduction=reduction)
    g.check()


# --- resize -----------------------------------------------------------------------------------


def _resize(opset: int, x: np.ndarray, scales: Sequence[float] | None = None, sizes: Sequence[int] | None = None,
            dims: Sequence[Any] | None = None, roi: Sequence[float] | None = None, **attrs: Any) -> Graph:
    g = Graph(opset)
    ins = [g.input("x", x, dims), g.const("roi", np.array(roi or [], np.float32)),
           g.const("sc", np.array(scales or [], np.float32))]
    if sizes is not None:
        ins.append(g.const("sz", np.array(sizes, np.int64)))
    g.node("Resize", ins, **attrs)
    return g


@pytest.mark.parametrize("attrs,op", [
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, "RESIZE_BILINEAR"),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, "RESIZE_BILINEAR"),
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
     "RESIZE_NEAREST_NEIGHBOR"),
    ({"mode": "nearest"}, "RESIZE_NEAREST_NEIGHBOR"),
    ({"mode": "nearest", "coordinate_transformation_mode": "align_corners"}, "RESIZE_NEAREST_NEIGHBOR"),
    ({"mode": "linear", "coordinate_transformation_mode": "half_pixel", "scales": [1, 1, 2, 2.6]}, "GATHER"),
    ({"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, "GATHER"),
])
def test_resize_uses_circle_resize_where_equal(attrs: dict, op: str) -> None:
    attrs = {"scales": [1, 1, 2, 2.5], **attrs}
    model = _resize(13, floats(1, 2, 3, 4), **attrs).check()
    assert op in ops_of(model)


def test_resize_downsampling_antialias_and_crop() -> None:
    _resize(18, floats(1, 2, 8, 7), sizes=[3, 4], axes=[2, 3], mode="linear", antialias=1).check()
    _resize(13, floats(1, 1, 5, 5), sizes=[1, 1, 3, 4], roi=[0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2],
            coordinate_transformation_mode="tf_crop_and_resize", mode="linear", extrapolation_value=-3.0).check()


def test_resize_unknown_spatial_size_with_integer_scale() -> None:
    model = _resize(13, floats(1, 3, 4, 5), scales=[1, 1, 2, 3], dims=["n", 3, "h", "w"], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor").check()
    assert "RESIZE_NEAREST_NEIGHBOR" in ops_of(model)
    with pytest.raises(UnsupportedOperatorError, match="known at import"):
        one_core.load(_resize(13, floats(1, 3, 4, 5), scales=[1, 1, 2, 2], dims=["n", 3, "h", "w"],
                              mode="cubic").model(["y"]))


@pytest.mark.parametrize("attrs", [
    {"mode": "nearest", "nearest_mode": "round_prefer_ceil"},
    {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
    {"mode": "cubic", "antialias": 1, "exclude_outside": 1},
    {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.0},
])
def test_resize_with_scales_and_roi_computed_at_run_time(attrs: dict) -> None:
    """Declared output sizes let the coordinates be computed in circle from the run-time scale (whole
    resized sizes: onnxruntime takes the rounded size where ONNX's reference does not)."""
    g = Graph(18)
    x = g.input("x", floats(1, 2, 5, 4))
    roi = g.input("roi", np.array([0.1, -0.2, 0.8, 1.1], np.float32))
    g.node("Resize", [x, roi, g.input("s", np.array([0.6, 2.5], np.float32))], axes=[2, 3], **attrs)
    model = g.check(declared={"y": [1, 2, 3, 10]})
    assert "RESIZE_BILINEAR" not in ops_of(model) and "GATHER" in ops_of(model)


def test_upsample_of_opset_9_and_resize_of_opset_10() -> None:
    g = Graph(9)
    g.node("Upsample", [g.input("x", floats(1, 2, 3, 3)), g.const("s", np.array([1, 1, 2, 2], np.float32))],
           mode="linear")
    g.check()
    g = Graph(10)
    g.node("Resize", [g.input("x", floats(1, 2, 3, 3)), g.const("s", np.array([1, 1, 2, 3], np.float32))])
    g.check()
