"""Fusions of multi-operator patterns into one operator: instance normalization, PReLU, GELU
(also between two FULLY_CONNECTED, ONE's FC-GELU-FC), and consecutive or transposed means."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import FullyConnectedOptionsWeightsFormat, GeluOptions, InstanceNormOptions, ReducerOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    insert_before,
    int_list,
    is_float,
    is_output,
    replace_operator,
    scalar_value,
    signature,
    single_reader,
    unique_name,
)

from .common import NONE, activation, channel_vector, producer_in, same_signature


def _operands(op: Operator | None) -> tuple[Tensor, Tensor] | None:
    if op is None or len(op.inputs) != 2 or op.input(0) is None or op.input(1) is None:
        return None
    return op.input(0), op.input(1)


def _match_pair(op: Operator | None, want_a, want_b):
    """For a commutative binary `op`: (a, b) with want_a(a) and want_b(b) in either order."""
    pair = _operands(op)
    if pair is None:
        return None
    a, b = pair
    for x, y in ((a, b), (b, a)):
        ra, rb = want_a(x), want_b(y)
        if ra is not None and rb is not None:
            return ra, rb
    return None


def _no_activation(*ops: Operator) -> bool:
    return all(activation(op) in (None, NONE) for op in ops)


def _contained(sg: Subgraph, ops: Iterable[Operator], keep: Tensor) -> bool:
    """Every result of `ops` except `keep` is read only inside `ops` (and is no output)."""
    ops = list(ops)
    inside = {id(op) for op in ops}
    for op in ops:
        for t in op.outputs:
            if t is keep:
                continue
            if is_output(sg, t) or any(id(c) not in inside for c in t.consumers):
                return False
    return True


def _factors(sg: Subgraph, t: Tensor) -> tuple[list[Operator], list[Tensor]]:
    """Flatten a tree of MUL operators (no activation, inner ones read once) producing `t`:
    (the MULs, the factors)."""
    op = producer_in(sg, t, "MUL")
    if op is None or not _no_activation(op) or _operands(op) is None:
        return [], [t]
    ops, factors = [op], []
    for f in op.inputs[:2]:
        inner = producer_in(sg, f, "MUL")
        if inner is not None and single_reader(sg, f) is op:
            sub_ops, sub_factors = _factors(sg, f)
            ops += sub_ops
            factors += sub_factors
        else:
            factors.append(f)
    return ops, factors


# ---------------------------------------------------------------------------- fuse_instnorm


def _spatial_mean(sg: Subgraph, t: Tensor | None, x: Tensor | None = None) -> tuple[Operator, Tensor] | None:
    """`t` = MEAN(x, axes [1, 2], keep_dims) of a rank-4 float tensor: (the MEAN, x)."""
    op = producer_in(sg, t, "MEAN")
    if op is None or op.options is None or not op.options.keep_dims:
        return None
    src = op.input(0)
    if src is None or len(src.shape) != 4 or (x is not None and src is not x) or not is_float(src):
        return None
    axes = int_list(op.input(1))
    if axes is None or sorted(a % 4 for a in axes) != [1, 2]:
        return None
    return op, src


class FuseInstanceNormPass(OperatorPass):
    """TensorFlow's instance normalization over H and W of an NHWC tensor, as the converter
    leaves it, becomes circle's INSTANCE_NORM (x, gamma, beta; epsilon):

    - mean = MEAN(x, [1, 2]), var = MEAN(SQUARED_DIFFERENCE(x, mean), [1, 2]),
      r = RSQRT(var + eps), then either
    - (x - mean) * gamma * r + beta (any order of the three factors), or
    - x * (r * gamma) + (beta - mean * (r * gamma)) (`tf.nn.batch_normalization`).

    gamma and beta are per-channel constants (gamma may be missing); the final ADD's
    activation is kept. INSTANCE_NORM is circle-only: such a model saves as .circle."""

    name = "fuse_instnorm"
    description = "fuse the operators of an instance normalization into INSTANCE_NORM"
    levels = frozenset({"O1"})
    operators = frozenset({"ADD"})

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        out = add.outputs[0]
        if not is_float(out) or len(out.shape) != 4:
            return False
        found = self._pattern_a(sg, add) or self._pattern_b(sg, add)
        if found is None:
            return False
        x, gamma, beta, eps, ops = found
        channels = out.shape[-1]
        if not same_signature(x, out) or not _contained(sg, ops, out):
            return False
        gamma_v = np.ones(channels, np.float32) if gamma is None else channel_vector(gamma, channels, out)
        beta_v = channel_vector(beta, channels, out)
        if gamma_v is None or beta_v is None:
            return False
        g_t = add_constant(sg, f"{out.name}/gamma", gamma_v)
        b_t = add_constant(sg, f"{out.name}/beta", beta_v)
        act = activation(add)
        norm = Operator("INSTANCE_NORM", [x, g_t, b_t], [out],
                        InstanceNormOptions(epsilon=float(eps), fused_activation_function=act or NONE))
        for op in ops:
            if op is not add:
                sg.remove_operator(op)
        replace_operator(sg, add, norm)
        return True

    def _rsqrt(self, sg: Subgraph, t: Tensor, x: Tensor, mean_t: Tensor):
        """`t` = RSQRT(MEAN(SQUARED_DIFFERENCE(x, mean), [1, 2]) + eps): (eps, operators)."""
        rs = producer_in(sg, t, "RSQRT")
        if rs is None:
            return None
        add_eps = producer_in(sg, rs.input(0), "ADD")
        found = _match_pair(add_eps, lambda v: _spatial_mean(sg, v), lambda c: scalar_value(c))
        if found is None or not _no_activation(add_eps):
            return None
        (var_mean, sq_t), eps = found
        sq = producer_in(sg, sq_t, "SQUARED_DIFFERENCE")
        pair = _operands(sq)
        if pair is None or {id(pair[0]), id(pair[1])} != {id(x), id(mean_t)} or not isinstance(eps, float):
            return None
        return eps, [rs, add_eps, var_mean, sq]

    def _pattern_a(self, sg: Subgraph, add: Operator):
        """(x - mean) * gamma * rsqrt(var + eps) + beta."""
        for prod_t, beta in (add.inputs[:2], add.inputs[1::-1]):
            if constant(beta) is None:
                continue
            mul_ops, factors = _factors(sg, prod_t)
            if not mul_ops or len(factors) not in (2, 3):
                continue
            consts = [f for f in factors if constant(f) is not None]
            rest = [f for f in factors if constant(f) is None]
            if len(consts) > 1 or len(rest) != 2:
                continue
            for sub_t, rs_t in (rest, rest[::-1]):
                sub = producer_in(sg, sub_t, "SUB")
                pair = _operands(sub)
                if pair is None or not _no_activation(sub):
                    continue
                x, mean_t = pair
                m = _spatial_mean(sg, mean_t, x)
                if m is None:
                    continue
                found = self._rsqrt(sg, rs_t, x, mean_t)
                if found is None:
                    continue
                eps, ops = found
                return x, (consts[0] if consts else None), beta, eps, [m[0], sub, *ops, *mul_ops, add]
        return None

    def _pattern_b(self, sg: Subgraph, add: Operator):
        """x * mg + (beta - mean * mg) with mg = rsqrt(var + eps) * gamma (or rsqrt alone)."""
        pair = _operands(add)
        if pair is None:
            return None
        for scaled_t, shift_t in (pair, pair[::-1]):
            mul_x = producer_in(sg, scaled_t, "MUL")
            sub = producer_in(sg, shift_t, "SUB")
            if mul_x is None or sub is None or not _no_activation(mul_x, sub):
                continue
            beta, mm_t = sub.input(0), sub.input(1)
            mul_m = producer_in(sg, mm_t, "MUL")
            if constant(beta) is None or mul_m is None or not _no_activation(mul_m):
                continue
            for x, mg in (mul_x.inputs[:2], mul_x.inputs[1::-1]):
                if mg is None or x is None or mg not in mul_m.inputs[:2]:
                    continue
                mean_t = mul_m.input(1) if mul_m.input(0) is mg else mul_m.input(0)
                m = _spatial_mean(sg, mean_t, x)
                if m is None:
                    continue
                gamma, rs_t, extra = None, mg, []
                mg_op = producer_in(sg, mg, "MUL")
                if mg_op is not None:
                    got = _match_pair(mg_op, lambda v: v if producer_in(sg, v, "RSQRT") else None,
                                      lambda c: c if constant(c) is not None else None)
                    if got is None or not _no_activation(mg_op):
                        continue
                    rs_t, gamma = got
                    extra = [mg_op]
                found = self._rsqrt(sg, rs_t, x, mean_t)
                if found is None:
                    continue
                eps, ops = found
                return x, gamma, beta, eps, [m[0], *ops, *extra, mul_x, mul_m, sub, add]
        return None


# ------------------------------------------------------------------------------- fuse_prelu


class FusePReluPass(OperatorPass):
    """RELU(x) + MINIMUM(x, 0) * alpha, as TensorFlow writes a parametric ReLU by hand,
    becomes PRELU(x, alpha) for a constant alpha that broadcasts to x's shape."""

    name = "fuse_prelu"
    description = "fuse RELU(x) + alpha * MINIMUM(x, 0) into PRELU"
    levels = frozenset({"O1"})
    operators = frozenset({"ADD"})

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        out = add.outputs[0]
        if not is_float(out) or not _no_activation(add):
            return False

        def relu_of(t):
            op = producer_in(sg, t, "RELU")
            return None if op is None else op

        def neg_part(t):
            mul = producer_in(sg, t, "MUL")
            if mul is None or not _no_activation(mul):
                return None
            got = _match_pair(mul, lambda v: producer_in(sg, v, "MINIMUM"),
                              lambda c: c if constant(c) is not None and is_float(c) else None)
            return None if got is None else (mul, *got)

        found = _match_pair(add, relu_of, neg_part)
        if found is None:
            return False
        relu, (mul, minimum, alpha) = found
        x = relu.input(0)
        parts = _operands(minimum)
        if x is None or parts is None or not is_float(x) or not same_signature(x, out):
            return False
        zero = parts[1] if parts[0] is x else parts[0] if parts[1] is x else None
        if zero is None or scalar_value(zero) != 0.0 or not _no_activation(minimum):
            return False
        a = constant(alpha)
        if a.ndim > len(x.shape) or np.broadcast_shapes(a.shape, x.shape) != tuple(x.shape):
            return False
        if not _contained(sg, [relu, minimum, mul, add], out):
            return False
        for op in (relu, minimum, mul):
            sg.remove_operator(op)
        replace_operator(sg, add, Operator("PRELU", [x, alpha], [out]))
        return True


