"""Convolution, pooling, matrix product, normalization and reduction converters on the variants
the ONNX backend suite leaves out (constant vs run-time weights, groups, dilations, asymmetric
and ceil_mode padding, dynamic dimensions, old opsets, negative and run-time axes), each
compared with onnxruntime."""

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

RNG = np.random.default_rng(5)
F32, I8, U8, I32, I64, BOOL = (TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32,
                               TensorProto.INT64, TensorProto.BOOL)
NP = {F32: np.float32, I8: np.int8, U8: np.uint8, I32: np.int32, I64: np.int64, BOOL: np.bool_}
Input = tuple[str, int, Sequence[Any]]  # name, element type, shape (a string or None: dynamic)


def _model(op: str, inputs: Sequence[Input], outputs: Sequence[str] = ("y",), opset: int = 17,
           consts: dict[str, np.ndarray] | None = None, out_type: int = TensorProto.UNDEFINED,
           **attrs: Any) -> onnx.ModelProto:
    """A one-node model; inputs named in `consts` are initializers."""
    consts = consts or {}
    node = helper.make_node(op, [i[0] for i in inputs], list(outputs), **attrs)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs if n and n not in consts],
        [helper.make_tensor_value_info(o, out_type, None) for o in outputs],
        [numpy_helper.from_array(v, n) for n, v in consts.items()])
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _random(elem: int, shape: Sequence[int]) -> np.ndarray:
    if elem == F32:
        return RNG.standard_normal(shape).astype(np.float32)
    if elem == BOOL:
        return RNG.random(shape) < 0.5
    info = np.iinfo(NP[elem])
    return RNG.integers(max(info.min, -100), min(info.max, 100) + 1, shape).astype(NP[elem])


def _check(model: onnx.ModelProto, shapes: dict[str, Sequence[int]] | None = None, rtol: float = 1e-5,
           feeds: dict[str, np.ndarray] | None = None, reference: bool = False) -> one_core.Model:
    """Ours equals onnxruntime (or, for what it does not implement, ONNX's reference) on random
    inputs (`shapes` gives the dynamic ones' shapes, `feeds` some inputs' values): floats within
    rtol of the output's scale (at least 1e-3), the rest exactly."""
    values = []
    for info in onnx_compare.graph_inputs(model):
        t = info.type.tensor_type
        shape = (shapes or {}).get(info.name) or [d.dim_value for d in t.shape.dim]
        values.append((feeds or {}).get(info.name, _random(t.elem_type, shape)))
    return onnx_compare.assert_matches(model, values, rtol, reference, min_scale=1e-3)


def _ops(model: one_core.Model) -> list[str]:
    return [op.name for op in model.main.operators if op.name != "TRANSPOSE"]


def _w(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.5).astype(np.float32)


# --- Conv ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["1d_pads", "depthwise_multiplier", "grouped", "grouped_runtime_weights",
                                  "3d_grouped", "dilated_asymmetric", "same_upper_dynamic", "runtime_bias"])
