"""Substitutions: an operator replaced by a simpler one computing the same thing (mostly a
RESHAPE, which runtimes execute as a copy or not at all)."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator, Subgraph
from one_core.ir.options import Padding, PadOptions, SplitOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    int_list,
    is_float,
    replace_operator,
    reshape_operator,
    reshape_target,
    scalar_value,
    signature,
    single_reader,
)

from .common import activation, producer_in, same_encoding
from .fuse import Act
from .remove import strided_slice_takes_everything


def _to_reshape(sg: Subgraph, op: Operator, x_index: int = 0) -> bool:
    """Replace `op` (one output, same values as input `x_index` in another shape) by a
    RESHAPE to its output's shape."""
    x = op.input(x_index)
    if x is None or len(op.outputs) != 1 or not same_encoding(x, op.outputs[0]):
        return False
    out = op.outputs[0]
    target = reshape_target(out)
    if target is None:
        return False
    new = reshape_operator(sg, x, out, target, out.name)
    replace_operator(sg, op, new)
    return True


class SubstitutePackToReshapePass(OperatorPass):
    name = "substitute_pack_to_reshape"
    description = "replace PACK of a single tensor by RESHAPE"
    levels = frozenset({"O1"})
    operators = frozenset({"PACK"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        return len(op.inputs) == 1 and _to_reshape(sg, op)


class SubstituteSqueezeToReshapePass(OperatorPass):
    name = "substitute_squeeze_to_reshape"
    description = "replace SQUEEZE by RESHAPE (output with at most one dynamic dimension)"
    levels = frozenset({"O1"})
    operators = frozenset({"SQUEEZE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        return _to_reshape(sg, op)


class SubstituteStridedSliceToReshapePass(OperatorPass):
    """STRIDED_SLICE that takes everything and only drops dimensions of size 1 (shrink mask)."""

    name = "substitute_strided_slice_to_reshape"
    description = "replace STRIDED_SLICE that only drops dimensions of size 1 by RESHAPE"
    levels = frozenset({"O1"})
    operators = frozenset({"STRIDED_SLICE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        return strided_slice_takes_everything(op, shrink=True) and _to_reshape(sg, op)


class SubstituteTransposeToReshapePass(OperatorPass):
    """TRANSPOSE that only moves dimensions of size 1 (the others keep their order)."""

    name = "substitute_transpose_to_reshape"
    description = "replace TRANSPOSE that only moves dimensions of size 1 by RESHAPE"
    levels = frozenset({"O1"})
    operators = frozenset({"TRANSPOSE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, perm = op.input(0), int_list(op.input(1))
        if x is None or perm is None or sorted(perm) != list(range(len(x.shape))):
            return False
        sig = signature(x)
        moved = [p for p in perm if sig[p] != 1]
        if moved != sorted(moved) or perm == list(range(len(perm))):
            return False
        return _to_reshape(sg, op)


class SubstituteSplitVToSplitPass(OperatorPass):
    """SPLIT_V into equal, known sizes along a constant axis becomes SPLIT."""

    name = "substitute_splitv_to_split"
    description = "replace SPLIT_V into equal parts by SPLIT"
    levels = frozenset({"O1"})
    operators = frozenset({"SPLIT_V"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, sizes, axis_t = op.input(0), int_list(op.input(1)), op.input(2)
        axis = scalar_value(axis_t)
        if x is None or sizes is None or axis is None or len(sizes) != len(op.outputs) or len(sizes) < 2:
            return False
        if any(s <= 0 for s in sizes) or len(set(sizes)) != 1:
            return False
        rank = len(x.shape)
        axis = int(axis) + rank if int(axis) < 0 else int(axis)
        sig = signature(x)
        if not 0 <= axis < rank or sig[axis] != sum(sizes):
            return False
        axis_c = add_constant(sg, f"{op.outputs[0].name}/axis", np.asarray(axis, np.int32))
        new = Operator("SPLIT", [axis_c, x], list(op.outputs), SplitOptions(num_splits=len(sizes)))
        replace_operator(sg, op, new)
        return True


_NON_NEGATIVE_ACTS = {Act.RELU, Act.RELU6}


def _non_negative(sg: Subgraph, t) -> bool:
    """The tensor's values are never negative: the output of RELU / RELU6 or of an operator
    with such a fused activation, possibly through TRANSPOSE or RESHAPE."""
    op = producer_in(sg, t)
    while op is not None and op.type in ("TRANSPOSE", "RESHAPE"):
        op = producer_in(sg, op.input(0))
    if op is None:
        return False
    if op.type in ("RELU", "RELU6"):
        return True
    return activation(op) in _NON_NEGATIVE_ACTS


class SubstitutePadV2ToPadPass(OperatorPass):
    """PADV2 becomes PAD (zero padding) when that cannot change a result: its padding value
    is 0, or (ONE's case, PyTorch exports) it is at most 0, the padded tensor is never
    negative and only a VALID MAX_POOL_2D whose every window overlaps the data reads it."""

    name = "substitute_padv2_to_pad"
    description = "replace PADV2 by PAD when the padding value cannot matter (0, or before a max pool of non-negative data)"
    levels = frozenset({"O1"})
    operators = frozenset({"PADV2"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, pads_t, value_t = op.input(0), op.input(1), op.input(2)
        out = op.outputs[0]
        value = constant(value_t)
        if x is None or pads_t is None or value is None or value.size != 1:
            return False
        if not (is_float(x) and is_float(out) and is_float(value_t)):
            return False
        v = float(value.reshape(()))
        if v != 0.0 and not (v <= 0.0 and self._before_max_pool(sg, op)):
            return False
        new = Operator("PAD", [x, pads_t], [out], PadOptions())
        replace_operator(sg, op, new)
        return True

    def _before_max_pool(self, sg: Subgraph, op: Operator) -> bool:
        pads = constant(op.input(1))
        pool = single_reader(sg, op.outputs[0])
        if pads is None or pads.shape != (4, 2) or pool is None or pool.type != "MAX_POOL_2D":
            return False
        o = pool.options
        if o is None or o.padding != Padding.VALID:
            return False
        p = [[int(a), int(b)] for a, b in pads]
        if p[0] != [0, 0] or p[3] != [0, 0]:  # padded batch or channels would be read as is
            return False
        if max(p[1]) >= o.filter_height or max(p[2]) >= o.filter_width:
            return False
        return _non_negative(sg, op.input(0))


def substitute_passes() -> list[OperatorPass]:
    return [
        SubstitutePackToReshapePass(),
        SubstitutePadV2ToPadPass(),
        SubstituteSplitVToSplitPass(),
        SubstituteSqueezeToReshapePass(),
        SubstituteStridedSliceToReshapePass(),
        SubstituteTransposeToReshapePass(),
    ]

