"""Attention, LinearAttention, RMSNormalization, RotaryEmbedding, Swish, CausalConvWithState and the
losses on the variants the ONNX backend suite leaves out (dynamic batch, constant masks, caches and
weights, float16 with the dedicated circle operator, ignore_index inside the class range, ...),
against onnxruntime, or ONNX's reference where onnxruntime does not implement the case."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper

import one_core
from one_core.errors import UnsupportedOperatorError

import onnx_compare

RNG = np.random.default_rng(11)
NP = {TP.FLOAT: np.float32, TP.FLOAT16: np.float16, TP.INT64: np.int64, TP.BOOL: np.bool_}


def _model(op: str, inputs: list[tuple[str, int, list]], outputs: list[str], opset: int,
           inits: dict[str, np.ndarray] | None = None, **attrs) -> onnx.ModelProto:
    """A one-node model; inputs named in `inits` are initializers; '' skips an optional input."""
    inits = inits or {}
    node = oh.make_node(op, [name for name, _, _ in inputs], outputs, **attrs)
    graph = oh.make_graph([node], op,
                          [oh.make_tensor_value_info(n, t, s) for n, t, s in inputs if n and n not in inits],
                          [oh.make_tensor_value_info(o, TP.UNDEFINED, None) for o in outputs if o],
                          [numpy_helper.from_array(v, n) for n, v in inits.items()])
    return onnx.shape_inference.infer_shapes(oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)]))


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], reference: bool = False,
           tol: float = 1e-5) -> one_core.Model:
    """Ours equals onnxruntime (or ONNX's reference) within `tol` of each float output's scale
    (compared in float32), the rest exactly."""
    return onnx_compare.assert_matches(model, feeds, tol, reference, as_dtype=np.float32)


def _ops(model: one_core.Model) -> list[str]:
    return [op.name for op in model.main.operators]


def _normal(*shape: int, dtype=np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# --- Attention -------------------------------------------------------------------------------------


def test_attention_3d_gqa_causal_past_dynamic_batch() -> None:
    """Grouped heads folded into the query rows, the causal frontier shifted by the past length."""
    q, k, v = ("Q", TP.FLOAT, ["b", 3, 24]), ("K", TP.FLOAT, ["b", 3, 8]), ("V", TP.FLOAT, ["b", 3, 10])
    past = [("past_key", TP.FLOAT, ["b", 2, 5, 4]), ("past_value", TP.FLOAT, ["b", 2, 5, 5])]
    model = _model("Attention", [q, k, v, ("", 0, []), *past], ["Y", "present_key", "present_value"], 23,
                   q_num_heads=6, kv_num_heads=2, is_causal=1)
    feeds = {"Q": _normal(3, 3, 24), "K": _normal(3, 3, 8), "V": _normal(3, 3, 10),
             "past_key": _normal(3, 2, 5, 4), "past_value": _normal(3, 2, 5, 5)}
    ops = _ops(_check(model, feeds))
    assert "BATCH_MATMUL" in ops and "TILE" not in ops and "GATHER" not in ops


def test_attention_constant_short_bool_mask() -> None:
    """A constant boolean mask shorter than the keys, padded with False, folded into one bias;
    its fully masked row gives zeros."""
    mask = RNG.random((4, 5)) < 0.7
    mask[1] = False
    model = _model("Attention", [("Q", TP.FLOAT, [1, 2, 4, 8]), ("K", TP.FLOAT, [1, 2, 6, 8]),
                                 ("V", TP.FLOAT, [1, 2, 6, 8]), ("mask", TP.BOOL, [4, 5])], ["Y"], 23,
                   inits={"mask": mask})
    feeds = {"Q": _normal(1, 2, 4, 8), "K": _normal(1, 2, 6, 8), "V": _normal(1, 2, 6, 8)}
    ours = _check(model, feeds, reference=True)
    assert "PADV2" not in _ops(ours) and "REDUCE_MAX" not in _ops(ours)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_attention_qk_output_modes_with_softcap(mode: int) -> None:
    """Mode 0 is the raw product even with a soft cap, 1 the capped one, 2 with the mask, 3 after
    softmax."""
    model = _model("Attention", [("Q", TP.FLOAT, [2, 2, 3, 4]), ("K", TP.FLOAT, [2, 2, 5, 4]),
                                 ("V", TP.FLOAT, [2, 2, 5, 4]), ("mask", TP.FLOAT, [3, 5])], ["Y", "", "", "qk"], 23,
                   softcap=2.0, qk_matmul_output_mode=mode, scale=0.3)
    feeds = {"Q": _normal(2, 2, 3, 4) * 3, "K": _normal(2, 2, 5, 4), "V": _normal(2, 2, 5, 4), "mask": _normal(3, 5)}
    _check(model, feeds)


def test_attention_padding_and_right_window_per_batch() -> None:
    """nonpad_kv_seqlen makes the causal, window and padding constraints per batch at run time."""
    model = _model("Attention", [("Q", TP.FLOAT, [3, 2, 2, 4]), ("K", TP.FLOAT, [3, 2, 6, 4]),
                                 ("V", TP.FLOAT, [3, 2, 6, 4]), ("", 0, []), ("", 0, []), ("", 0, []),
                                 ("n", TP.INT64, [3])], ["Y"], 25, left_window_size=1, right_window_size=0)
    feeds = {"Q": _normal(3, 2, 2, 4), "K": _normal(3, 2, 6, 4), "V": _normal(3, 2, 6, 4),
             "n": np.array([6, 3, 1], np.int64)}
    _check(model, feeds, reference=True)


def test_attention_float16_softmax_precision() -> None:
    model = _model("Attention", [("Q", TP.FLOAT16, [1, 2, 3, 8]), ("K", TP.FLOAT16, [1, 2, 4, 8]),
                                 ("V", TP.FLOAT16, [1, 2, 4, 8])], ["Y"], 23, softmax_precision=TP.FLOAT)
    feeds = {n: _normal(*s, dtype=np.float16) for n, s in (("Q", (1, 2, 3, 8)), ("K", (1, 2, 4, 8)),
                                                           ("V", (1, 2, 4, 8)))}
    _check(model, feeds, tol=2e-3)


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_3d_gqa_dynamic_batch_and_lengths(causal: int) -> None:
    """Batch, sequence and past lengths all unknown at import: reshapes read them at run time, the
    causal frontier is computed from RANGEs."""
    q, k, v = ("Q", TP.FLOAT, ["b", "s", 16]), ("K", TP.FLOAT, ["b", "s", 8]), ("V", TP.FLOAT, ["b", "s", 8])
    past = [("past_key", TP.FLOAT, ["b", 2, "p", 4]), ("past_value", TP.FLOAT, ["b", 2, "p", 4])]
    model = _model("Attention", [q, k, v, ("", 0, []), *past], ["Y", "present_key", "present_value"], 23,
                   q_num_heads=4, kv_num_heads=2, is_causal=causal)
    ours = one_core.load(model)
    for batch, length, past_length in ((2, 3, 4), (1, 5, 2)):
        feeds = {"Q": _normal(batch, length, 16), "K": _normal(batch, length, 8), "V": _normal(batch, length, 8),
                 "past_key": _normal(batch, 2, past_length, 4), "past_value": _normal(batch, 2, past_length, 4)}
        _check(model, feeds)
    assert ("RANGE" in _ops(ours)) == bool(causal)


def test_attention_short_mask_dynamic_lengths_unsupported() -> None:
    model = _model("Attention", [("Q", TP.FLOAT, [1, 2, "s", 4]), ("K", TP.FLOAT, [1, 2, "t", 4]),
                                 ("V", TP.FLOAT, [1, 2, "t", 4]), ("mask", TP.BOOL, [3, 5])], ["Y"], 23,
                   inits={"mask": np.ones((3, 5), bool)})
    with pytest.raises(UnsupportedOperatorError, match="attn_mask's last dimension"):
        one_core.load(model)


# --- LinearAttention -------------------------------------------------------------------------------


def test_linear_attention_gqa_per_head_decay_dynamic_batch() -> None:
    inputs = [("q", TP.FLOAT, ["b", 3, 16]), ("k", TP.FLOAT, ["b", 3, 8]), ("v", TP.FLOAT, ["b", 3, 6]),
              ("state", TP.FLOAT, ["b", 2, 4, 3]), ("decay", TP.FLOAT, ["b", 3, 2]), ("beta", TP.FLOAT, ["b", 3, 1])]
    model = _model("LinearAttention", inputs, ["y", "present"], 27, q_num_heads=4, kv_num_heads=2)
    feeds = {"q": _normal(2, 3, 16), "k": _normal(2, 3, 8) * 0.5, "v": _normal(2, 3, 6), "state": _normal(2, 2, 4, 3),
             "decay": -np.abs(_normal(2, 3, 2)), "beta": 1 / (1 + np.exp(_normal(2, 3, 1)))}
    _check(model, feeds, reference=True)


def test_linear_attention_dynamic_length_unsupported() -> None:
    model = _model("LinearAttention", [("q", TP.FLOAT, [1, "t", 8]), ("k", TP.FLOAT, [1, "t", 8]),
                                       ("v", TP.FLOAT, [1, "t", 8])], ["y", "s"], 27, q_num_heads=2, kv_num_heads=2,
                   update_rule="linear")
    with pytest.raises(UnsupportedOperatorError, match="unrolled"):
        one_core.load(model)


# --- RMSNormalization, RotaryEmbedding, Swish ------------------------------------------------------


@pytest.mark.parametrize("case", ["float16_last_axis", "rank2_dynamic", "scale_over_two_axes"])
def test_rms_normalization(case: str) -> None:
    shape, scale, axis, elem = ["n", 3, 6], np.abs(_normal(6)), -1, TP.FLOAT
    if case == "float16_last_axis":
        shape, elem, scale = [2, 3, 6], TP.FLOAT16, scale.astype(np.float16)
    elif case == "rank2_dynamic":
        shape = ["n", 6]
    else:
        scale, axis = _normal(3, 1), 1
    model = _model("RMSNormalization", [("x", elem, shape), ("scale", elem, list(scale.shape))], ["y"], 23,
                   inits={"scale": scale}, axis=axis, epsilon=1e-3)
    x = _normal(*[4 if d == "n" else d for d in shape], dtype=NP[elem])
    ops = _ops(_check(model, {"x": x}, tol=2e-3 if elem == TP.FLOAT16 else 1e-5))
    assert ("RMS_NORM" in ops) == (case == "float16_last_axis")


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding_constant_caches_3d_dynamic(interleaved: int) -> None:
    angles = np.arange(10)[:, None] * np.array([1.0, 0.3, 0.05])[None, :]
    inputs = [("x", TP.FLOAT, ["b", "s", 20]), ("cos", TP.FLOAT, [10, 3]), ("sin", TP.FLOAT, [10, 3]),
              ("pos", TP.INT64, ["b", "s"])]
    model = _model("RotaryEmbedding", inputs, ["y"], 23, inits={"cos": np.cos(angles).astype(np.float32),
                                                                "sin": np.sin(angles).astype(np.float32)},
                   num_heads=2, rotary_embedding_dim=6, interleaved=interleaved)
    _check(model, {"x": _normal(3, 4, 20), "pos": RNG.integers(0, 10, (3, 4))})


def test_swish_alpha() -> None:
    model = _model("Swish", [("x", TP.FLOAT, [2, 5])], ["y"], 24, alpha=0.5)
    _check(model, {"x": _normal(2, 5) * 4}, reference=True)


# --- CausalConvWithState ---------------------------------------------------------------------------


@pytest.mark.parametrize("constant_weights", [True, False])
def test_causal_conv_with_state_dynamic_shape(constant_weights: bool) -> None:
    inputs = [("x", TP.FLOAT, ["b", 4, "l"]), ("w", TP.FLOAT, [4, 1, 3]), ("bias", TP.FLOAT, [4]),
              ("past", TP.FLOAT, ["b", 4, 2])]
    inits = {"w": _normal(4, 1, 3), "bias": _normal(4)} if constant_weights else None
    model = _model("CausalConvWithState", inputs, ["y", "state"], 27, inits=inits, activation="silu")
    feeds = {"x": _normal(2, 4, 5), "past": _normal(2, 4, 2)}
    if not constant_weights:
        feeds.update(w=_normal(4, 1, 3), bias=_normal(4))
    ours = _check(model, feeds, reference=True)
    assert ("DEPTHWISE_CONV_2D" in _ops(ours)) == constant_weights


# --- losses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_constant_weights_dynamic_shape(op: str, reduction: str) -> None:
    """ignore_index inside the class range, class weights as an initializer, a 4-d input."""
    inputs = [("x", TP.FLOAT, ["n", 4, 3, "w"]), ("t", TP.INT64, ["n", 3, "w"]), ("w", TP.FLOAT, [4])]
    outputs = ["loss", "log_prob"] if op == "SoftmaxCrossEntropyLoss" else ["loss"]
    model = _model(op, inputs, outputs, 13, inits={"w": np.abs(_normal(4))}, reduction=reduction, ignore_index=2)
    target = RNG.integers(0, 4, (5, 3, 2))
    target[0, 0, 0] = 2
    _check(model, {"x": _normal(5, 4, 3, 2), "t": target})


def test_nll_loss_mean_without_weights_counts_kept_samples() -> None:
    model = _model("NegativeLogLikelihoodLoss", [("x", TP.FLOAT, [6, 3]), ("t", TP.INT64, [6])], ["loss"], 13,
                   ignore_index=-1)
    _check(model, {"x": _normal(6, 3), "t": np.array([0, -1, 2, 1, -1, 0], np.int64)})