def test_conv(case: str) -> None:
    x, w, b = ("x", F32, [2, 4, 9, 9]), ("w", F32, [6, 2, 3, 3]), ("b", F32, [6])
    consts, attrs, shapes = {"w": _w(6, 2, 3, 3), "b": _w(6)}, {"group": 2}, None
    if case == "1d_pads":
        x, w, consts, attrs = ("x", F32, [2, 4, 11]), ("w", F32, [6, 4, 3]), {"w": _w(6, 4, 3), "b": _w(6)}, \
            {"pads": [2, 1], "strides": [2]}
    elif case == "depthwise_multiplier":
        w, consts, attrs = ("w", F32, [8, 1, 3, 3]), {"w": _w(8, 1, 3, 3), "b": _w(8)}, {"group": 4, "pads": [1] * 4}
        b = ("b", F32, [8])
    elif case == "grouped_runtime_weights":
        w, b, consts, attrs = ("w", F32, [4, 1, 3, 3]), ("b", F32, [4]), {"b": _w(4)}, {"group": 4}
    elif case == "3d_grouped":
        x, w, consts = ("x", F32, [1, 4, 5, 6, 5]), ("w", F32, [6, 2, 2, 3, 3]), {"w": _w(6, 2, 2, 3, 3), "b": _w(6)}
        attrs = {"group": 2, "pads": [1, 0, 1, 0, 2, 1]}
    elif case == "dilated_asymmetric":
        attrs = {"group": 2, "dilations": [2, 1], "pads": [0, 1, 2, 0], "strides": [1, 2]}
    elif case == "same_upper_dynamic":
        x, attrs, shapes = ("x", F32, ["n", 4, "h", "w"]), {"group": 2, "auto_pad": "SAME_UPPER", "strides": [2, 2]}, \
            {"x": [3, 4, 7, 10]}
    elif case == "runtime_bias":
        consts = {"w": consts["w"]}
    model = _check(_model("Conv", [x, w, b], consts=consts, **attrs), shapes)
    if case == "depthwise_multiplier":
        assert "DEPTHWISE_CONV_2D" in _ops(model)


# --- ConvTranspose ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["crop_pads", "output_padding", "dilated_constant", "1d",
                                  "3d_dilated", "groups_bias", "dynamic_batch", "same_lower", "output_shape"])
def test_conv_transpose(case: str) -> None:
    x, w, b = ("x", F32, [2, 4, 5, 6]), ("w", F32, [4, 3, 3, 3]), ("b", F32, [3])
    consts, attrs, shapes = {"w": _w(4, 3, 3, 3), "b": _w(3)}, {}, None
    if case == "crop_pads":
        attrs = {"pads": [2, 0, 1, 3], "strides": [2, 3]}
    elif case == "output_padding":
        attrs = {"strides": [3, 2], "dilations": [3, 1], "output_padding": [2, 1], "pads": [0, 1, 0, 0]}
    elif case == "dilated_constant":
        attrs = {"dilations": [2, 3], "pads": [1, 1, 1, 1], "strides": [2, 1]}
    elif case == "1d":
        x, w, consts, attrs = ("x", F32, [2, 4, 7]), ("w", F32, [4, 3, 3]), {"w": _w(4, 3, 3), "b": _w(3)}, \
            {"strides": [3], "pads": [1, 2], "output_padding": [1]}
    elif case == "3d_dilated":
        x, w, consts = ("x", F32, [1, 4, 3, 4, 3]), ("w", F32, [4, 3, 2, 3, 2]), {"w": _w(4, 3, 2, 3, 2), "b": _w(3)}
        attrs = {"strides": [2, 1, 2], "dilations": [2, 1, 1], "pads": [1, 0, 0, 0, 1, 1]}
    elif case == "groups_bias":
        w, b, consts, attrs = ("w", F32, [4, 2, 3, 3]), ("b", F32, [4]), {"w": _w(4, 2, 3, 3), "b": _w(4)}, \
            {"group": 2, "strides": [2, 2], "pads": [1, 1, 0, 0]}
    elif case == "dynamic_batch":
        x, attrs, shapes = ("x", F32, ["n", 4, 5, 6]), {"strides": [2, 2], "pads": [1, 0, 1, 0]}, {"x": [3, 4, 5, 6]}
    elif case == "same_lower":
        attrs = {"auto_pad": "SAME_LOWER", "strides": [2, 3]}
    elif case == "output_shape":
        attrs = {"output_shape": [12, 19], "strides": [2, 3]}
    _check(_model("ConvTranspose", [x, w, b], consts=consts, **attrs), shapes)