# -------------------------------------------------------------------------------- fuse_gelu


def _near(t: Tensor | None, value: float) -> bool:
    """`t` is a float scalar constant within 1e-5 (relative) of `value`."""
    v = scalar_value(t) if t is not None and is_float(t) else None
    return isinstance(v, float) and abs(v - value) <= 1e-5 * abs(value)


def _scaled(sg: Subgraph, t: Tensor | None, factor: float) -> tuple[Operator, Tensor] | None:
    """`t` = x * factor (or x / (1 / factor)) by a scalar constant: (the operator, x)."""
    op = producer_in(sg, t, "MUL", "DIV")
    if op is None or not _no_activation(op) or _operands(op) is None:
        return None
    if op.type == "DIV":
        return (op, op.input(0)) if _near(op.input(1), 1.0 / factor) else None
    got = _match_pair(op, lambda v: v, lambda c: c if _near(c, factor) else None)
    return None if got is None else (op, got[0])


def _power_of(sg: Subgraph, t: Tensor, x: Tensor) -> tuple[list[Operator], int] | None:
    """`t` = x ** n written with MUL, SQUARE or POW by a constant integer: (operators, n)."""
    if t is x:
        return [], 1
    op = producer_in(sg, t, "MUL", "SQUARE", "POW")
    if op is None or not _no_activation(op):
        return None
    if op.type == "SQUARE":
        inner = _power_of(sg, op.input(0), x)
        return None if inner is None else ([op, *inner[0]], 2 * inner[1])
    if op.type == "POW":
        n = scalar_value(op.input(1))
        inner = _power_of(sg, op.input(0), x)
        if inner is None or not isinstance(n, float) or n != int(n):
            return None
        return [op, *inner[0]], inner[1] * int(n)
    parts = [_power_of(sg, f, x) for f in op.inputs[:2]]
    if len(op.inputs) != 2 or None in parts:
        return None
    return [op, *parts[0][0], *parts[1][0]], parts[0][1] + parts[1][1]


