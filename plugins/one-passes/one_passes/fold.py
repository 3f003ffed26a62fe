"""Constant folding: operators whose inputs are all constant become constants.

Values are computed by the runtime's own kernels (one-backend-runtime), so a folded model
computes exactly what the unfolded one computed on the runtime. ONE folds a fixed list of
operators, one pass each (fold_cast, fold_dequantize, ...); `fold_constants` folds any
operator, as long as the result is not larger than the constants it replaces."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from one_core.ir import DType, Operator, Subgraph, Tensor
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    NONDETERMINISTIC,
    SIDE_EFFECTS,
    constant,
    is_input,
    is_output,
    static_shape,
)

#: Never folded: state, control flow, custom code, randomness.
NOT_FOLDABLE = SIDE_EFFECTS | NONDETERMINISTIC | {"READ_VARIABLE"}

#: `fold_constants` keeps a result of up to this many bytes even when it is larger than its
#: inputs (shape arithmetic, small tables).
SMALL_RESULT_BYTES = 1024


class Evaluator:
    """Runs one operator on constant inputs with the runtime's kernels (loaded on first use)."""

    def __init__(self) -> None:
        self._kernels: tuple[dict[str, Any], dict[str, Any]] | None = None

    def kernels(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._kernels is None:
            from one_backend_runtime.backend import installed_kernels

            self._kernels = installed_kernels()
        return self._kernels

    def evaluate(self, op: Operator) -> list[np.ndarray] | None:
        """The operator's outputs, or None when there is no kernel or it fails."""
        from one_backend_runtime.kernels.base import OpContext

        builtin, custom = self.kernels()
        factory = custom.get(op.custom_code or "") if op.name == "CUSTOM" else builtin.get(op.name)
        if factory is None:
            return None

        def no_subgraphs(index: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
            raise RuntimeError("folding does not run subgraphs")

        try:
            fn = factory(OpContext(op, no_subgraphs))
            with np.errstate(all="ignore"):
                outs = fn([None if t is None else t.data for t in op.inputs])
        except Exception:  # no kernel for this combination of types: leave the operator
            return None
        return [np.asarray(o) for o in outs]


def foldable(sg: Subgraph, op: Operator, custom: bool = False) -> bool:
    """Every input is a constant (at least one input), nothing in it has side effects, and
    no output is an output or input of the subgraph (those keep their producers). `custom`
    allows CUSTOM operators (for passes that know what a custom code computes)."""
    if (op.name in NOT_FOLDABLE and not (custom and op.name == "CUSTOM")) or op.intermediates:
        return False
    inputs = [t for t in op.inputs if t is not None]
    if not inputs or not all(t.is_constant for t in inputs):
        return False
    if not op.outputs:
        return False
    for t in op.outputs:
        if t.dtype.numpy is None or is_output(sg, t) or is_input(sg, t):
            return False
    return True


def make_constant(t: Tensor, value: np.ndarray) -> bool:
    """Check `value` fits `t` (element type, shape) and make `t` a constant holding it."""
    value = np.asarray(value)
    if value.dtype != t.dtype.numpy:
        return False
    declared = static_shape(t)
    if declared is not None and tuple(declared) != value.shape:
        if int(np.prod(declared)) != value.size:
            return False
        value = value.reshape(declared)  # e.g. a scalar declared as [1]
    elif declared is None:
        sig = t.shape_signature or ()
        if len(sig) != value.ndim or any(d >= 0 and d != v for d, v in zip(sig, value.shape)):
            return False
    value = np.ascontiguousarray(value)
    value.flags.writeable = False
    t.data = value
    t.shape = tuple(value.shape)
    t.shape_signature = None
    return True


def replace_by_constants(sg: Subgraph, op: Operator, values: Iterable[np.ndarray]) -> bool:
    """Remove `op` and make its outputs constants holding `values` (checked with `_fits`
    first: element types and shapes)."""
    values = [np.asarray(v) for v in values]
    if len(values) != len(op.outputs) or not _fits(op, values):
        return False
    outputs = list(op.outputs)
    sg.remove_operator(op)
    for t, v in zip(outputs, values):
        made = make_constant(t, v)
        assert made, f"folding {op.type}: result {v.shape} does not fit '{t.name}'"
    return True


def _fits(op: Operator, values: list[np.ndarray]) -> bool:
    for t, v in zip(op.outputs, values):
        if v.dtype != t.dtype.numpy:
            return False
        declared = static_shape(t)
        if declared is not None and tuple(declared) != v.shape and int(np.prod(declared)) != v.size:
            return False
        if declared is None:
            sig = t.shape_signature or ()
            if len(sig) != v.ndim or any(d >= 0 and d != s for d, s in zip(sig, v.shape)):
                return False
    return True


class FoldPass(OperatorPass):
    """Fold operators of the listed types (every type when none is listed) whose inputs are
    all constant, with the runtime's kernels. `limit_growth` keeps only results no larger
    than their constant inputs (or under SMALL_RESULT_BYTES)."""

    def __init__(self, name: str, operators: Iterable[str], description: str,
                 levels: Iterable[str] = ("O1",), *, limit_growth: bool = False) -> None:
        self.name = name
        self.operators = frozenset(operators)
        self.description = description
        self.levels = frozenset(levels)
        self.limit_growth = limit_growth
        self._evaluator = Evaluator()

    #: Whether `compute` knows the custom operators this pass matches.
    custom = False

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        if not foldable(sg, op, self.custom):
            return False
        values = self.compute(op)
        if values is None or len(values) != len(op.outputs) or not _fits(op, values):
            return False
        if self.limit_growth:
            size_in = sum(t.nbytes for t in op.inputs if t is not None)
            size_out = sum(v.nbytes for v in values)
            if size_out > max(size_in, SMALL_RESULT_BYTES):
                return False
        return replace_by_constants(sg, op, values)

    def compute(self, op: Operator) -> list[np.ndarray] | None:
        return self._evaluator.evaluate(op)


class FoldAddV2Pass(FoldPass):
    """TensorFlow's AddV2 kept as a custom operator (`CUSTOM` with code `AddV2`, as ONE's
    importer meets it): with two constant inputs of one type it becomes their sum."""

    custom = True

    def __init__(self) -> None:
        super().__init__("fold_add_v2", ["AddV2"], "fold the custom operator AddV2 with constant inputs into a constant")

    def compute(self, op: Operator) -> list[np.ndarray] | None:
        if op.name != "CUSTOM" or len(op.inputs) != 2 or len(op.outputs) != 1:
            return None
        a, b = (constant(t) for t in op.inputs)
        if a is None or b is None or a.dtype != b.dtype or not np.issubdtype(a.dtype, np.number):
            return None
        with np.errstate(all="ignore"):
            return [np.add(a, b, dtype=a.dtype)]


class FoldShapePass(OperatorPass):
    """SHAPE of a tensor whose shape is fully known (no dynamic dimension) is a constant."""

    name = "fold_shape"
    description = "fold SHAPE of a tensor with a static shape into a constant"
    levels = frozenset({"O1"})
    operators = frozenset({"SHAPE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, out = op.input(0), op.outputs[0] if op.outputs else None
        if x is None or out is None or is_output(sg, out):
            return False
        shape = static_shape(x)
        if shape is None or len(shape) == 0:  # rank 0 may mean "unknown rank" in TFLite files
            return False
        if out.dtype not in (DType.INT32, DType.INT64):
            return False
        return replace_by_constants(sg, op, [np.asarray(shape, out.dtype.numpy)])


class FoldSparseToDensePass(FoldPass):
    """SPARSE_TO_DENSE(indices, output_shape, values, default) on constants (the runtime has
    no kernel for it, so it is computed here)."""

    def __init__(self) -> None:
        super().__init__("fold_sparse_to_dense", ["SPARSE_TO_DENSE"],
                         "fold SPARSE_TO_DENSE with constant inputs into a constant")

    def compute(self, op: Operator) -> list[np.ndarray] | None:
        if len(op.inputs) < 4 or len(op.outputs) != 1:
            return None
        indices, shape, values, default = (constant(t) for t in op.inputs[:4])
        if indices is None or shape is None or values is None or default is None or default.size != 1:
            return None
        out_t = op.outputs[0]
        shape = [int(d) for d in shape.reshape(-1)]
        if values.dtype != out_t.dtype.numpy or any(d < 0 for d in shape):
            return None
        result = np.full(shape, default.reshape(()), values.dtype)
        idx = indices.astype(np.int64)
        rank = len(shape)
        if idx.ndim == 0:
            idx = idx.reshape(1, 1)
        elif idx.ndim == 1:
            idx = idx.reshape(-1, 1) if rank == 1 else idx.reshape(1, -1)
        if idx.shape[1] != rank:
            return None
        n = idx.shape[0]
        vals = np.broadcast_to(values.reshape(-1) if values.size != 1 else values.reshape(()), (n,))
        for i in range(n):
            pos = tuple(int(v) for v in idx[i])
            if any(p < 0 or p >= d for p, d in zip(pos, shape)):
                return None
            result[pos] = vals[i]
        return [result]


def fold_passes() -> list[OperatorPass]:
    """ONE's fold_* passes, then fold_shape and the general fold_constants."""
    return [
        FoldAddV2Pass(),
        FoldPass("fold_cast", ["CAST"], "fold CAST of a constant into a constant"),
        FoldPass("fold_densify", ["DENSIFY"], "fold DENSIFY of a sparse constant into a dense constant"),
        FoldPass("fold_dequantize", ["DEQUANTIZE"],
                 "fold DEQUANTIZE of a constant (float16, int8, int16 weights) into a float32 constant"),
        FoldPass("fold_dwconv", ["DEPTHWISE_CONV_2D"],
                 "fold DEPTHWISE_CONV_2D with constant inputs into a constant"),
        FoldPass("fold_fully_connected", ["FULLY_CONNECTED"],
                 "fold FULLY_CONNECTED with constant inputs into a constant"),
        FoldPass("fold_gather", ["GATHER"], "fold GATHER with constant inputs into a constant"),
        FoldPass("fold_mul", ["MUL"], "fold MUL with constant inputs into a constant", ()),
        FoldPass("fold_reshape", ["RESHAPE"], "fold RESHAPE of a constant into a constant", ()),
        FoldPass("fold_squeeze", ["SQUEEZE"], "fold SQUEEZE of a constant into a constant", ()),
        FoldSparseToDensePass(),
        FoldShapePass(),
        FoldPass("fold_constants", [],
                 "fold any operator whose inputs are all constant, evaluated with the runtime's "
                 "kernels, when the result is no larger than its inputs (or under 1 KiB)",
                 limit_growth=True),
    ]


class FoldReshapeShapePass(OperatorPass):
    """A RESHAPE whose target shape is computed at run time (TensorFlow's
    `reshape(x, [shape(x)[0], 1, 1, C])` becomes SHAPE, STRIDED_SLICE, PACK) gets a constant
    target instead: its output's shape signature, whose one dynamic dimension (if any) is
    written -1 and inferred from the element count. The shape arithmetic then has no reader
    left and goes. Needs at most one dynamic dimension in the output."""

    name = "fold_reshape_shape"
    description = ("give RESHAPE a constant target shape (its output's shape, -1 for the one "
                   "dynamic dimension) instead of one computed at run time")
    levels = frozenset({"O1"})
    operators = frozenset({"RESHAPE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        from one_core.ir.options import ReshapeOptions
        from one_core.passes.rewrite import add_constant, reshape_target

        x, shape_t = op.input(0), op.input(1)
        if x is None or shape_t is None or shape_t.is_constant or len(op.outputs) != 1:
            return False
        target = reshape_target(op.outputs[0])
        if target is None or len(shape_t.shape) != 1 or shape_t.shape[0] != len(target):
            return False
        known = [d for d in target if d >= 0]
        if static_shape(x) is not None and -1 not in target and int(np.prod(known)) != int(np.prod(x.shape)):
            return False
        op.set_input(1, add_constant(sg, f"{op.outputs[0].name}/shape", np.asarray(target, np.int32)))
        op.options = ReshapeOptions(new_shape=list(target))
        return True