def test_conv_transpose_output_beyond_stride() -> None:
    """An output_shape more than a stride past the full output (onnxruntime refuses it): circle's
    result is padded at both ends."""
    model = _model("ConvTranspose", [("x", F32, [1, 2, 5, 6]), ("w", F32, [2, 3, 3, 3]), ("b", F32, [3])],
                   consts={"w": _w(2, 3, 3, 3), "b": _w(3)}, output_shape=[14, 22], strides=[2, 3],
                   auto_pad="SAME_UPPER")
    assert "PAD" in _ops(_check(model, reference=True))


# --- pooling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("op,attrs,shape", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1}, [2, 3, 8, 9]),
    ("MaxPool", {"kernel_shape": [3], "dilations": [2], "pads": [2, 1]}, [2, 3, 12]),
    ("MaxPool", {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1]}, [1, 2, 5, 6, 7]),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 2, 1], "ceil_mode": 1}, [2, 3, 8, 9]),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 2, 1], "ceil_mode": 1,
                     "count_include_pad": 1}, [2, 3, 8, 9]),
    ("AveragePool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}, [1, 3, 7, 8]),
    ("AveragePool", {"kernel_shape": [2, 3, 2], "pads": [0, 1, 1, 1, 1, 0], "count_include_pad": 1}, [1, 2, 5, 6, 4]),
    ("AveragePool", {"kernel_shape": [2, 2], "dilations": [2, 1], "pads": [1, 1, 1, 1]}, [1, 2, 7, 6]),
    ("AveragePool", {"kernel_shape": [3, 2], "dilations": [2, 2], "strides": [1, 2]}, [1, 2, 7, 6]),
    ("LpPool", {"kernel_shape": [3, 2], "p": 1, "pads": [1, 1, 0, 0]}, [1, 2, 6, 6]),
    ("LpPool", {"kernel_shape": [3], "p": 3, "strides": [2]}, [2, 2, 9]),
])
def test_pool(op: str, attrs: dict[str, Any], shape: list[int]) -> None:
    _check(_model(op, [("x", F32, shape)], opset=19, **attrs))


