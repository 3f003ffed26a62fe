"""Custom operators that are builtins in disguise (TensorFlow ops kept as CUSTOM by older
converters and ONE's tf2tflite): AddV2, BatchMatMulV2, MatMul, MaxPoolWithArgmax, SplitV."""

from __future__ import annotations

from typing import Any

import numpy as np

from one_core.ir import DType, Operator, Subgraph
from one_core.ir.options import (
    AddOptions,
    BatchMatMulOptions,
    FullyConnectedOptions,
    Padding,
    Pool2DOptions,
    SplitVOptions,
)
from one_core.passes import OperatorPass
from one_core.passes.rewrite import add_constant, constant, is_float, is_quantized, is_used, replace_operator


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


class ResolveCustomOpMatMulPass(OperatorPass):
    """CUSTOM `MatMul` (TensorFlow's, flexbuffer options `transpose_a`, `transpose_b`) of
    float32 matrices: FULLY_CONNECTED when the right-hand side is a constant matrix and the
    left one is not transposed (weights stored transposed, as FULLY_CONNECTED wants them),
    else BATCH_MATMUL with the transposes as adjoint flags."""

    name = "resolve_customop_matmul"
    description = "replace the custom operator MatMul by FULLY_CONNECTED or BATCH_MATMUL"
    levels = frozenset({"O1"})
    operators = frozenset({"MatMul"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 2 or len(op.outputs) != 1:
            return False
        a, b, out = op.input(0), op.input(1), op.outputs[0]
        if not all(is_float(t) for t in (a, b, out)) or len(a.shape) < 2 or len(b.shape) < 2:
            return False
        opts = custom_options(op)
        if opts is None:
            return False
        adj_a, adj_b = bool(opts.get("transpose_a", False)), bool(opts.get("transpose_b", False))
        weights = constant(b)
        if b.is_constant and weights is None:  # a sparse constant
            return False
        if weights is not None and weights.ndim == 2 and not adj_a and len(a.shape) == 2:
            w = b if adj_b else add_constant(sg, f"{b.name}/transposed", np.ascontiguousarray(weights.T))
            replace_operator(sg, op, Operator("FULLY_CONNECTED", [a, w, None], [out], FullyConnectedOptions()))
        else:
            options = BatchMatMulOptions(adjoint_lhs=adj_a, adjoint_rhs=adj_b)
            replace_operator(sg, op, Operator("BATCH_MATMUL", [a, b], [out], options))
        return True


def _window(values: Any) -> tuple[int, int] | None:
    """(height, width) of an NHWC `ksize` or `strides` list [1, h, w, 1]."""
    if not isinstance(values, (list, tuple)) or len(values) != 4 or values[0] != 1 or values[3] != 1:
        return None
    return int(values[1]), int(values[2])


class ResolveCustomOpMaxPoolWithArgmaxPass(OperatorPass):
    """CUSTOM `MaxPoolWithArgmax` (flexbuffer options `ksize`, `strides`, `padding`) of a
    float32 NHWC tensor whose argmax output nobody reads becomes MAX_POOL_2D. (ONE also
    rebuilds the argmax from a convolution per channel; not done here.)"""

    name = "resolve_customop_max_pool_with_argmax"
    description = "replace the custom operator MaxPoolWithArgmax by MAX_POOL_2D when the argmax is unused"
    levels = frozenset({"O1"})
    operators = frozenset({"MaxPoolWithArgmax"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 1 or len(op.outputs) != 2:
            return False
        x, (pooled, argmax) = op.input(0), op.outputs
        if not (is_float(x) and is_float(pooled)) or len(x.shape) != 4 or is_used(sg, argmax):
            return False
        options = self._options(op)
        if options is None:
            return False
        replace_operator(sg, op, Operator("MAX_POOL_2D", [x], [pooled], options))
        return True

    def _options(self, op: Operator) -> Pool2DOptions | None:
        opts = custom_options(op)
        if opts is None:
            return None
        ksize, strides = _window(opts.get("ksize")), _window(opts.get("strides"))
        padding = {"SAME": Padding.SAME, "VALID": Padding.VALID}.get(opts.get("padding"))
        if ksize is None or strides is None or padding is None:
            return None
        return Pool2DOptions(padding=padding, stride_w=strides[1], stride_h=strides[0],
                             filter_width=ksize[1], filter_height=ksize[0])


def resolve_passes() -> list[OperatorPass]:
    return [ResolveCustomOpAddPass(), ResolveCustomOpBatchMatMulPass(), ResolveCustomOpMatMulPass(),
            ResolveCustomOpMaxPoolWithArgmaxPass(), ResolveCustomOpSplitVPass()]
