"""Removing operators that do nothing (reshapes to the same shape, full slices, identity
transposes, one-way splits, adding zero) or that cancel (reshape of a reshape, transpose of a
transpose)."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator, Subgraph
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    bypass,
    constant,
    int_list,
    is_float,
    is_quantized,
    reshape_target,
    signature,
    single_reader,
    static_shape,
)

from .common import (
    NONE,
    activation,
    producer_in,
    same_encoding,
    same_signature,
    split_const,
)


def _identity(sg: Subgraph, op: Operator, src_index: int) -> bool:
    """Bypass `op`, whose only output equals input `src_index`, when types agree."""
    src, dst = op.input(src_index), op.outputs[0] if len(op.outputs) == 1 else None
    if src is None or dst is None or not same_encoding(src, dst) or not same_signature(src, dst):
        return False
    return bypass(sg, op, src, dst)


class RemoveRedundantReshapePass(OperatorPass):
    """RESHAPE of a RESHAPE reads the first one's input instead (the first goes when no one
    else reads it)."""

    name = "remove_redundant_reshape"
    description = "make RESHAPE of a RESHAPE read the first one's input"
    levels = frozenset({"O1"})
    operators = frozenset({"RESHAPE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        first = producer_in(sg, op.input(0), "RESHAPE")
        if first is None or first.input(0) is None:
            return False
        x = first.input(0)
        if not (same_encoding(x, op.input(0)) and same_encoding(x, op.outputs[0])):
            return False
        op.set_input(0, x)
        return True


def _perm(op: Operator) -> list[int] | None:
    perm = int_list(op.input(1))
    x = op.input(0)
    if perm is None or x is None or sorted(perm) != list(range(len(x.shape))):
        return None
    return perm


class RemoveRedundantTransposePass(OperatorPass):
    """TRANSPOSE of a TRANSPOSE: removed when the two permutations cancel, otherwise one
    TRANSPOSE by the composed permutation (when the first has no other reader)."""

    name = "remove_redundant_transpose"
    description = "remove two TRANSPOSEs that cancel, or merge them into one"
    levels = frozenset({"O1"})
    operators = frozenset({"TRANSPOSE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        first = producer_in(sg, op.input(0), "TRANSPOSE")
        if first is None:
            return False
        p1, p2 = _perm(first), _perm(op)
        if p1 is None or p2 is None or len(p1) != len(p2):
            return False
        x, out = first.input(0), op.outputs[0]
        if not (same_encoding(x, op.input(0)) and same_encoding(x, out)):
            return False
        composed = [p1[i] for i in p2]
        if composed == list(range(len(composed))):
            return same_signature(x, out) and bypass(sg, op, x, out)
        if single_reader(sg, op.input(0)) is not op:
            return False
        op.set_input(0, x)
        op.set_input(1, add_constant(sg, f"{out.name}/perm", np.asarray(composed, np.int32)))
        return True


class RemoveUnnecessaryReshapePass(OperatorPass):
    """RESHAPE whose output has its input's shape (at most one dynamic dimension)."""

    name = "remove_unnecessary_reshape"
    description = "remove RESHAPE to the shape its input already has"
    levels = frozenset({"O1"})
    operators = frozenset({"RESHAPE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x = op.input(0)
        if x is None or reshape_target(x) is None:
            return False
        return _identity(sg, op, 0)


class RemoveUnnecessarySlicePass(OperatorPass):
    """SLICE from 0 taking everything (size -1 or the full extent of every dimension)."""

    name = "remove_unnecessary_slice"
    description = "remove SLICE that takes its whole input"
    levels = frozenset({"O1"})
    operators = frozenset({"SLICE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x = op.input(0)
        begin, size = int_list(op.input(1)), int_list(op.input(2))
        if x is None or begin is None or size is None or len(begin) != len(x.shape) or len(size) != len(x.shape):
            return False
        sig = signature(x)
        for b, s, d in zip(begin, size, sig):
            if b != 0 or not (s == -1 or (d >= 0 and s == d)):
                return False
        return _identity(sg, op, 0)


def strided_slice_takes_everything(op: Operator, *, shrink: bool = False) -> bool:
    """STRIDED_SLICE reading every element in order: strides 1, from the start (or begin
    mask) to the end (or end mask, or an end at or past a known extent), no ellipsis or
    new-axis masks and no `offset`. With `shrink` the shrink mask must be set and name only
    axes of size 1 (they are dropped); without it no axis may be shrunk."""
    x = op.input(0)
    o = op.options
    if x is None or o is None or o.ellipsis_mask or o.new_axis_mask or getattr(o, "offset", False):
        return False
    if bool(o.shrink_axis_mask) != shrink:
        return False
    begin, end, strides = (int_list(op.input(i)) for i in (1, 2, 3))
    rank = len(x.shape)
    if begin is None or end is None or strides is None or not (len(begin) == len(end) == len(strides) == rank):
        return False
    sig = signature(x)
    for i in range(rank):
        if strides[i] != 1:
            return False
        if not (o.begin_mask >> i) & 1 and begin[i] != 0:
            return False
        if (o.shrink_axis_mask >> i) & 1:
            if sig[i] != 1:
                return False
        elif not (o.end_mask >> i) & 1 and (sig[i] < 0 or end[i] < sig[i]):
            return False
    return True


class RemoveUnnecessaryStridedSlicePass(OperatorPass):
    name = "remove_unnecessary_strided_slice"
    description = "remove STRIDED_SLICE that takes its whole input in order"
    levels = frozenset({"O1"})
    operators = frozenset({"STRIDED_SLICE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        return strided_slice_takes_everything(op) and _identity(sg, op, 0)


class RemoveUnnecessarySplitPass(OperatorPass):
    """SPLIT (or SPLIT_V) into a single part."""

    name = "remove_unnecessary_split"
    description = "remove SPLIT or SPLIT_V with a single output"
    levels = frozenset({"O1"})
    operators = frozenset({"SPLIT", "SPLIT_V"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if len(op.outputs) != 1:
            return False
        return _identity(sg, op, 1 if op.type == "SPLIT" else 0)


class RemoveUnnecessaryTransposePass(OperatorPass):
    """TRANSPOSE by the identity permutation."""

    name = "remove_unnecessary_transpose"
    description = "remove TRANSPOSE by the identity permutation"
    levels = frozenset()
    operators = frozenset({"TRANSPOSE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        perm = _perm(op)
        if perm is None or perm != list(range(len(perm))):
            return False
        return _identity(sg, op, 0)


class RemoveUnnecessaryAddPass(OperatorPass):
    """ADD of a constant zero (float, no fused activation) that does not broadcast its
    other operand to a larger shape."""

    name = "remove_unnecessary_add"
    description = "remove ADD of a constant zero"
    levels = frozenset()
    operators = frozenset({"ADD"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        parts = split_const(op)
        if parts is None or activation(op) not in (None, NONE):
            return False
        x, c = parts
        value = constant(c)
        if not (is_float(x) and is_float(c)) or value is None or np.any(value != 0):
            return False
        if static_shape(x) is None and signature(x) != signature(op.outputs[0]):
            return False
        # -0.0 + 0.0 is +0.0: the sum differs from x only in the sign of zeros, which no
        # arithmetic can tell apart except division by it; accepted, as ONE does.
        return _identity(sg, op, op.inputs.index(x))


class RemoveQuantDequantSeqPass(OperatorPass):
    """DEQUANTIZE(QUANTIZE(x)) of a float x reads x: the fake quantization goes, and with it
    the rounding to the quantized grid (not an exact rewrite: ONE's intent)."""

    name = "remove_quantdequant"
    description = "remove a QUANTIZE then DEQUANTIZE pair of a float tensor"
    levels = frozenset()
    operators = frozenset({"DEQUANTIZE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        quantize = producer_in(sg, op.input(0), "QUANTIZE")
        if quantize is None:
            return False
        x, out = quantize.input(0), op.outputs[0]
        if not (is_float(x) and is_float(out) and same_signature(x, out)):
            return False
        return bypass(sg, op, x, out)


class RemoveFakeQuantPass(OperatorPass):
    """FAKE_QUANT goes, its readers read its input: the rounding to the quantized grid and the
    clamp to [min, max] go with it (not an exact rewrite: ONE's intent)."""

    name = "remove_fakequant"
    description = "remove FAKE_QUANT operators"
    levels = frozenset()
    operators = frozenset({"FAKE_QUANT"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        return _identity(sg, op, 0)


class RemoveRedundantQuantizePass(OperatorPass):
    """QUANTIZE of a QUANTIZE reads the first one's input (only the last parameters count;
    not exact: one rounding instead of two); QUANTIZE to the type and per-tensor parameters
    its input already has goes."""

    name = "remove_redundant_quantize"
    description = "skip a QUANTIZE feeding a QUANTIZE; remove QUANTIZE to its input's parameters"
    levels = frozenset()
    operators = frozenset({"QUANTIZE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        first = producer_in(sg, op.input(0), "QUANTIZE")
        if first is not None and first.input(0) is not None:
            op.set_input(0, first.input(0))
            return True
        x = op.input(0)
        if x is None or not is_quantized(x) or x.quantization.scale.size != 1:
            return False
        return _identity(sg, op, 0)


def remove_passes() -> list[OperatorPass]:
    return [
        RemoveRedundantReshapePass(),
        RemoveRedundantTransposePass(),
        RemoveUnnecessaryReshapePass(),
        RemoveUnnecessarySlicePass(),
        RemoveUnnecessaryStridedSlicePass(),
        RemoveUnnecessarySplitPass(),
        RemoveUnnecessaryTransposePass(),
        RemoveUnnecessaryAddPass(),
        RemoveQuantDequantSeqPass(),
        RemoveFakeQuantPass(),
        RemoveRedundantQuantizePass(),
    ]
