"""Attention (scaled dot-product attention, opsets 23-25) and LinearAttention (recurrent linear
attention), lowered to BATCH_MATMUL, SOFTMAX, arithmetic, reshapes and transposes, in float32
(float16 values are cast to float32 and the results back).

Attention: heads are in the [batch, heads, sequence, size] form; grouped-query heads are not
repeated but folded into the query rows ([batch, kv_heads, group * q_len, size]) so each key and
value head is read once. The causal, sliding-window and padding constraints are a boolean
`allowed`, computed at import when the lengths are known then, else at run time (from RANGEs, and
from `nonpad_kv_seqlen` per batch); with the attention mask they make one additive bias (0 or
-inf). A query row whose bias is -inf throughout attends nothing and gives zeros, as ONNX
specifies. Reshapes read the dimensions unknown at import (batch, lengths) at run time.
"""

from __future__ import annotations

import numpy as np
import onnx

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    BatchMatMulOptions,
    GatherOptions,
    PackOptions,
    PadV2Options,
    RangeOptions,
    ReducerOptions,
    ReshapeOptions,
    ShapeOptions,
    SoftmaxOptions,
    UnpackOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import Emitter, Value, value_shape
from .conv import concat
from .index import bind
from .reduce import reshape_to

F32, F16 = DType.FLOAT32, DType.FLOAT16
FLOATS = (F32, F16)
Dims = list[int | None]


# --- shared helpers ----------------------------------------------------------------------------------


def reshape(cx: Context, x: Tensor, dims: Dims, copies: dict[int, int] | None = None) -> Tensor:
    """x reshaped to `dims`. With several dimensions unknown at import, dimension i of `copies`
    takes the run-time size of x's axis copies[i]; one other may be unknown (inferred)."""
    if value_shape(x) == dims:
        return x
    unknown = [i for i, d in enumerate(dims) if d is None]
    if len(unknown) <= 1:
        return reshape_to(cx, x, [-1 if d is None else d for d in dims])
    copied = {i: a for i, a in (copies or {}).items() if i in unknown}
    if len(unknown) - len(copied) > 1:
        raise Unsupported(f"reshaping '{x.name}' to {dims} needs all but one dimension known at import "
                          "(give --input_shapes)")
    e = Emitter(cx, x.name + "_shape")
    rank = len(value_shape(x))
    fixed = [-1 if d is None else d for i, d in enumerate(dims) if i not in copied]  # after x's shape
    table = concat(cx, [e.op("SHAPE", [x], DType.INT32, [rank], ShapeOptions(out_type=DType.INT32)),
                        e.tensor(np.array(fixed, np.int32))], 0)
    picks, k = [], rank
    for i in range(len(dims)):
        picks.append(copied[i] if i in copied else k)
        k += i not in copied
    shape = e.op("GATHER", [table, np.array(picks, np.int32)], DType.INT32, [len(dims)], GatherOptions())
    out = cx.temp(x.name + "_r", x.dtype, dims)
    cx.emit("RESHAPE", [x, shape], [out], ReshapeOptions())
    return out


def dim(e: Emitter, x: Tensor, axis: int) -> Value:
    """The size of x's axis `axis` as an int32 scalar: known at import, or read at run time."""
    size = value_shape(x)[axis]
    if size is not None:
        return np.asarray(size, np.int32)
    shape = e.op("SHAPE", [x], DType.INT32, [len(value_shape(x))], ShapeOptions(out_type=DType.INT32))
    return e.op("GATHER", [shape, np.array(axis % len(value_shape(x)), np.int32)], DType.INT32, [], GatherOptions())


def as_float32(e: Emitter, name: str) -> Tensor:
    """Input `name` (float32 or float16) as float32 (a constant converted at import)."""
    dtype, value = e.cx.dtype(name), e.cx.const(name)
    if dtype not in FLOATS:
        raise Unsupported(f"'{name}' is {dtype.name} (float32 and float16 only)")
    if value is not None and dtype != F32:
        return e.cx.constant(value.astype(np.float32), name + "_f32")
    return e.cast(e.cx.tensor(name), F32)