def test_pool_dynamic_dimensions_and_int8() -> None:
    x, shapes = ("x", F32, ["n", 3, "h", "w"]), {"x": [3, 3, 9, 8]}
    _check(_model("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2]), shapes)
    _check(_model("AveragePool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1), shapes)
    _check(_model("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), shapes)
    _check(_model("MaxPool", [x], kernel_shape=[3, 2], strides=[2, 2], auto_pad="SAME_UPPER"), shapes)
    with pytest.raises(UnsupportedOperatorError, match="explicit padding"):
        one_core.load(_model("AveragePool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    _check(_model("MaxPool", [("x", I8, [1, 2, 6, 6])], opset=12, kernel_shape=[3, 3], pads=[1, 1, 1, 1]))


def test_max_pool_indices_column_major() -> None:
    model = _model("MaxPool", [("x", F32, [2, 3, 5, 6])], ("y", "i"), kernel_shape=[3, 3], strides=[2, 2],
                   pads=[1, 1, 1, 1], storage_order=1)
    _check(model)


def test_global_pools() -> None:
    for op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
        _check(_model(op, [("x", F32, ["n", 3, 4, 5])]), {"x": [2, 3, 4, 5]})


# --- Gemm, MatMul, MatMulInteger, Einsum -----------------------------------------------------------


@pytest.mark.parametrize("case", ["fc_bias_row", "fc_bias_matrix", "runtime_b", "no_c", "fc_trans_a"])
def test_gemm(case: str) -> None:
    a, b, c = ("a", F32, [3, 5]), ("b", F32, [4, 5]), ("c", F32, [4])
    consts: dict[str, np.ndarray] = {"b": _w(4, 5), "c": _w(4)}
    attrs = {"transB": 1, "alpha": 0.5, "beta": 2.0}
    if case == "fc_bias_matrix":
        c, consts["c"] = ("c", F32, [3, 1]), _w(3, 1)
    elif case == "runtime_b":
        consts, attrs = {}, {"transA": 1, "alpha": 0.7, "beta": 0.3}
        a, b, c = ("a", F32, [5, 3]), ("b", F32, [5, 4]), ("c", F32, [3, 4])
    elif case == "no_c":
        c = ("", F32, [])
    elif case == "fc_trans_a":
        a, attrs = ("a", F32, [5, 3]), {"transA": 1, "transB": 1}
    model = _check(_model("Gemm", [a, b, c], consts=consts, opset=13, **attrs))
    assert ("FULLY_CONNECTED" in _ops(model)) == (case != "runtime_b")


@pytest.mark.parametrize("a,b,const_b", [
    ([2, 3, 4], [4, 5], True), ([2, 3, 4], [4], True), ([4], [2, 4, 3], False), (["n", 1, 3, 4], [2, 4, 5], False),
])
def test_matmul(a: list[Any], b: list[int], const_b: bool) -> None:
    consts = {"b": _w(*b)} if const_b else {}
    model = _check(_model("MatMul", [("a", F32, a), ("b", F32, b)], consts=consts), {"a": [3, 1, 3, 4]} if "n" in a
                   else None)
    assert ("FULLY_CONNECTED" in _ops(model)) == (const_b and len(b) == 2)


@pytest.mark.parametrize("case", ["uint8_scalar_zero_points", "int8_no_zero_points", "runtime_zero_points"])
def test_matmul_integer(case: str) -> None:
    a, b = ("a", U8, [2, 4, 6]), ("b", U8, [6, 3])
    names: list[Input] = [a, b, ("az", U8, []), ("bz", U8, [1])]
    consts = {"b": RNG.integers(0, 256, (6, 3)).astype(np.uint8), "az": np.array(200, np.uint8),
              "bz": np.array([3], np.uint8)}
    if case == "int8_no_zero_points":
        names, consts = [("a", I8, [3, 6]), ("b", I8, [6, 3])], {}
    elif case == "runtime_zero_points":
        consts = {}
    feeds = {"a": RNG.integers(0, 256, (2, 4, 6)).astype(np.uint8), "b": RNG.integers(0, 256, (6, 3)).astype(np.uint8)}
    _check(_model("MatMulInteger", names, consts=consts, opset=10), feeds=feeds if case != "int8_no_zero_points"
           else None)


def test_matmul_integer_per_row_and_column_zero_points() -> None:
    """Zero points per row of A and per column of B (onnxruntime has per-tensor ones only)."""
    a, b = RNG.integers(0, 256, (4, 6)).astype(np.uint8), RNG.integers(0, 256, (6, 3)).astype(np.uint8)
    az, bz = RNG.integers(0, 256, 4).astype(np.uint8), RNG.integers(0, 256, 3).astype(np.uint8)
    model = _model("MatMulInteger", [("a", U8, [4, 6]), ("b", U8, [6, 3]), ("az", U8, [4]), ("bz", U8, [3])],
                   consts={"b": b, "bz": bz}, opset=10)
    want = (a.astype(np.int64) - az[:, None]) @ (b.astype(np.int64) - bz)
    got = one_core.Session(one_core.load(model), backend="runtime").run([a, az])["y"]
    np.testing.assert_array_equal(got, want.astype(np.int32))


@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]), ("bhqd,bhkd->bhqk", [[1, 2, 3, 4], [1, 2, 5, 4]]),
    ("...ij,...jk", [[2, 3, 4], [1, 4, 2]]), ("ij,jk,kl->il", [[2, 3], [3, 4], [4, 2]]), ("i,i->", [[5], [5]]),
    ("ij->ji", [[3, 4]]), ("...ii->...i", [[2, 3, 3]]), ("ii", [[4, 4]]), ("bii,bij->bj", [[2, 3, 3], [2, 3, 4]]),
    ("ijk->i", [[2, 3, 4]]), ("bi,bj->bij", [[2, 3], [2, 4]]), ("ij,kj->", [[2, 3], [4, 3]]),
])
def test_einsum(equation: str, shapes: list[list[int]]) -> None:
    inputs = [(f"x{i}", F32, s) for i, s in enumerate(shapes)]
    _check(_model("Einsum", inputs, opset=12, equation=equation, out_type=F32))


# --- normalizations --------------------------------------------------------------------------------


def test_batch_normalization_constants_fold() -> None:
    consts = {"s": _w(3), "bias": _w(3), "mean": _w(3), "var": np.abs(_w(3)) + 0.1}
    inputs = [("x", F32, [2, 3, 4, 5, 2]), ("s", F32, [3]), ("bias", F32, [3]), ("mean", F32, [3]), ("var", F32, [3])]
    model = _check(_model("BatchNormalization", inputs, consts=consts, epsilon=1e-3))
    assert _ops(model) == ["MUL", "ADD"]
    _check(_model("BatchNormalization", inputs, consts=consts, opset=9))


def test_batch_normalization_training() -> None:
    inputs = [("x", F32, [4, 3, 5]), ("s", F32, [3]), ("bias", F32, [3]), ("mean", F32, [3]), ("var", F32, [3])]
    model = _model("BatchNormalization", inputs, ("y", "rm", "rv"), opset=15, training_mode=1, momentum=0.8)
    _check(model, feeds={"var": np.abs(_w(3)) + 0.1})


@pytest.mark.parametrize("shape", [[2, 3, 7], [1, 2, 3, 4, 5]])
def test_instance_normalization(shape: list[int]) -> None:
    consts = {"s": _w(shape[1]), "b": _w(shape[1])}
    c = shape[1]
    _check(_model("InstanceNormalization", [("x", F32, shape), ("s", F32, [c]), ("b", F32, [c])], consts=consts))


def test_layer_normalization_without_bias() -> None:
    model = _model("LayerNormalization", [("x", F32, ["n", 3, 4]), ("s", F32, [3, 4])], ("y", "mean"), axis=-2,
                   consts={"s": _w(3, 4)})
    _check(model, {"x": [2, 3, 4]})


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization(opset: int) -> None:
    """Scale and bias per group before opset 21, per channel since (onnxruntime has only the
    latter: compared with numpy)."""
    x, s, b = _w(3, 6, 4, 3), _w(2 if opset < 21 else 6), _w(2 if opset < 21 else 6)
    inputs = [("x", F32, ["n", 6, 4, 3]), ("s", F32, list(s.shape)), ("b", F32, list(b.shape))]
    model = _model("GroupNormalization", inputs, opset=opset, num_groups=2, epsilon=1e-3, out_type=F32)
    groups = x.reshape(3, 2, -1)
    norm = (groups - groups.mean(-1, keepdims=True)) / np.sqrt(groups.var(-1, keepdims=True) + 1e-3)
    if opset < 21:
        want = (norm * s[:, None] + b[:, None]).reshape(x.shape)
    else:
        want = norm.reshape(x.shape) * s[:, None, None] + b[:, None, None]
    got = one_core.Session(one_core.load(model), backend="runtime").run([x, s, b])["y"]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("size,shape", [(4, [2, 7, 3, 3]), (3, [2, 6, 5]), (5, [1, 8, 2, 3])])
def test_lrn(size: int, shape: list[int]) -> None:
    """onnxruntime has odd sizes and 4-d inputs only (ONNX's reference is wrong beyond the batch
    size's channels): the others are compared with the definition."""
    model = _model("LRN", [("x", F32, shape)], size=size, alpha=0.01, beta=0.6, bias=1.5, out_type=F32)
    if size % 2 and len(shape) == 4:
        _check(model, rtol=1e-4)
        return
    x = _w(*shape)
    squares = np.square(x)
    sums = np.stack([squares[:, max(0, c - (size - 1) // 2) : c + size // 2 + 1].sum(axis=1)
                     for c in range(shape[1])], axis=1)
    want = x / (1.5 + 0.01 / size * sums) ** 0.6
    np.testing.assert_allclose(one_core.Session(one_core.load(model), backend="runtime").run([x])["y"], want,
                               atol=1e-5)


def test_mean_variance_and_lp_normalization() -> None:
    _check(_model("MeanVarianceNormalization", [("x", F32, [2, 3, 4])], axes=[0, -1]))
    model = _model("LpNormalization", [("x", F32, [3, 4])], axis=0, p=1)
    x = _w(3, 4)
    x[:, 1] = 0  # a zero norm gives zeros
    _check(model, feeds={"x": x})


# --- reductions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("op,opset,attrs,axes", [
    ("ReduceMean", 11, {"axes": [-1, 0], "keepdims": 0}, None),
    ("ReduceSum", 11, {"axes": [1]}, None),
    ("ReduceL2", 18, {"keepdims": 0}, [-2]),
    ("ReduceLogSumExp", 18, {"keepdims": 0}, [1, 2]),
    ("ReduceProd", 18, {}, [0]),
    ("ReduceL1", 18, {"noop_with_empty_axes": 1}, []),
    ("ReduceSumSquare", 18, {"noop_with_empty_axes": 1}, []),
    ("ReduceMin", 13, {}, None),
])
def test_reduce(op: str, opset: int, attrs: dict[str, Any], axes: list[int] | None) -> None:
    inputs: list[Input] = [("x", F32, ["n", 3, 4])]
    consts = {}
    if axes is not None:
        inputs.append(("axes", I64, [len(axes)]))
        consts["axes"] = np.array(axes, np.int64)
    feeds = {"x": (_w(2, 3, 4) * 40).astype(np.float32)} if op == "ReduceLogSumExp" else None  # overflows exp
    _check(_model(op, inputs, opset=opset, consts=consts, **attrs), {"x": [2, 3, 4]}, feeds=feeds)


def test_reduce_runtime_axes_and_types() -> None:
    model = _model("ReduceSum", [("x", F32, [2, 3, 4]), ("axes", I64, [2])], keepdims=0)
    _check(model, feeds={"axes": np.array([-1, 0], np.int64)})
    noop = _model("ReduceMax", [("x", F32, [2, 3]), ("axes", I64, ["k"])], opset=18, noop_with_empty_axes=1)
    _check(noop, feeds={"axes": np.array([1], np.int64)})
    _check(_model("ReduceSumSquare", [("x", I32, [3, 4])], opset=13, axes=[1]))
    _check(_model("ReduceMin", [("x", BOOL, [3, 4])], opset=20, keepdims=0))
    with pytest.raises(UnsupportedOperatorError, match="may be empty"):
        one_core.load(_model("ReduceMean", [("x", F32, [2, 3]), ("axes", I64, ["k"])], opset=18))


def test_one_dimensional_dynamic_batch_and_length() -> None:
    """1-d convolutions and pools are 2-d ones of height 1, also when two dimensions are unknown."""
    x = ("x", F32, ["n", 4, "l"])
    shapes = {"x": [3, 4, 13]}
    _check(_model("Conv", [x, ("w", F32, [6, 4, 3])], consts={"w": _w(6, 4, 3)}, auto_pad="SAME_UPPER", strides=[2]),
           shapes)
    _check(_model("MaxPool", [x], kernel_shape=[3], strides=[2]), shapes)


# --- runtime kernels these converters rely on, against LiteRT's reference kernels -----------------


def _litert_matches(tmp_path: Any, op: str, options: Any, inputs: list[Any], output: Any,
                    feeds: list[np.ndarray]) -> None:
    """A one-operator circle model (inputs without data are fed) gives LiteRT's result."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from one_core.ir import Model, Operator, Subgraph

    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    for t in [*inputs, output]:
        sg.add_tensor(t)
    sg.add_operator(Operator(op, inputs, [output], options))
    sg.inputs, sg.outputs = [t for t in inputs if t.data is None], [output]
    path = one_core.save(model, tmp_path / "op.tflite")
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), feeds):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    want = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    got = one_core.Session(path, backend="runtime").run(feeds)[output.name]
    onnx_compare.assert_close(got, want, 1e-5)


@pytest.mark.parametrize("padding,out_shape", [("SAME", (1, 6, 8, 7, 3)), ("VALID", (1, 7, 9, 8, 3))])
def test_runtime_conv_3d_transpose(tmp_path: Any, padding: str, out_shape: tuple[int, ...]) -> None:
    from one_core.ir import DType, Tensor
    from one_core.ir.options import Conv3DOptions, Padding

    options = Conv3DOptions(padding=Padding[padding], stride_d=2, stride_h=2, stride_w=2, dilation_d_factor=2)
    inputs = [Tensor("shape", DType.INT32, (5,), data=np.array(out_shape, np.int32)),
              Tensor("w", DType.FLOAT32, (2, 3, 2, 3, 2), data=_w(2, 3, 2, 3, 2)),
              Tensor("x", DType.FLOAT32, (1, 3, 4, 4, 2)), Tensor("b", DType.FLOAT32, (3,), data=_w(3))]
    _litert_matches(tmp_path, "CONV_3D_TRANSPOSE", options, inputs, Tensor("y", DType.FLOAT32, out_shape),
                    [_w(1, 3, 4, 4, 2)])


def test_runtime_run_time_weights(tmp_path: Any) -> None:
    """TRANSPOSE_CONV, and grouped CONV_2D with a bias, whose weights are inputs."""
    from one_core.ir import DType, Tensor
    from one_core.ir.options import Conv2DOptions, Padding, TransposeConvOptions

    shape = Tensor("shape", DType.INT32, (4,), data=np.array([2, 8, 9, 3], np.int32))
    inputs = [shape, Tensor("w", DType.FLOAT32, (3, 3, 2, 2)), Tensor("x", DType.FLOAT32, (2, 3, 4, 2))]
    options = TransposeConvOptions(padding=Padding.VALID, stride_h=2, stride_w=2)
    _litert_matches(tmp_path, "TRANSPOSE_CONV", options, inputs, Tensor("y", DType.FLOAT32, (2, 8, 9, 3)),
                    [_w(3, 3, 2, 2), _w(2, 3, 4, 2)])
    inputs = [Tensor("x", DType.FLOAT32, (1, 6, 6, 4)), Tensor("w", DType.FLOAT32, (6, 3, 3, 2)),
              Tensor("b", DType.FLOAT32, (6,))]
    _litert_matches(tmp_path, "CONV_2D", Conv2DOptions(padding=Padding.SAME, stride_h=1, stride_w=1), inputs,
                    Tensor("y", DType.FLOAT32, (1, 6, 6, 6)), [_w(1, 6, 6, 4), _w(6, 3, 3, 2), _w(6)])


def test_runtime_plain_integers(tmp_path: Any) -> None:
    """int8 x int8 -> int32 BATCH_MATMUL (the raw product) and MAX_POOL_2D of unquantized uint8."""
    from one_core.ir import DType, Tensor
    from one_core.ir.options import BatchMatMulOptions, Padding, Pool2DOptions

    a, b = Tensor("a", DType.INT8, (2, 4, 3)), Tensor("b", DType.INT8, (3, 5))
    _litert_matches(tmp_path, "BATCH_MATMUL", BatchMatMulOptions(), [a, b], Tensor("y", DType.INT32, (2, 4, 5)),
                    [_random(I8, (2, 4, 3)), _random(I8, (3, 5))])
    options = Pool2DOptions(padding=Padding.SAME, stride_h=2, stride_w=2, filter_height=3, filter_width=3)
    _litert_matches(tmp_path, "MAX_POOL_2D", options, [Tensor("x", DType.UINT8, (1, 5, 5, 2))],
                    Tensor("y", DType.UINT8, (1, 3, 3, 2)), [RNG.integers(0, 256, (1, 5, 5, 2)).astype(np.uint8)])
