"""Custom operators that are builtins in disguise (TensorFlow ops kept as CUSTOM by older
converters and ONE's tf2tflite): AddV2, BatchMatMulV2, SplitV."""

from __future__ import annotations

from typing import Any

from one_core.ir import DType, Operator, Subgraph
from one_core.ir.options import AddOptions, BatchMatMulOptions, SplitVOptions
from one_core.passes import OperatorPass
from one_core.passes.rewrite import constant, is_quantized, replace_operator


def custom_options(op: Operator) -> dict[str, Any] | None:
    """The operator's custom options as a dict, when they are a flexbuffer map."""
    if op.custom_options_format != 0:
        return None
    if not op.custom_options:
        return {}
    try:
        from flatbuffers import flexbuffers

        value = flexbuffers.Loads(bytes(op.custom_options))
    except Exception:  # not a flexbuffer: not the operator we know
        return None
    return value if isinstance(value, dict) else None


def _plain(*tensors: Any) -> bool:
    return all(t is not None and not is_quantized(t) for t in tensors)


class ResolveCustomOpAddPass(OperatorPass):
    """CUSTOM `AddV2` (broadcasting addition) becomes ADD, for float32, int32 and int64 tensors
    of one type. (With two constant inputs, `fold_add_v2` folds it instead.)"""

    name = "resolve_customop_add"
    description = "replace the custom operator AddV2 by ADD"
    levels = frozenset({"O1"})
    operators = frozenset({"AddV2"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 2 or len(op.outputs) != 1:
            return False
        a, b, out = op.input(0), op.input(1), op.outputs[0]
        if not _plain(a, b, out) or not (a.dtype == b.dtype == out.dtype):
            return False
        if a.dtype not in (DType.FLOAT32, DType.INT32, DType.INT64):
            return False
        if constant(a) is not None and constant(b) is not None:
            return False
        replace_operator(sg, op, Operator("ADD", [a, b], [out], AddOptions()))
        return True


class ResolveCustomOpBatchMatMulPass(OperatorPass):
    """CUSTOM `BatchMatMulV2` (or `BatchMatMul`) with flexbuffer options `adj_x`, `adj_y`
    becomes BATCH_MATMUL with the same adjoint flags (float32)."""

    name = "resolve_customop_batchmatmul"
    description = "replace the custom operator BatchMatMulV2 by BATCH_MATMUL"
    levels = frozenset({"O1"})
    operators = frozenset({"BatchMatMulV2", "BatchMatMul"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 2 or len(op.outputs) != 1:
            return False
        a, b, out = op.input(0), op.input(1), op.outputs[0]
        if not _plain(a, b, out) or not (a.dtype == b.dtype == out.dtype == DType.FLOAT32):
            return False
        opts = custom_options(op)
        if opts is None:
            return False
        options = BatchMatMulOptions(adjoint_lhs=bool(opts.get("adj_x", False)),
                                     adjoint_rhs=bool(opts.get("adj_y", False)))
        replace_operator(sg, op, Operator("BATCH_MATMUL", [a, b], [out], options))
        return True


class ResolveCustomOpSplitVPass(OperatorPass):
    """CUSTOM `SplitV` (value, size_splits, axis) becomes SPLIT_V."""

    name = "resolve_customop_splitv"
    description = "replace the custom operator SplitV by SPLIT_V"
    levels = frozenset({"O1"})
    operators = frozenset({"SplitV"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 3 or not op.outputs:
            return False
        x, sizes, axis = op.inputs
        if constant(sizes) is None or constant(axis) is None or constant(sizes).size != len(op.outputs):
            return False
        if not _plain(x, *op.outputs) or any(t.dtype != x.dtype for t in op.outputs):
            return False
        opts = custom_options(op)
        if opts is None or opts.get("num_split", len(op.outputs)) != len(op.outputs):
            return False
        replace_operator(sg, op, Operator("SPLIT_V", [x, sizes, axis], list(op.outputs),
                                          SplitVOptions(num_splits=len(op.outputs))))
        return True


def resolve_passes() -> list[OperatorPass]:
    return [ResolveCustomOpAddPass(), ResolveCustomOpBatchMatMulPass(), ResolveCustomOpSplitVPass()]