def _erf_argument(sg: Subgraph, op: Operator) -> tuple[Tensor, list[Operator]] | None:
    """`op` = CUSTOM Erf(x / sqrt(2)): (x, operators)."""
    if op.name != "CUSTOM" or len(op.inputs) != 1 or len(op.outputs) != 1:
        return None
    found = _scaled(sg, op.input(0), math.sqrt(0.5))
    return None if found is None else (found[1], [found[0]])


def _tanh_argument(sg: Subgraph, op: Operator) -> tuple[Tensor, list[Operator]] | None:
    """`op` = TANH(sqrt(2 / pi) * (x + 0.044715 * x ** 3)): (x, operators)."""
    outer = _scaled(sg, op.input(0), math.sqrt(2.0 / math.pi))
    add = producer_in(sg, None if outer is None else outer[1], "ADD")
    if add is None or not _no_activation(add) or _operands(add) is None:
        return None
    for x, cubic in (add.inputs[:2], add.inputs[1::-1]):
        scaled = _scaled(sg, cubic, 0.044715)
        power = None if scaled is None else _power_of(sg, scaled[1], x)
        if power is not None and power[1] == 3:
            return x, [outer[0], add, scaled[0], *power[0]]
    return None


#: The function of x inside GELU's 0.5 * x * (1 + f(x)), and whether it is the tanh form.
_GELU_INNER = {"Erf": (_erf_argument, False), "TANH": (_tanh_argument, True)}


