"""Custom operators that are builtins in disguise (TensorFlow ops kept as CUSTOM by older
converters and ONE's tf2tflite): AddV2, BatchMatMulV2, MatMul, MaxPoolWithArgmax (its argmax
output rebuilt from builtins), SplitV."""

from __future__ import annotations

from typing import Any

import numpy as np

from one_core.ir import DType, Operator, Subgraph, Tensor
from one_core.ir.options import (
    AddOptions,
    ArgMaxOptions,
    BatchMatMulOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    GatherOptions,
    Padding,
    PadV2Options,
    Pool2DOptions,
    SplitVOptions,
)
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    is_float,
    is_quantized,
    is_used,
    replace_operator,
    reshape_operator,
    signature,
    unique_name,
)


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


def _pool_extent(size: int, window: int, stride: int, padding: Padding) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of a pool along one axis, as TensorFlow
    computes them (SAME: the larger half of the padding after)."""
    if padding == Padding.VALID:
        return (size - window) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


class ResolveCustomOpMaxPoolWithArgmaxPass(OperatorPass):
    """CUSTOM `MaxPoolWithArgmax` (flexbuffer options `ksize`, `strides`, `padding`,
    `include_batch_in_index`) of a float32 NHWC tensor becomes MAX_POOL_2D; an argmax output
    that is read is computed by builtins (`_argmax_operators`)."""

    name = "resolve_customop_max_pool_with_argmax"
    description = "replace the custom operator MaxPoolWithArgmax by MAX_POOL_2D (and builtins for the argmax)"
    levels = frozenset({"O1"})
    operators = frozenset({"MaxPoolWithArgmax"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if op.name != "CUSTOM" or len(op.inputs) != 1 or len(op.outputs) != 2:
            return False
        x, (pooled, argmax) = op.input(0), op.outputs
        opts = custom_options(op)
        if not (is_float(x) and is_float(pooled)) or len(x.shape) != 4 or opts is None:
            return False
        options = self._options(opts)
        if options is None:
            return False
        argmax_ops: list[Operator] = []
        if is_used(sg, argmax):
            found = _argmax_operators(sg, x, argmax, options, bool(opts.get("include_batch_in_index", False)))
            if found is None:
                return False
            argmax_ops = found
        index = sg.operators.index(op)
        replace_operator(sg, op, Operator("MAX_POOL_2D", [x], [pooled], options))
        for i, new in enumerate(argmax_ops, start=1):
            sg.add_operator(new, index + i)
        return True

    def _options(self, opts: dict[str, Any]) -> Pool2DOptions | None:
        ksize, strides = _window(opts.get("ksize")), _window(opts.get("strides"))
        padding = {"SAME": Padding.SAME, "VALID": Padding.VALID}.get(opts.get("padding"))
        if ksize is None or strides is None or padding is None:
            return None
        return Pool2DOptions(padding=padding, stride_w=strides[1], stride_h=strides[0],
                             filter_width=ksize[1], filter_height=ksize[0])


def _argmax_operators(sg: Subgraph, x: Tensor, argmax: Tensor, pool: Pool2DOptions,
                      by_batch: bool) -> list[Operator] | None:
    """Operators (not yet in `sg`'s list) writing into `argmax` TensorFlow's flat index of each
    maximum of the max pool `pool` of `x` [N, H, W, C]: ((y * W + x) * C + c), plus b * H * W * C
    when `by_batch`.

    PADV2 with the lowest float32 (SAME), then a DEPTHWISE_CONV_2D with a one-hot filter copies
    the kh * kw values of each window into channels c * kh * kw + m (m = ky * kw + kx), exactly;
    RESHAPE to [N, OH, OW, C, kh * kw] and ARG_MAX over the window give m (the first maximum in
    scan order, as TensorFlow picks it); GATHER maps m to ky * W * C + kx * C and ADD adds the
    constant index of the window's corner and channel. Exact for finite inputs above the lowest
    float32 (an infinity times the filter's zeros is NaN). None when H, W or C is dynamic (or N, `by_batch`), or the
    argmax is not int32 or int64 of the pooled shape."""
    n, h, w, c = signature(x)
    kh, kw, sh, sw = pool.filter_height, pool.filter_width, pool.stride_h, pool.stride_w
    oh, top, bottom = _pool_extent(h, kh, sh, pool.padding)
    ow, left, right = _pool_extent(w, kw, sw, pool.padding)
    if min(h, w, c, oh, ow) <= 0 or (by_batch and n < 0) or argmax.dtype not in (DType.INT32, DType.INT64):
        return None
    if tuple(signature(argmax)) != (n, oh, ow, c):
        return None
    m, name, ops = kh * kw, argmax.name, []

    def result(kind: str, shape: tuple[int, ...], dtype: DType = DType.FLOAT32) -> Tensor:
        return sg.add_tensor(Tensor(unique_name(sg, f"{name}/{kind}"), dtype, (x.shape[0], *shape),
                                    shape_signature=(n, *shape)))

    windows_in = x
    if top or bottom or left or right:
        pads = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        windows_in = result("padded", (h + top + bottom, w + left + right, c))
        lowest = add_constant(sg, f"{name}/lowest", np.array(np.finfo(np.float32).min, np.float32))
        ops.append(Operator("PADV2", [x, add_constant(sg, f"{name}/paddings", pads), lowest], [windows_in],
                            PadV2Options()))
    one_hot = np.zeros((1, kh, kw, c, m), np.float32)
    for k in range(m):
        one_hot[0, k // kw, k % kw, :, k] = 1
    one_hot_t = add_constant(sg, f"{name}/one_hot", one_hot.reshape(1, kh, kw, c * m))
    bias = add_constant(sg, f"{name}/bias", np.zeros(c * m, np.float32))  # LiteRT wants one
    windows = result("windows", (oh, ow, c * m))
    options = DepthwiseConv2DOptions(padding=Padding.VALID, stride_w=sw, stride_h=sh, depth_multiplier=m)
    ops.append(Operator("DEPTHWISE_CONV_2D", [windows_in, one_hot_t, bias], [windows], options))
    grouped = result("grouped", (oh, ow, c, m))
    ops.append(reshape_operator(sg, windows, grouped, (n, oh, ow, c, m), grouped.name))
    position = result("position", (oh, ow, c), argmax.dtype)
    axis = add_constant(sg, f"{name}/axis", np.array([4], np.int32))
    ops.append(Operator("ARG_MAX", [grouped, axis], [position], ArgMaxOptions(output_type=argmax.dtype)))
    step = result("step", (oh, ow, c), argmax.dtype)
    steps = np.array([(k // kw) * w * c + (k % kw) * c for k in range(m)])
    ops.append(Operator("GATHER", [add_constant(sg, f"{name}/steps", steps, argmax.dtype), position], [step],
                        GatherOptions(axis=0)))
    oy, ox, ch = np.meshgrid(np.arange(oh) * sh - top, np.arange(ow) * sw - left, np.arange(c), indexing="ij")
    corner = ((oy * w + ox) * c + ch)[None]
    if by_batch:
        corner = corner + (np.arange(n) * h * w * c)[:, None, None, None]
    corner_t = add_constant(sg, f"{name}/corner", corner, argmax.dtype)
    ops.append(Operator("ADD", [step, corner_t], [argmax], AddOptions()))
    return ops


def resolve_passes() -> list[OperatorPass]:
    return [ResolveCustomOpAddPass(), ResolveCustomOpBatchMatMulPass(), ResolveCustomOpMatMulPass(),
            ResolveCustomOpMaxPoolWithArgmaxPass(), ResolveCustomOpSplitVPass()]