def emit_output(cx: Context, node: Node, index: int, value: Tensor, dtype: DType) -> None:
    """Output `index` of the node (when present) is `value`, cast to `dtype`."""
    name = node.outputs[index] if index < len(node.outputs) else ""
    if name and value.dtype == dtype:
        bind(cx, name, value)
    elif name:
        cx.emit("CAST", [value], [cx.output(name, dtype, value_shape(value))])


def split_heads(cx: Context, x: Tensor, heads: int) -> Tensor:
    """[batch, seq, heads * size] -> [batch, heads, seq, size]."""
    b, s, hidden = value_shape(x)
    if hidden is None or hidden % heads:
        raise Unsupported(f"hidden size {hidden} of '{x.name}' is not known at import or not divisible by {heads}")
    return cx.transpose(reshape(cx, x, [b, s, heads, hidden // heads], {0: 0, 1: 1}), [0, 2, 1, 3])


def merge_heads(cx: Context, x: Tensor) -> Tensor:
    """[batch, heads, seq, size] -> [batch, seq, heads * size]."""
    b, h, s, d = value_shape(x)
    return reshape(cx, cx.transpose(x, [0, 2, 1, 3]), [b, s, None if h is None or d is None else h * d], {0: 0, 1: 1})


def matmul(e: Emitter, a: Tensor, b: Tensor, adj_a: bool = False, adj_b: bool = False) -> Tensor:
    """a @ b (either transposed) over matching leading dimensions."""
    sa, sb = value_shape(a), value_shape(b)
    shape = [*sa[:-2], sa[-1] if adj_a else sa[-2], sb[-2] if adj_b else sb[-1]]
    return e.op("BATCH_MATMUL", [a, b], F32, shape, BatchMatMulOptions(adjoint_lhs=adj_a, adjoint_rhs=adj_b))


def head_count(cx: Context, node: Node, rank: int, attr: str, name: str) -> int:
    heads = node.attr(attr) if rank == 3 else value_shape(cx.tensor(name))[1]
    if heads is None or int(heads) <= 0:
        raise Unsupported(f"the number of heads of '{name}' is not known at import")
    return int(heads)


# --- Attention ---------------------------------------------------------------------------------------


@converts("Attention")
def attention(cx: Context, node: Node) -> None:
    mask_name, nonpad = node.input(3), node.input(6)
    dtype = cx.dtype(node.input(0))
    e = Emitter(cx, node.outputs[0] + "_attn")
    q, k, v, past = _heads(cx, node, e)
    emit_output(cx, node, 1, k, dtype)
    emit_output(cx, node, 2, v, dtype)
    raw, scores = _scores(cx, node, e, q, k)
    valid = None  # nonpad_kv_seqlen: the valid keys per batch, [batch, 1, 1, 1]
    if nonpad:
        if past is not None:
            raise Unsupported("nonpad_kv_seqlen together with past_key")
        valid = reshape(cx, e.cast(cx.tensor(nonpad), DType.INT32), [value_shape(q)[0], 1, 1, 1])
    bias = _bias(cx, node, e, mask_name, (q, k, past), valid)
    biased = scores if bias is None else e.tensor(e.add(scores, bias))
    probs = _softmax(cx, node, e, biased, dtype)
    # a row attends no key only through the mask, the padding, or a left window without a past (the
    # query's own position is allowed otherwise); a constant bias shows it at import
    if bias is not None and (mask_name or nonpad or node.attr("left_window_size", -1) >= 0 and past is None
                             or isinstance(bias, np.ndarray)):
        probs = _zero_masked_rows(e, probs, bias)
    mode = int(node.attr("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise Unsupported(f"qk_matmul_output_mode {mode}")
    emit_output(cx, node, 3, [raw, scores, biased, probs][mode], dtype)
    y = _grouped(cx, matmul(e, _grouped(cx, probs, k), v), q)
    emit_output(cx, node, 0, merge_heads(cx, y) if cx.rank(node.input(0)) == 3 else y, dtype)


def _heads(cx: Context, node: Node, e: Emitter) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Q, K and V in float32 as [batch, heads, length, size], K and V after their past, and the past
    keys (None without a past)."""
    q_name, k_name, v_name, _, past_k, past_v = (node.input(i) for i in range(6))
    rank = cx.need_rank(node, q_name)
    if rank not in (3, 4):
        raise Unsupported(f"rank-{rank} query (3 or 4 expected)")
    q_heads = head_count(cx, node, rank, "q_num_heads", q_name)
    kv_heads = head_count(cx, node, rank, "kv_num_heads", k_name)
    if q_heads % kv_heads:
        raise Unsupported(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
    q, k, v = (as_float32(e, n) for n in (q_name, k_name, v_name))
    if rank == 3:
        q, k, v = split_heads(cx, q, q_heads), split_heads(cx, k, kv_heads), split_heads(cx, v, kv_heads)
    if not (past_k or past_v):
        return q, k, v, None
    if not (past_k and past_v):
        raise Unsupported("past_key and past_value must be given together")
    past = as_float32(e, past_k)
    return q, concat(cx, [past, k], 2), concat(cx, [as_float32(e, past_v), v], 2), past


def _scores(cx: Context, node: Node, e: Emitter, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """scale * Q K^T [batch, q_heads, q_len, kv_len], and the same soft-capped."""
    head_size = value_shape(q)[3]
    scale = node.attr("scale")
    if scale is None:
        if head_size is None:
            raise Unsupported("the head size is not known at import (needed for the default scale)")
        scale = 1.0 / np.sqrt(head_size)
    queries = _grouped(cx, e.tensor(e.mul(q, np.float32(scale))), k)
    raw = _grouped(cx, matmul(e, queries, k, adj_b=True), q)
    softcap = np.float32(node.attr("softcap", 0.0))
    if softcap <= 0:
        return raw, raw
    return raw, e.tensor(e.mul(e.unary("TANH", e.tensor(e.div(raw, softcap))), softcap))


def _grouped(cx: Context, x: Tensor, like: Tensor) -> Tensor:
    """x [batch, heads, rows, n] with the heads of `like`: the query heads sharing a key/value head
    (grouped-query attention) are folded into its rows ([batch, kv_heads, group * rows, n]), or
    unfolded back."""
    batch, heads, rows, n = value_shape(x)
    target = value_shape(like)[1]
    assert heads is not None and target is not None  # checked by head_count
    if heads == target:
        return x
    rows = None if rows is None else rows * heads // target
    return reshape(cx, x, [batch, target, rows, n], {0: 0, 3: 3})


def _softmax(cx: Context, node: Node, e: Emitter, x: Tensor, dtype: DType) -> Tensor:
    """SOFTMAX over the last axis, in the precision `softmax_precision` asks for (float32 stands in
    for double; float16 rounds the float32 logits to float16 first)."""
    precision = node.attr("softmax_precision")
    if precision == onnx.TensorProto.FLOAT16 and dtype == F32:
        x = e.cast(e.cast(x, F16), F32)
    elif precision not in (None, onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        raise Unsupported(f"softmax_precision {onnx.TensorProto.DataType.Name(precision)}")
    return e.unary("SOFTMAX", x, SoftmaxOptions(beta=1.0))


def _zero_masked_rows(e: Emitter, probs: Tensor, bias: Value) -> Tensor:
    """probs with the rows whose bias is -inf throughout set to 0."""
    if isinstance(bias, np.ndarray):
        masked = np.isneginf(bias.max(axis=-1, keepdims=True))
        return e.select(masked, np.float32(0), probs) if masked.any() else probs
    shape = value_shape(bias)
    peak = e.op("REDUCE_MAX", [bias, np.array([len(shape) - 1], np.int32)], F32, [*shape[:-1], 1],
                ReducerOptions(keep_dims=True))
    return e.select(e.binary("EQUAL", peak, np.float32(-np.inf)), np.float32(0), probs)


def _bias(cx: Context, node: Node, e: Emitter, mask_name: str, qkp: tuple[Tensor, Tensor, Tensor | None],
          valid: Tensor | None) -> Value | None:
    """The additive bias of the scores (broadcasting to [batch, heads, q_len, kv_len]): the mask,
    and -inf where the causal, window or padding (`valid` keys) constraints disallow a key;
    `qkp`: the queries, all keys and the past keys, [batch, heads, length, size]."""
    q, k, past = qkp
    mask = _mask_bias(cx, e, mask_name, value_shape(k)[2]) if mask_name else None
    if not _constrained(node) and valid is None:
        return mask
    q_len = dim(e, q, 2)
    n = valid if valid is not None else q_len if past is None else e.add(dim(e, past, 2), q_len)
    allowed = _allowed(node, e, (q_len, dim(e, k, 2)), n, valid is not None)
    if isinstance(allowed, np.ndarray):
        constraint: Value = np.where(allowed, np.float32(0), np.float32(-np.inf))
    else:
        constraint = e.select(allowed, np.float32(0), np.float32(-np.inf))
    return constraint if mask is None else e.add(mask, constraint)


def _mask_bias(cx: Context, e: Emitter, name: str, kv_len: int | None) -> Value:
    """attn_mask as an additive float32 bias (a boolean mask: 0 where True, -inf where False),
    padded with -inf to kv_len keys."""
    value = cx.const(name)
    if value is not None:
        bias = value.astype(np.float32) if value.dtype != np.bool_ else np.where(value, np.float32(0), -np.inf)
    elif cx.dtype(name) == DType.BOOL:
        bias = e.select(cx.tensor(name), np.float32(0), np.float32(-np.inf))
    else:
        bias = as_float32(e, name)
    length = value_shape(bias)[-1]
    if length == kv_len:  # (both unknown at import: the same, as onnxruntime requires)
        return bias
    if length is None or kv_len is None:
        raise Unsupported("attn_mask's last dimension and the key length must be known at import to compare")
    pads = np.zeros((len(value_shape(bias)), 2), np.int32)
    pads[-1, 1] = kv_len - length
    if isinstance(bias, np.ndarray):
        return np.pad(bias, pads, constant_values=-np.inf).astype(np.float32)
    shape = [*value_shape(bias)[:-1], kv_len]
    return e.op("PADV2", [bias, pads, np.array(-np.inf, np.float32)], F32, shape, PadV2Options())


def _constrained(node: Node) -> bool:
    """Whether is_causal or a window restricts the keys."""
    return bool(node.attr("is_causal", 0)) or node.attr("left_window_size", -1) >= 0 or \
        node.attr("right_window_size", -1) >= 0


def _allowed(node: Node, e: Emitter, lengths: tuple[Value, Value], n: Value, padded: bool) -> Value:
    """Where query i may attend key j, with n the number of keys up to the last query (the past's
    and the new ones, or nonpad_kv_seqlen per batch): is_causal (j <= i + n - q_len), the window
    (i + n - q_len - left <= j <= i + n - q_len + right) and, when `padded`, j < n. Each is a
    comparison of n with a bound depending on i and j: computed at import when the lengths and n
    are known then."""
    q_len, kv_len = lengths
    rows, keys = (_positions(e, size, shape) for size, shape in ((q_len, [-1, 1]), (kv_len, [1, -1])))
    distance = e.add(e.sub(keys, rows), q_len)  # j - i + q_len
    below = []  # bounds b with: allowed iff b < n
    if node.attr("is_causal", 0):
        below.append(e.sub(distance, 1))
    right, left = int(node.attr("right_window_size", -1)), int(node.attr("left_window_size", -1))
    if right >= 0:
        below.append(e.sub(distance, right + 1))
    if padded:
        below.append(keys)
    above = [e.add(distance, left + 1)] if left >= 0 else []  # allowed iff n < b
    tests = [e.binary("LESS", b, n) for b in below] + [e.binary("LESS", n, b) for b in above]
    allowed = tests[0]
    for test in tests[1:]:
        allowed = e.binary("LOGICAL_AND", allowed, test)
    return allowed


def _positions(e: Emitter, size: Value, shape: list[int]) -> Value:
    """0 .. size - 1 (int32) shaped as a column or row."""
    if not isinstance(size, Tensor):
        return np.arange(size, dtype=np.int32).reshape(shape)
    values = e.op("RANGE", [np.array(0, np.int32), size, np.array(1, np.int32)], DType.INT32, [None], RangeOptions())
    return reshape_to(e.cx, values, shape)


# --- LinearAttention ---------------------------------------------------------------------------------

UPDATE_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True), "gated_delta": (True, True)}


@converts("LinearAttention")
def linear_attention(cx: Context, node: Node) -> None:
    """The recurrence unrolled over the (known) sequence length; per step and key/value head, with
    the state S [d_k, d_v]: S *= exp(decay) (gated), v = beta * (v - S^T k) (delta), S += k v^T,
    and the outputs of the step's query heads sharing that state: scale * q S."""
    rule = node.attr("update_rule", "gated_delta")
    if rule not in UPDATE_RULES:
        raise Unsupported(f"update_rule '{rule}'")
    gated, delta = UPDATE_RULES[rule]
    q_name, k_name, v_name, past, decay_name, beta_name = (node.input(i) for i in range(6))
    if gated != bool(decay_name) or delta != bool(beta_name):
        raise Unsupported(f"update_rule '{rule}' with{'' if decay_name else 'out'} decay and "
                          f"with{'' if beta_name else 'out'} beta")
    q_heads, kv_heads = int(node.attr("q_num_heads", 0)), int(node.attr("kv_num_heads", 0))
    if q_heads <= 0 or kv_heads <= 0 or q_heads % kv_heads:
        raise Unsupported(f"q_num_heads {q_heads} is not a positive multiple of kv_num_heads {kv_heads}")
    e = Emitter(cx, node.outputs[0] + "_la")
    q, k, v = (as_float32(e, n) for n in (q_name, k_name, v_name))
    batch, steps, q_hidden = value_shape(q)
    v_hidden = value_shape(v)[2]
    if steps is None or q_hidden is None or v_hidden is None:
        raise Unsupported("the sequence length and hidden sizes must be known at import (the recurrence is unrolled)")
    d_k, d_v, group = q_hidden // q_heads, v_hidden // kv_heads, q_heads // kv_heads
    scale = float(node.attr("scale", 0.0)) or 1.0 / np.sqrt(d_k)
    qs = _steps(cx, e, e.tensor(e.mul(q, np.float32(scale))), [kv_heads, group, d_k])
    ks = _steps(cx, e, k, [kv_heads, d_k, 1])
    vs = _steps(cx, e, v, [kv_heads, 1, d_v])
    decays = betas = None
    if gated:  # per key feature or per head
        sizes = _per_step(cx, decay_name, {kv_heads * d_k: [kv_heads, d_k, 1], kv_heads: [kv_heads, 1, 1]})
        decays = _steps(cx, e, e.unary("EXP", as_float32(e, decay_name)), sizes)
    if delta:  # per head or shared
        betas = _steps(cx, e, as_float32(e, beta_name), _per_step(cx, beta_name, {kv_heads: [kv_heads, 1, 1],
                                                                                   1: [1, 1, 1]}))
    state = as_float32(e, past) if past else None
    outputs = []
    for t in range(steps):
        if decays is not None and state is not None:
            state = e.tensor(e.mul(state, decays[t]))
        update = vs[t]
        if betas is not None:
            if state is not None:
                update = e.tensor(e.sub(update, matmul(e, ks[t], state, adj_a=True)))
            update = e.tensor(e.mul(update, betas[t]))
        outer = e.tensor(e.mul(ks[t], update))
        state = outer if state is None else e.tensor(e.add(state, outer))
        outputs.append(matmul(e, qs[t], state))
    if steps == 1:
        y = outputs[0]
    else:
        y = e.op("PACK", outputs, F32, [batch, steps, kv_heads, group, d_v], PackOptions(values_count=steps, axis=1))
    emit_output(cx, node, 0, reshape(cx, y, [batch, steps, q_heads * d_v]), cx.dtype(q_name))
    emit_output(cx, node, 1, state, cx.dtype(past or q_name))


def _per_step(cx: Context, name: str, forms: dict[int, list[int]]) -> list[int]:
    """The per-step shape of input `name` for its number of features."""
    features = (cx.shape(name) or [None])[-1]
    if features not in forms:
        raise Unsupported(f"'{name}' has {features} features per step ({' or '.join(map(str, forms))} expected)")
    return forms[features]


def _steps(cx: Context, e: Emitter, x: Tensor, dims: list[int]) -> list[Tensor]:
    """x [batch, steps, features] cut into its steps, each reshaped to [batch, *dims]."""
    batch, steps, _ = value_shape(x)
    if steps == 1:
        return [reshape(cx, x, [batch, *dims])]
    rows = reshape(cx, cx.transpose(x, [1, 0, 2]), [steps, batch, *dims])
    outs = [cx.temp(f"{x.name}_{t}", F32, [batch, *dims]) for t in range(steps)]
    cx.emit("UNPACK", [rows], outs, UnpackOptions(num=steps, axis=0))
    return outs