class FuseGeluPass(OperatorPass):
    """0.5 * x * (1 + erf(x / sqrt(2))), with `erf` the custom operator Erf (ONE's pattern),
    becomes GELU(x); 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) becomes
    GELU(x, approximate=True). The three factors may be multiplied in any order and grouping;
    x / sqrt(2) may be a DIV, x^3 a POW, SQUARE or MULs. Constants match within 1e-5."""

    name = "fuse_gelu"
    description = "fuse the operators of 0.5 * x * (1 + erf(x / sqrt 2)) (or its tanh form) into GELU"
    levels = frozenset()
    operators = frozenset({"MUL"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        out = op.outputs[0]
        muls, factors = _factors(sg, out)
        if not is_float(out) or len(factors) != 3:
            return False
        half = [f for f in factors if scalar_value(f) == 0.5 and is_float(f)]
        for one_plus in factors:
            found = self._one_plus(sg, one_plus)
            if found is None or len(half) != 1:
                continue
            x, ops, approximate = found
            if sorted(map(id, factors)) != sorted(map(id, [x, half[0], one_plus])) or not same_signature(x, out):
                continue
            if not _contained(sg, [*muls, *ops], out):
                continue
            for dead in [*muls, *ops]:
                if dead is not op:
                    sg.remove_operator(dead)
            replace_operator(sg, op, Operator("GELU", [x], [out], GeluOptions(approximate=approximate)))
            return True
        return False

    def _one_plus(self, sg: Subgraph, t: Tensor) -> tuple[Tensor, list[Operator], bool] | None:
        """`t` = 1 + f(x) with f erf(x / sqrt 2) or its tanh form: (x, operators, tanh form)."""
        add = producer_in(sg, t, "ADD")
        got = _match_pair(add, lambda v: v, lambda c: c if scalar_value(c) == 1.0 and is_float(c) else None)
        if got is None or not _no_activation(add):
            return None
        inner = producer_in(sg, got[0])
        if inner is None or inner.type not in _GELU_INNER:
            return None
        match, approximate = _GELU_INNER[inner.type]
        found = match(sg, inner)
        return None if found is None else (found[0], [add, inner, *found[1]], approximate)


# ------------------------------------------------------------------ replace_with_fc_gelu_fc


def _constant_fc(sg: Subgraph, t: Tensor) -> tuple[Operator, np.ndarray, np.ndarray | None] | None:
    """`t` = FULLY_CONNECTED with float32 constant weights in the default format, a float32
    constant bias or none, and no activation: (the operator, weights, bias or None)."""
    fc = producer_in(sg, t, "FULLY_CONNECTED")
    if fc is None or len(fc.outputs) != 1 or not _no_activation(fc) or not is_float(t):
        return None
    if fc.options is not None and fc.options.weights_format != FullyConnectedOptionsWeightsFormat.DEFAULT:
        return None
    w_t, b_t = fc.input(1), fc.input(2)
    w, b = constant(w_t), constant(b_t)
    if w is None or not is_float(w_t) or (b_t is not None and (b is None or not is_float(b_t))):
        return None
    return fc, w, b


def _halved(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """`b` is `a` * sqrt(1/2) up to float32 rounding (relative 1e-6), or both are absent."""
    if a is None or b is None:
        return a is None and b is None
    exact = a.astype(np.float64) * math.sqrt(0.5)
    return a.shape == b.shape and bool(np.allclose(b, exact, rtol=1e-6, atol=np.finfo(np.float32).tiny))


class ReplaceWithFCGeluFCPass(OperatorPass):
    """FC3(FC1(x) * (1 + Erf(FC2(x)))), with Erf the custom operator and FC2's weights and
    bias FC1's times sqrt(1/2) (x / sqrt 2 folded into them by an exporter), becomes
    FC3'(GELU(FC1(x))) with FC3's weights doubled: y * (1 + erf(y / sqrt 2)) is 2 * gelu(y).
    FC2 must match to float32 rounding (relative 1e-6; ONE: 1e-5 absolute, which for small
    weights is another function). FC1, FC2 without activation; FC3 keeps its activation and
    bias; FC1 stays for its other readers."""

    name = "replace_with_fc_gelu_fc"
    description = "replace FC3(y * (1 + Erf(FC2(x)))), y = FC1(x), FC2 = FC1 / sqrt 2, by FC3(GELU(y)) doubled"
    levels = frozenset()
    operators = frozenset({"FULLY_CONNECTED"})

    def rewrite(self, sg: Subgraph, fc3: Operator) -> bool:
        mul_t, w3_t, b3_t, out = fc3.input(0), fc3.input(1), fc3.input(2), fc3.outputs[0]
        w3 = constant(w3_t)
        if w3 is None or not (is_float(w3_t) and is_float(out)) or (b3_t is not None and constant(b3_t) is None):
            return False
        mul = producer_in(sg, mul_t, "MUL")
        found = _match_pair(mul, lambda t: _constant_fc(sg, t), lambda t: producer_in(sg, t, "ADD"))
        if found is None or not _no_activation(mul):
            return False
        (fc1, w1, b1), add = found
        got = _match_pair(add, lambda t: producer_in(sg, t, "Erf"),
                          lambda c: c if scalar_value(c) == 1.0 and is_float(c) else None)
        if got is None or not _no_activation(add):
            return False
        erf = got[0]
        if erf.name != "CUSTOM" or len(erf.inputs) != 1 or len(erf.outputs) != 1:
            return False
        second = _constant_fc(sg, erf.input(0))
        if second is None or second[0] is fc1 or second[0].input(0) is not fc1.input(0):
            return False
        fc2, w2, b2 = second
        y = fc1.outputs[0]
        if not (_halved(w1, w2) and _halved(b1, b2)):
            return False
        results = (fc2.outputs[0], erf.outputs[0], add.outputs[0], mul_t)
        if not all(is_float(t) and same_signature(t, y) for t in results):
            return False
        if not _contained(sg, [fc2, erf, add, mul, fc3], out):
            return False
        for op in (fc2, erf, add, mul):
            sg.remove_operator(op)
        gelu = sg.add_tensor(Tensor(unique_name(sg, f"{y.name}/gelu"), y.dtype, y.shape, shape_signature=signature(y)))
        insert_before(sg, Operator("GELU", [y], [gelu], GeluOptions(approximate=False)), fc3)
        fc3.set_input(0, gelu)
        fc3.set_input(1, add_constant(sg, f"{w3_t.name}/doubled", w3 * np.float32(2.0)))
        return True


# ---------------------------------------------------------------------------------- means


def _axes(op: Operator, rank: int) -> list[int] | None:
    axes = int_list(op.input(1))
    if axes is None:
        return None
    axes = sorted({a % rank for a in axes}) if rank else []
    return axes


class FuseMeanWithMeanPass(OperatorPass):
    """MEAN of a MEAN (same keep_dims, the first read only there) is one MEAN over both sets
    of axes."""

    name = "fuse_mean_with_mean"
    description = "merge MEAN of a MEAN into one MEAN over both sets of axes"
    levels = frozenset({"O1"})
    operators = frozenset({"MEAN"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        first = producer_in(sg, op.input(0), "MEAN")
        if first is None or single_reader(sg, op.input(0)) is not op or first.options is None or op.options is None:
            return False
        keep = bool(first.options.keep_dims)
        if keep != bool(op.options.keep_dims):
            return False
        x = first.input(0)
        if x is None or not (is_float(x) and is_float(op.outputs[0])):
            return False
        rank = len(x.shape)
        a1 = _axes(first, rank)
        mid_rank = len(first.outputs[0].shape)
        a2 = _axes(op, mid_rank)
        if a1 is None or a2 is None or not a1:
            return False
        if keep:
            original = a2
        else:
            remaining = [d for d in range(rank) if d not in a1]
            if mid_rank != len(remaining):
                return False
            original = [remaining[a] for a in a2]
        merged = sorted(set(a1) | set(original))
        axes_t = add_constant(sg, f"{op.outputs[0].name}/axes", np.asarray(merged, np.int32))
        sg.remove_operator(first)
        op.set_inputs([x, axes_t])
        op.options = ReducerOptions(keep_dims=keep)
        return True


class FuseTransposeWithMeanPass(OperatorPass):
    """MEAN (keep_dims false) of a TRANSPOSE that only reorders the reduced axes is the
    MEAN of the untransposed tensor over the corresponding axes."""

    name = "fuse_transpose_with_mean"
    description = "drop a TRANSPOSE before MEAN when it only reorders the reduced axes"
    levels = frozenset({"O1"})
    operators = frozenset({"MEAN"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        tr = producer_in(sg, op.input(0), "TRANSPOSE")
        if tr is None or single_reader(sg, op.input(0)) is not op or op.options is None or op.options.keep_dims:
            return False
        x, perm = tr.input(0), int_list(tr.input(1))
        if x is None or perm is None or sorted(perm) != list(range(len(x.shape))):
            return False
        axes = _axes(op, len(perm))
        if axes is None or not axes:
            return False
        kept = [perm[d] for d in range(len(perm)) if d not in axes]
        if kept != sorted(kept):
            return False
        original = sorted(perm[a] for a in axes)
        axes_t = add_constant(sg, f"{op.outputs[0].name}/axes", np.asarray(original, np.int32))
        sg.remove_operator(tr)
        op.set_inputs([x, axes_t])
        return True


def pattern_passes() -> list[OperatorPass]:
    return [FuseInstanceNormPass(), FusePReluPass(), FuseGeluPass(), ReplaceWithFCGeluFCPass(),
            FuseMeanWithMeanPass(), FuseTransposeWithMeanPass()]
