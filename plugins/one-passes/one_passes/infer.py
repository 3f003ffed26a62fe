"""Shape and dtype inference (ONE's shape_inference / dtype_inference, and
dynamic_batch_to_single_batch).

Every operator type with a rule gets its outputs' shapes recomputed from its inputs' shapes,
the values of constant inputs (shape tensors, axes, begin/end) and its options. A subgraph is
walked twice, in execution order:

- with the shape signatures (-1 read as an unknown dimension): an output dimension is
  dynamic when it depends on a dynamic input dimension or on a value only known at run time
  (WHERE, UNIQUE, a RESHAPE target computed from a dynamic dimension). Dimensions that must
  agree and do not (a filter expecting 4 channels of a 3-channel input) make the model invalid;
- with the shapes: what the shape is when the model runs at its inputs' shapes (for a dynamic
  dimension the file holds a representative value, usually 1). Where the representative values
  do not make a valid computation (a VALID window on a dimension stored as 1), or where the
  size depends on data, a dynamic dimension keeps the value it had.

Small integer tensors computed from shapes (SHAPE, STRIDED_SLICE, PACK, arithmetic: a RESHAPE
target `[shape(x)[0], 1, 1, C]`) have their values followed, element by element (unknown
elements are None), so such targets are as precise as constant ones.

Operators without a rule (custom operators, control flow, recurrent cells, ...) keep their
outputs as written, and so do outputs whose rank a rule cannot tell. Outputs with a fully
static shape carry no shape signature (the TFLite converter's convention)."""

from __future__ import annotations

import math
import operator as pyop
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from one_core.errors import InvalidModelError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor
from one_core.ir.options import MirrorPadMode, Padding
from one_core.passes import Pass
from one_core.passes.rewrite import constant, is_quantized, signature

#: A dimension: its size, or None when it is only known at run time.
Dim = int | None
Dims = tuple[Dim, ...]

#: Integer results computed from shapes are followed up to this many elements.
MAX_TRACKED = 64

_INTEGER = (DType.INT32, DType.INT64)


class _Mismatch(Exception):
    """A rule found inputs that cannot go together (the message names the tensors)."""


@dataclass
class Known:
    """What inference knows about a tensor: its dimensions (None: unknown rank) and, for
    small integer tensors computed from shapes, its value (an object array of ints and None)."""

    dims: Dims | None
    value: np.ndarray | None = None


class Arg:
    """An operator input as a rule sees it."""

    def __init__(self, tensor: Tensor, known: Known) -> None:
        self.tensor = tensor
        self.dims: Dims = known.dims or ()
        self._tracked = known.value

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def value(self) -> np.ndarray | None:
        """A constant's data, a followed value, every element unknown for another small
        integer tensor of known shape, else None."""
        if self._tracked is not None:
            return self._tracked
        data = constant(self.tensor)
        if data is not None or self.tensor.dtype not in _INTEGER or None in self.dims:
            return data
        return np.full(self.dims, None, object) if math.prod(self.dims) <= MAX_TRACKED else None

    def ints(self) -> list[int | None] | None:
        """The value as a flat list of ints (None for unknown elements), else None."""
        v = self.value
        if v is None or (v.dtype != object and not np.issubdtype(v.dtype, np.number)):
            return None
        return [None if e is None else int(e) for e in v.reshape(-1).tolist()]

    def scalar(self) -> int | float | None:
        """The single element of a known one-element value (int or float), else None."""
        v = self.value
        if v is None or v.size != 1:
            return None
        e = v.reshape(-1)[0]
        return None if e is None else e.item() if isinstance(e, np.generic) else e

    def __str__(self) -> str:
        return f"'{self.tensor.name}' {_fmt(self.dims)}"


def _fmt(dims: Dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


@dataclass
class Out:
    """A rule's result for one output: dims (None: rank unknown, keep the tensor as written)
    and optionally the value."""

    dims: Dims | None
    value: np.ndarray | None = None


class Ctx:
    """One operator as a rule sees it: its inputs (None for omitted ones) and options."""

    def __init__(self, op: Operator, args: list[Arg | None]) -> None:
        self.op = op
        self.args = args

    def arg(self, i: int) -> Arg | None:
        return self.args[i] if i < len(self.args) else None

    def __getitem__(self, i: int) -> Arg:
        a = self.arg(i)
        if a is None:
            self.fail(f"input {i} is missing")
        return a

    def opt(self, name: str, default: Any) -> Any:
        """An option's value; `default` when the operator carries no options."""
        return default if self.op.options is None else getattr(self.op.options, name, default)

    def fail(self, message: str) -> NoReturn:
        raise _Mismatch(message)

    def axis(self, axis: int, rank: int) -> int:
        """`axis` in [0, rank) (negative counts from the end)."""
        if not -rank <= axis < max(rank, 1):
            self.fail(f"axis {axis} is out of range for rank {rank}")
        return axis + rank if axis < 0 else axis


Rule = Callable[[Ctx], "Out | list[Out] | None"]

#: Shape rules by operator name.
SHAPE_RULES: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            SHAPE_RULES[name] = fn
        return fn

    return register


# ------------------------------------------------------------------------------------------
# Dimension arithmetic
# ------------------------------------------------------------------------------------------


def _prod(dims: Sequence[Dim]) -> Dim:
    return None if any(d is None for d in dims) else math.prod(dims)


def _add(*dims: Dim) -> Dim:
    return None if any(d is None for d in dims) else sum(dims)


def _mul(a: Dim, b: Dim) -> Dim:
    return None if a is None or b is None else a * b


def _div(c: Ctx, a: Dim, b: Dim, what: str) -> Dim:
    """a / b, which must divide exactly when both are known."""
    if a is None or b is None:
        return None
    if b <= 0 or a % b:
        c.fail(f"{what}: {a} is not divisible by {b}")
    return a // b


def _broadcast(c: Ctx, *args: Arg | Dims) -> Dims:
    """numpy's broadcasting of several shapes; unknown dims broadcast against 1 stay unknown
    and take the size of any other known non-1 dim."""
    shapes = [a.dims if isinstance(a, Arg) else a for a in args]
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        column = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        sizes = {d for d in column if d is not None and d != 1}
        if len(sizes) > 1:
            c.fail("shapes " + " and ".join(str(a) if isinstance(a, Arg) else _fmt(a) for a in args)
                   + " do not broadcast")
        out.append(sizes.pop() if sizes else None if None in column else 1)
    return tuple(out)


def _merge(c: Ctx, args: Sequence[Arg], skip: int | None = None) -> Dims:
    """The common shape of inputs that must agree (except along `skip`)."""
    ranks = {a.rank for a in args}
    if len(ranks) != 1:
        c.fail("inputs " + ", ".join(map(str, args)) + " differ in rank")
    out: list[Dim] = []
    for i in range(ranks.pop()):
        sizes = {a.dims[i] for a in args} - {None}
        if i != skip and len(sizes) > 1:
            c.fail("inputs " + ", ".join(map(str, args)) + f" differ in dimension {i}")
        out.append(sizes.pop() if len(sizes) == 1 else None)
    return tuple(out)


def _window(c: Ctx, size: Dim, kernel: Dim, stride: int, dilation: int, padding: Padding) -> Dim:
    """Output size of a convolution or pooling window along one axis."""
    if stride < 1 or dilation < 1:
        c.fail(f"stride {stride} and dilation {dilation} must be positive")
    if size is None or kernel is None:
        return None
    if padding == Padding.SAME:
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    if size < effective:
        c.fail(f"a VALID window of {effective} does not fit a dimension of {size}")
    return (size - effective) // stride + 1


def _list(c: Ctx, i: int, length: int | None = None) -> list[int | None] | None:
    """Input `i` as a list of ints, None elements unknown: the whole list unknown (each element
    None) when only its length is known, None when not even that is."""
    a = c.arg(i)
    if a is None:
        return None
    values = a.ints()
    if values is not None:
        return values
    n = length if length is not None else a.dims[0] if a.rank == 1 else 1 if a.rank == 0 else None
    return None if n is None else [None] * n


def _values(args: Sequence[Arg]) -> list[np.ndarray] | None:
    """Every input's value (at least one followed), as object arrays, else None."""
    values = [a.value for a in args]
    if any(v is None for v in values) or all(v.dtype != object for v in values):
        return None
    return [v.astype(object) for v in values]


def _present(c: Ctx) -> list[Arg]:
    """The inputs given (there must be one)."""
    args = [a for a in c.args if a is not None]
    if not args:
        c.fail("no inputs")
    return args


# ------------------------------------------------------------------------------------------
# Elementwise
# ------------------------------------------------------------------------------------------

UNARY = (
    "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SIN", "COS", "TANH", "LOGISTIC", "SQUARE",
    "CEIL", "FLOOR", "ROUND", "SIGN", "ELU", "LEAKY_RELU", "HARD_SWISH", "RELU", "RELU6",
    "RELU_N1_TO_1", "RELU_0_TO_1", "GELU", "SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION",
    "LOCAL_RESPONSE_NORMALIZATION", "LOGICAL_NOT", "ZEROS_LIKE", "CAST", "QUANTIZE", "DEQUANTIZE",
    "FAKE_QUANT", "CUMSUM", "REVERSE_V2", "REVERSE_SEQUENCE", "DENSIFY", "INSTANCE_NORM", "RMS_NORM",
    "MATRIX_SET_DIAG",
)
COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
BINARY = (
    "ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "FLOOR_DIV",
    "FLOOR_MOD", "LOGICAL_AND", "LOGICAL_OR", "ATAN2", "BITWISE_XOR", "RIGHT_SHIFT", "PRELU",
    *COMPARISONS,
)

#: Integer arithmetic followed on values computed from shapes.
_VALUE_OPS: dict[str, Callable[[int, int], int]] = {
    "ADD": pyop.add, "SUB": pyop.sub, "MUL": pyop.mul, "FLOOR_DIV": pyop.floordiv,
    "MAXIMUM": max, "MINIMUM": min,
}


@_rule(*UNARY)
def _unary(c: Ctx) -> Out:
    x = c[0]
    value = x.value if c.op.name == "CAST" and x.value is not None and x.value.dtype == object else None
    return Out(x.dims, value)


@_rule(*BINARY, "ADD_N", "SELECT_V2")
def _elementwise(c: Ctx) -> Out:
    args = _present(c)
    dims = _broadcast(c, *args)
    fn = _VALUE_OPS.get(c.op.name)
    values = _values(args)
    if fn is None or values is None:
        return Out(dims)

    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None or (fn is pyop.floordiv and b == 0):
            return None
        return fn(int(a), int(b))

    return Out(dims, np.frompyfunc(apply, 2, 1)(*values))


@_rule("SELECT")
def _select(c: Ctx) -> Out:
    return Out(_broadcast(c, c[1], c[2]))


# ------------------------------------------------------------------------------------------
# Convolutions, pooling, matrix products
# ------------------------------------------------------------------------------------------


def _spatial(c: Ctx, x: Arg, kernel: Sequence[Dim], names: str) -> list[Dim]:
    """Output sizes of the spatial axes 1.. of `x` for `kernel`, with the options' strides
    and dilations named by the letters of `names` ("hw", "dhw")."""
    padding = Padding(c.opt("padding", Padding.SAME))
    return [
        _window(c, x.dims[1 + i], kernel[i], c.opt(f"stride_{n}", 1), c.opt(f"dilation_{n}_factor", 1), padding)
        for i, n in enumerate(names)
    ]


def _check(c: Ctx, a: Dim, b: Dim, what: str) -> None:
    if a is not None and b is not None and a != b:
        c.fail(what)


def _ranked(c: Ctx, rank: int, *args: Arg) -> None:
    for a in args:
        if a.rank != rank:
            c.fail(f"input {a} should have rank {rank}")


@_rule("CONV_2D")
def _conv2d(c: Ctx) -> Out:
    x, w = c[0], c[1]
    _ranked(c, 4, x, w)
    if x.dims[3] is not None and w.dims[3] is not None and (w.dims[3] == 0 or x.dims[3] % w.dims[3]):
        c.fail(f"input {x} has channels the filter {w} cannot group")
    return Out((x.dims[0], *_spatial(c, x, w.dims[1:3], "hw"), w.dims[0]))


@_rule("DEPTHWISE_CONV_2D")
def _depthwise(c: Ctx) -> Out:
    x, w = c[0], c[1]
    _ranked(c, 4, x, w)
    if x.dims[3] is not None and w.dims[3] is not None and (x.dims[3] == 0 or w.dims[3] % x.dims[3]):
        c.fail(f"the filter {w} is no multiple of the channels of input {x}")
    return Out((x.dims[0], *_spatial(c, x, w.dims[1:3], "hw"), w.dims[3]))


@_rule("CONV_3D")
def _conv3d(c: Ctx) -> Out:
    x, w = c[0], c[1]
    _ranked(c, 5, x, w)
    _check(c, x.dims[4], w.dims[3], f"input {x} and filter {w} differ in input channels")
    return Out((x.dims[0], *_spatial(c, x, w.dims[:3], "dhw"), w.dims[4]))


@_rule("TRANSPOSE_CONV")
def _transpose_conv(c: Ctx) -> Out:
    w, x = c[1], c[2]
    _ranked(c, 4, x, w)
    _check(c, x.dims[3], w.dims[3], f"input {x} and filter {w} differ in input channels")
    shape = _list(c, 0, 4)
    if shape is None or len(shape) != 4:
        c.fail(f"output shape {c[0]} should have 4 elements")
    _check(c, shape[3], w.dims[0], f"output shape {shape} and filter {w} differ in output channels")
    return Out(tuple(shape))


@_rule("CONV_3D_TRANSPOSE")
def _conv3d_transpose(c: Ctx) -> Out:
    shape = _list(c, 0, 5)
    return Out(None if shape is None else tuple(shape))


@_rule("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
def _pool(c: Ctx) -> Out:
    x = c[0]
    _ranked(c, 4, x)
    kernel = (c.opt("filter_height", 1), c.opt("filter_width", 1))
    return Out((x.dims[0], *_spatial(c, x, kernel, "hw"), x.dims[3]))


@_rule("FULLY_CONNECTED")
def _fully_connected(c: Ctx) -> Out:
    x, w = c[0], c[1]
    _ranked(c, 2, w)
    units, depth = w.dims
    if c.opt("keep_num_dims", False):
        _check(c, x.dims[-1] if x.dims else 1, depth, f"input {x} and weights {w} differ in depth")
        return Out((*x.dims[:-1], units))
    return Out((_div(c, _prod(x.dims), depth, f"elements of input {x} by the depth of weights {w}"), units))


@_rule("BATCH_MATMUL")
def _batch_matmul(c: Ctx) -> Out:
    x, y = c[0], c[1]
    if x.rank < 2 or y.rank < 2:
        c.fail(f"inputs {x} and {y} should have rank 2 or more")
    m, k = x.dims[-2:][::-1] if c.opt("adjoint_lhs", False) else x.dims[-2:]
    k2, n = y.dims[-2:][::-1] if c.opt("adjoint_rhs", False) else y.dims[-2:]
    _check(c, k, k2, f"inputs {x} and {y} differ in the contracted dimension")
    return Out((*_broadcast(c, x.dims[:-2], y.dims[:-2]), m, n))


# ------------------------------------------------------------------------------------------
# Reductions
# ------------------------------------------------------------------------------------------


def _axes(c: Ctx, i: int, rank: int) -> set[int] | None:
    """The constant axes of input `i`, in [0, rank); None when they are not known."""
    values = c[i].ints()
    if values is None or None in values:
        return None
    return {c.axis(a, rank) for a in values}


@_rule("MEAN", "SUM", "REDUCE_PROD", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_ANY", "REDUCE_ALL")
def _reduce(c: Ctx) -> Out | None:
    x = c[0]
    keep = c.opt("keep_dims", False)
    axes = _axes(c, 1, x.rank)
    if axes is None:
        return Out((None,) * x.rank) if keep else None
    dims = tuple(1 if i in axes else d for i, d in enumerate(x.dims) if keep or i not in axes)
    value = None
    if c.op.name == "REDUCE_PROD" and x.value is not None and x.value.dtype == object and x.rank == 1 and axes:
        value = np.array(_prod(list(x.value)), object).reshape(dims)
    return Out(dims, value)


@_rule("ARG_MAX", "ARG_MIN")
def _arg_reduce(c: Ctx) -> Out | None:
    x = c[0]
    axes = _axes(c, 1, x.rank)
    if axes is None or len(axes) != 1:
        return None
    (axis,) = axes
    return Out(x.dims[:axis] + x.dims[axis + 1:])


@_rule("TOPK_V2")
def _topk(c: Ctx) -> list[Out]:
    x = c[0]
    if x.rank < 1:
        c.fail(f"input {x} should have rank 1 or more")
    k = c[1].scalar()
    if k is not None and x.dims[-1] is not None and not 0 <= k <= x.dims[-1]:
        c.fail(f"k = {k} does not fit the last dimension of input {x}")
    dims = (*x.dims[:-1], None if k is None else int(k))
    return [Out(dims), Out(dims)]


# ------------------------------------------------------------------------------------------
# Reshapes and transposes
# ------------------------------------------------------------------------------------------


def _moved(x: Arg, dims: Dims) -> np.ndarray | None:
    """`x`'s followed value laid out as `dims` (a reshape), when both are known."""
    v = x.value
    if v is None or v.dtype != object or any(d is None for d in dims):
        return None
    return v.reshape(dims)


def _reshaped(c: Ctx, x: Arg, target: list[int | None]) -> Out:
    stretch = [i for i, d in enumerate(target) if d == -1]
    if len(stretch) > 1 or any(d is not None and d < -1 for d in target):
        c.fail(f"new shape {target} is not a shape")
    size = _prod(x.dims)
    rest = _prod([d for d in target if d != -1])
    dims = list(target)
    if stretch:
        dims[stretch[0]] = None if size is None or rest is None else 0 if rest == 0 else _div(
            c, size, rest, f"elements of input {x} by the new shape {target}")
    elif size is not None and rest is not None and size != rest:
        c.fail(f"input {x} cannot be reshaped to {target}")
    out = tuple(dims)
    return Out(out, _moved(x, out))


@_rule("RESHAPE")
def _reshape(c: Ctx) -> Out | None:
    x, shape = c[0], c.arg(1)
    if shape is not None and shape.rank == 1:
        target = _list(c, 1)
    else:
        new_shape = c.opt("new_shape", None)
        target = None if new_shape is None else [] if list(new_shape) == [0] else list(new_shape)
    return None if target is None else _reshaped(c, x, target)


@_rule("SQUEEZE")
def _squeeze(c: Ctx) -> Out | None:
    x = c[0]
    given = c.opt("squeeze_dims", None)
    if given:
        axes = {c.axis(a, x.rank) for a in given}
    elif None in x.dims:
        return None  # which unknown dimensions are 1 is only known at run time
    else:
        axes = {i for i, d in enumerate(x.dims) if d == 1}
    for i in axes:
        _check(c, x.dims[i], 1, f"dimension {i} of input {x} is not 1")
    dims = tuple(d for i, d in enumerate(x.dims) if i not in axes)
    return Out(dims, _moved(x, dims))


@_rule("EXPAND_DIMS")
def _expand_dims(c: Ctx) -> Out | None:
    x = c[0]
    axis = c[1].scalar()
    if axis is None:
        return None
    axis = c.axis(int(axis), x.rank + 1)
    dims = x.dims[:axis] + (1,) + x.dims[axis:]
    return Out(dims, _moved(x, dims))


@_rule("TRANSPOSE")
def _transpose(c: Ctx) -> Out:
    x = c[0]
    perm = c[1].ints()
    if perm is None or None in perm:
        return Out((None,) * x.rank)
    perm = [c.axis(p, x.rank) for p in perm]
    if sorted(perm) != list(range(x.rank)):
        c.fail(f"{perm} is not a permutation of the axes of input {x}")
    dims = tuple(x.dims[p] for p in perm)
    v = x.value
    return Out(dims, v.transpose(perm) if v is not None and v.dtype == object else None)


@_rule("DEPTH_TO_SPACE")
def _depth_to_space(c: Ctx) -> Out:
    x, b = c[0], c.opt("block_size", 0)
    _ranked(c, 4, x)
    n, h, w, ch = x.dims
    return Out((n, _mul(h, b), _mul(w, b), _div(c, ch, b * b, f"channels of input {x} by block {b}²")))


@_rule("SPACE_TO_DEPTH")
def _space_to_depth(c: Ctx) -> Out:
    x, b = c[0], c.opt("block_size", 0)
    _ranked(c, 4, x)
    n, h, w, ch = x.dims
    what = f"input {x} by block {b}"
    return Out((n, _div(c, h, b, what), _div(c, w, b, what), _mul(ch, b * b)))


def _pairs(c: Ctx, i: int, rank: int) -> list[tuple[int | None, int | None]]:
    """Input `i` as `rank` (before, after) pairs, unknown ones (None, None)."""
    values = _list(c, i, 2 * rank)
    if values is None or len(values) != 2 * rank:
        c.fail(f"input {c[i]} should hold {rank} pairs")
    return [(values[2 * k], values[2 * k + 1]) for k in range(rank)]


def _blocks(c: Ctx) -> tuple[Arg, list[Dim], list[tuple[Dim, Dim]]]:
    """BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND: the input, the block shape, crops or paddings."""
    x, block = c[0], _list(c, 1)
    if block is None or len(block) >= max(x.rank, 1):
        c.fail(f"block shape {c[1]} does not fit input {x}")
    return x, block, _pairs(c, 2, len(block))


@_rule("BATCH_TO_SPACE_ND")
def _batch_to_space(c: Ctx) -> Out:
    x, block, crops = _blocks(c)
    n = _div(c, x.dims[0], _prod(block), f"batch of input {x} by the block {block}")
    spatial = [_add(_mul(x.dims[1 + i], b), *(None if v is None else -v for v in crop))
               for i, (b, crop) in enumerate(zip(block, crops))]
    return Out((n, *spatial, *x.dims[1 + len(block):]))


@_rule("SPACE_TO_BATCH_ND")
def _space_to_batch(c: Ctx) -> Out:
    x, block, pads = _blocks(c)
    spatial = [_div(c, _add(x.dims[1 + i], *pad), b, f"padded dimension {1 + i} of input {x} by the block")
               for i, (b, pad) in enumerate(zip(block, pads))]
    return Out((_mul(x.dims[0], _prod(block)), *spatial, *x.dims[1 + len(block):]))


# ------------------------------------------------------------------------------------------
# Joining and splitting
# ------------------------------------------------------------------------------------------


@_rule("CONCATENATION")
def _concatenation(c: Ctx) -> Out:
    args = _present(c)
    axis = c.axis(c.opt("axis", 0), args[0].rank)
    dims = list(_merge(c, args, axis))
    dims[axis] = _add(*(a.dims[axis] for a in args))
    values = _values(args)
    return Out(tuple(dims), None if values is None else np.concatenate(values, axis))


@_rule("PACK")
def _pack(c: Ctx) -> Out:
    args = _present(c)
    dims = _merge(c, args)
    axis = c.axis(c.opt("axis", 0), len(dims) + 1)
    values = _values(args)
    return Out(dims[:axis] + (len(args),) + dims[axis:], None if values is None else np.stack(values, axis))


@_rule("UNPACK")
def _unpack(c: Ctx) -> list[Out]:
    x = c[0]
    axis = c.axis(c.opt("axis", 0), x.rank)
    n = len(c.op.outputs)
    _check(c, x.dims[axis], n, f"input {x} does not unpack into {n}")
    dims = x.dims[:axis] + x.dims[axis + 1:]
    v = x.value if x.dims[axis] == n else None
    return [Out(dims, None if v is None or v.dtype != object else v.take(i, axis)) for i in range(n)]


def _split_dims(x: Arg, axis: int, sizes: Sequence[Dim]) -> list[Out]:
    return [Out(x.dims[:axis] + (s,) + x.dims[axis + 1:]) for s in sizes]


@_rule("SPLIT")
def _split(c: Ctx) -> list[Out] | None:
    axis, x = c[0].scalar(), c[1]
    if axis is None:
        return None
    axis = c.axis(int(axis), x.rank)
    n = len(c.op.outputs)
    return _split_dims(x, axis, [_div(c, x.dims[axis], n, f"input {x} into {n} parts")] * n)


@_rule("SPLIT_V")
def _split_v(c: Ctx) -> list[Out] | None:
    x, axis = c[0], c[2].scalar()
    sizes = _list(c, 1, len(c.op.outputs))
    if axis is None or sizes is None:
        return None
    axis = c.axis(int(axis), x.rank)
    if sizes.count(-1) == 1:
        rest = _add(*(s for s in sizes if s != -1))
        left = _add(x.dims[axis], -rest if rest is not None else None)
        if left is not None and left < 0:
            c.fail(f"sizes {sizes} exceed dimension {axis} of input {x}")
        sizes[sizes.index(-1)] = left
    elif None not in sizes and x.dims[axis] is not None and sum(sizes) != x.dims[axis]:
        c.fail(f"sizes {sizes} do not add up to dimension {axis} of input {x}")
    return _split_dims(x, axis, sizes)


# ------------------------------------------------------------------------------------------
# Slicing and gathering
# ------------------------------------------------------------------------------------------


@_rule("SLICE")
def _slice(c: Ctx) -> Out:
    x = c[0]
    begin, size = _list(c, 1, x.rank), _list(c, 2, x.rank)
    if begin is None or size is None or len(begin) != x.rank or len(size) != x.rank:
        c.fail(f"begin and size should have one element per dimension of input {x}")
    dims: list[Dim] = []
    for i, (d, b, s) in enumerate(zip(x.dims, begin, size)):
        if s == -1:
            s = _add(d, -b if b is not None else None)
        if d is not None and b is not None and s is not None and (b < 0 or s < 0 or b + s > d):
            c.fail(f"slice [{b}, {b}+{s}) is out of dimension {i} of input {x}")
        dims.append(s)
    out = tuple(dims)
    v = x.value
    value = None
    if v is not None and v.dtype == object and None not in begin and None not in out:
        value = v[tuple(slice(b, b + s) for b, s in zip(begin, out))]
    return Out(out, value)


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


@_rule("STRIDED_SLICE")
def _strided_slice(c: Ctx) -> Out | None:
    """TFLite's STRIDED_SLICE: the ellipsis expands to the dimensions the other entries leave,
    new axes insert a 1, shrunk axes disappear; with `offset` the end counts from the begin."""
    x = c[0]
    begin, end = _list(c, 1), _list(c, 2)
    if begin is None or end is None:
        return None
    strides = _list(c, 3, len(begin)) if c.arg(3) is not None else [1] * len(begin)
    if strides is None or not len(begin) == len(end) == len(strides):
        c.fail("begin, end and strides differ in length")
    masks = {k: c.opt(f"{k}_mask", 0) for k in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")}
    offset = c.opt("offset", False)
    spec = len(begin)
    ellipsis = next((j for j in range(spec) if _bit(masks["ellipsis"], j)), None)
    consumed = sum(1 for j in range(spec) if not _bit(masks["new_axis"], j) and j != ellipsis)
    if consumed > x.rank:
        c.fail(f"{spec} slice entries for input {x}")
    # one entry per position before shrinking: "new" (an inserted 1), "all" (a whole input
    # dimension, what the ellipsis stands for) or the index of a begin/end/stride element
    entries: list[str | int] = []
    for j in range(spec):
        if j == ellipsis:
            entries += ["all"] * (x.rank - consumed)
        else:
            entries.append("new" if _bit(masks["new_axis"], j) else j)
    if ellipsis is None:
        entries += ["all"] * (x.rank - consumed)
    dims: list[Dim] = []
    index: list[Any] = []  # numpy index into the value; _UNKNOWN where it is not known
    axis = 0
    for j in entries:
        if j == "new":
            dims.append(1)
            index.append(np.newaxis)
            continue
        size = x.dims[axis]
        axis += 1
        if j == "all":
            dims.append(size)
            index.append(slice(None))
            continue
        b, e, s = begin[j], end[j], strides[j]
        if s == 0:
            c.fail("stride 0")
        if _bit(masks["shrink_axis"], j):
            if size is not None and b is not None and not -size <= b < size:
                c.fail(f"index {b} is out of dimension {axis - 1} of input {x}")
            known = b is not None and size is not None and not _bit(masks["begin"], j)
            index.append(b % size if known else _UNKNOWN)
            continue
        length, where = _slice_length(size, b, e, s, _bit(masks["begin"], j), _bit(masks["end"], j), offset)
        dims.append(length)
        index.append(_UNKNOWN if where is None else where)
    out = tuple(dims)
    v = x.value
    value = None
    if v is not None and v.dtype == object and not any(i is _UNKNOWN for i in index):
        value = np.array(v[tuple(index)], object).reshape(out)
    return Out(out, value)


_UNKNOWN = object()


def _slice_length(size: Dim, b: Dim, e: Dim, s: Dim, begin_all: bool, end_all: bool,
                  offset: bool) -> tuple[Dim, slice | None]:
    """Length of one sliced dimension and the Python slice taking it (None when unknown)."""
    if size is None or s is None:
        return None, None
    if begin_all:
        start = 0 if s > 0 else size - 1
    elif b is None:
        return None, None
    else:
        start = b + size if b < 0 else b
        start = min(max(start, 0), size) if s > 0 else min(max(start, -1), size - 1)
    if offset:
        if e is None:
            return None, None
        stop = start + e
    elif end_all:
        stop = size if s > 0 else -1
    elif e is None:
        return None, None
    else:
        stop = e + size if e < 0 else e
    stop = min(max(stop, 0), size) if s > 0 else min(max(stop, -1), size - 1)
    length = max(0, -((stop - start) // -s) if s > 0 else -((start - stop) // s))
    return length, slice(start, None if stop < 0 else stop, s)


@_rule("GATHER")
def _gather(c: Ctx) -> Out:
    params, indices = c[0], c[1]
    axis = c.axis(c.opt("axis", 0), params.rank)
    batch = c.opt("batch_dims", 0)
    batch = batch + indices.rank if batch < 0 else batch
    if not 0 <= batch <= min(axis, indices.rank):
        c.fail(f"batch_dims {batch} does not fit axis {axis} and indices {indices}")
    for i in range(batch):
        _check(c, params.dims[i], indices.dims[i], f"params {params} and indices {indices} differ in batch")
    dims = params.dims[:axis] + indices.dims[batch:] + params.dims[axis + 1:]
    value = None
    idx = indices.ints()
    if batch == 0 and idx is not None and None not in idx and params.value is not None and params.value.dtype == object:
        size = params.dims[axis]
        if size is not None and all(-size <= i < size for i in idx):
            value = np.take(params.value, np.asarray(idx).reshape(indices.dims), axis)
    return Out(dims, value)


@_rule("GATHER_ND")
def _gather_nd(c: Ctx) -> Out | None:
    params, indices = c[0], c[1]
    if indices.rank < 1 or indices.dims[-1] is None:
        return None
    k = indices.dims[-1]
    if k > params.rank:
        c.fail(f"indices {indices} index more dimensions than params {params} has")
    return Out(indices.dims[:-1] + params.dims[k:])


@_rule("EMBEDDING_LOOKUP")
def _embedding_lookup(c: Ctx) -> Out:
    ids, table = c[0], c[1]
    _ranked(c, 1, ids)
    return Out(ids.dims + table.dims[1:])


# ------------------------------------------------------------------------------------------
# Padding and resizing
# ------------------------------------------------------------------------------------------


@_rule("PAD", "PADV2", "MIRROR_PAD")
def _pad(c: Ctx) -> Out:
    x = c[0]
    pads = _pairs(c, 1, x.rank)
    reflect = c.op.name == "MIRROR_PAD" and c.opt("mode", MirrorPadMode.REFLECT) == MirrorPadMode.REFLECT
    dims: list[Dim] = []
    for i, (d, (lo, hi)) in enumerate(zip(x.dims, pads)):
        if (lo is not None and lo < 0) or (hi is not None and hi < 0):
            c.fail(f"negative padding of dimension {i} of input {x}")
        if c.op.name == "MIRROR_PAD" and d is not None:
            limit = d - 1 if reflect else d
            if (lo is not None and lo > limit) or (hi is not None and hi > limit):
                c.fail(f"mirror padding of dimension {i} of input {x} is larger than {limit}")
        dims.append(_add(d, lo, hi))
    return Out(tuple(dims))


@_rule("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(c: Ctx) -> Out:
    x = c[0]
    _ranked(c, 4, x)
    size = _list(c, 1, 2)
    if size is None or len(size) != 2:
        c.fail(f"size {c[1]} should have 2 elements")
    return Out((x.dims[0], size[0], size[1], x.dims[3]))


# ------------------------------------------------------------------------------------------
# Shapes, fills and broadcasts
# ------------------------------------------------------------------------------------------


@_rule("SHAPE")
def _shape(c: Ctx) -> Out:
    x = c[0]
    return Out((x.rank,), np.array(x.dims, object))


@_rule("RANK")
def _rank(c: Ctx) -> Out:
    return Out((), np.array(c[0].rank, object).reshape(()))


def _target(c: Ctx, i: int) -> Dims | None:
    """Input `i` read as a shape: its values, each None when unknown."""
    values = _list(c, i)
    if values is not None and any(d is not None and d < 0 for d in values):
        c.fail(f"shape {values} has a negative dimension")
    return None if values is None else tuple(values)


@_rule("FILL")
def _fill(c: Ctx) -> Out | None:
    dims = _target(c, 0)
    if dims is None:
        return None
    v = c[1].value
    value = None
    if v is not None and v.dtype == object and None not in dims and _prod(dims) <= MAX_TRACKED:
        value = np.full(dims, v.reshape(-1)[0], object)
    return Out(dims, value)


@_rule("SCATTER_ND")
def _scatter_nd(c: Ctx) -> Out | None:
    dims = _target(c, 2)
    return None if dims is None else Out(dims)


@_rule("SPARSE_TO_DENSE")
def _sparse_to_dense(c: Ctx) -> Out | None:
    dims = _target(c, 1)
    return None if dims is None else Out(dims)


@_rule("BROADCAST_TO")
def _broadcast_to(c: Ctx) -> Out | None:
    target = _target(c, 1)
    if target is None:
        return None
    if len(target) < c[0].rank:
        c.fail(f"input {c[0]} has more dimensions than the shape {_fmt(target)}")
    return Out(_broadcast(c, c[0], target))


@_rule("TILE")
def _tile(c: Ctx) -> Out:
    x = c[0]
    multiples = _list(c, 1, x.rank)
    if multiples is None or len(multiples) != x.rank:
        c.fail(f"multiples should have one element per dimension of input {x}")
    return Out(tuple(_mul(d, m) for d, m in zip(x.dims, multiples)))


@_rule("ONE_HOT")
def _one_hot(c: Ctx) -> Out:
    indices = c[0]
    depth = c[1].scalar()
    axis = c.opt("axis", -1)
    axis = indices.rank if axis == -1 else c.axis(axis, indices.rank + 1)
    return Out(indices.dims[:axis] + (None if depth is None else int(depth),) + indices.dims[axis:])


@_rule("RANGE")
def _range(c: Ctx) -> Out:
    start, limit, delta = (c[i].scalar() for i in range(3))
    if start is None or limit is None or delta is None:
        return Out((None,))
    if delta == 0:
        c.fail("delta 0")
    all_int = all(isinstance(v, int) for v in (start, limit, delta))
    n = max(0, -((start - limit) // delta) if all_int else math.ceil((limit - start) / delta))
    value = np.array(range(start, limit, delta), object) if all_int and n <= MAX_TRACKED else None
    return Out((n,), value)


# ------------------------------------------------------------------------------------------
# Data-dependent sizes
# ------------------------------------------------------------------------------------------


@_rule("WHERE")
def _where(c: Ctx) -> Out:
    return Out((None, c[0].rank))  # a row per true element


@_rule("UNIQUE")
def _unique(c: Ctx) -> list[Out]:
    x = c[0]
    _ranked(c, 1, x)
    return [Out((None,)), Out(x.dims)]


@_rule("NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5")
def _nms(c: Ctx) -> list[Out]:
    k = c[2].scalar()
    selected = Out((None if k is None else int(k),))
    return [selected] * (len(c.op.outputs) - 1) + [Out(())]


# ------------------------------------------------------------------------------------------
# Walking a subgraph
# ------------------------------------------------------------------------------------------


def _written(t: Tensor, shapes: bool) -> Known:
    """What a tensor says about itself: its shape, or its signature with -1 read as unknown.
    An operator's output of shape [] that no rule computed may be of unknown rank (TFLite
    writes [] for that): it is not trusted unless it says it has a rank."""
    if not t.shape and not t.is_constant and not t.has_rank and t.shape_signature is None and t.producer is not None:
        return Known(None)
    dims = t.shape if shapes else signature(t)
    return Known(tuple(None if d < 0 else d for d in dims))


def _where_op(sg: Subgraph, index: int, op: Operator) -> str:
    return f"subgraph {index} ('{sg.name}'), operator {sg.operators.index(op)} ({op.type})"


def _walk(sg: Subgraph, index: int, fallback: dict[int, Known] | None = None) -> dict[int, Known]:
    """Known for every output a rule computed, walking with the signatures, or with the shapes
    when given the `fallback` (for the outputs the walk with signatures computed). A failed
    rule makes the model invalid with signatures; with shapes, whose dynamic dimensions are only
    representative, its outputs take the fallback."""
    known: dict[int, Known] = {}
    for op in sg.operators:
        rule = SHAPE_RULES.get(op.name)
        if rule is None:
            continue
        inputs = [None if t is None else known.get(id(t)) or _written(t, fallback is not None) for t in op.inputs]
        if any(k is not None and k.dims is None for k in inputs):
            continue  # an input of unknown rank
        try:
            result = rule(Ctx(op, [None if k is None else Arg(t, k) for t, k in zip(op.inputs, inputs)]))
        except _Mismatch as exc:
            if fallback is None:
                raise InvalidModelError(f"{_where_op(sg, index, op)}: {exc}") from None
            known.update((id(t), fallback[id(t)]) for t in op.outputs if id(t) in fallback)
            continue
        outs = result if isinstance(result, list) else [result]
        if result is None or len(outs) != len(op.outputs):
            continue
        for t, out in zip(op.outputs, outs):
            if out is None or out.dims is None or (fallback is not None and id(t) not in fallback):
                continue
            value = None if out.value is None else np.asarray(out.value, object)  # a scalar stays an array
            if value is not None and (t.dtype not in _INTEGER or value.size > MAX_TRACKED):
                value = None
            known[id(t)] = Known(tuple(out.dims), value)
    return known


def _combine(t: Tensor, sig: Dims, shape: Dims | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shape and signature to write: signature dims where known; shape dims from the walk
    with shapes, else what the tensor had (1 when its rank changes)."""
    same_rank = len(t.shape) == len(sig)
    out = []
    for i, s in enumerate(sig):
        c = shape[i] if shape is not None and len(shape) == len(sig) else None
        if s is not None and c is not None and s != c:
            raise _Mismatch(f"output '{t.name}': dimension {i} is {c} at the inputs' shapes but {s} in the signature")
        out.append(s if s is not None else c if c is not None else t.shape[i] if same_rank else 1)
    return tuple(out), tuple(-1 if d is None else d for d in sig)


def _fallback(sg: Subgraph, symbolic: dict[int, Known]) -> dict[int, Known]:
    """For the walk with shapes: signature dims where static, else the written shape."""
    return {id(t): Known(_combine(t, symbolic[id(t)].dims, None)[0])
            for op in sg.operators for t in op.outputs if id(t) in symbolic}


def infer_subgraph_shapes(sg: Subgraph, index: int = 0) -> bool:
    """Re-infer the shape and shape signature of every output of `sg`'s operators that has a
    rule; True when one changed. Raises InvalidModelError (one line naming the operator and
    tensor) when inputs of an operator contradict each other."""
    symbolic = _walk(sg, index)
    concrete = _walk(sg, index, _fallback(sg, symbolic))
    changed = False
    for op in sg.operators:
        for t in op.outputs:
            if id(t) not in symbolic:
                continue
            c = concrete.get(id(t))
            try:
                shape, sig = _combine(t, symbolic[id(t)].dims, None if c is None else c.dims)
            except _Mismatch as exc:
                raise InvalidModelError(f"{_where_op(sg, index, op)}: {exc}") from None
            if shape != t.shape or sig != tuple(signature(t)):
                t.shape = shape
                t.shape_signature = sig if -1 in sig else None
                changed = True
    return changed


def infer_shapes(model: Model) -> bool:
    """Re-infer the shapes and shape signatures of every operator output of `model` (rules by
    operator type; outputs of operators without one keep theirs); True when one changed."""
    changed = False
    for index, sg in enumerate(model.subgraphs):
        changed |= infer_subgraph_shapes(sg, index)
    return changed


# ------------------------------------------------------------------------------------------
# Dtypes
# ------------------------------------------------------------------------------------------

DtypeRule = Callable[[Operator], "list[DType | None]"]


def _type_of(op: Operator, i: int) -> DType | None:
    t = op.input(i)
    return None if t is None else t.dtype


def _same_type(i: int) -> DtypeRule:
    """Every output has input `i`'s type."""
    return lambda op: [_type_of(op, i)] * len(op.outputs)


def _computed_type(i: int) -> DtypeRule:
    """Input `i`'s type, unless it is quantized: then the output type is the quantizer's
    choice (an int8 SOFTMAX may write int16) and stays as written."""
    def rule(op: Operator) -> list[DType | None]:
        t = op.input(i)
        return [None if t is None or is_quantized(t) else t.dtype] * len(op.outputs)

    return rule


def _fixed(*types: DType) -> DtypeRule:
    return lambda op: list(types)


def _option_type(name: str, allowed: Sequence[DType]) -> DtypeRule:
    """The type an option names, when the operator has options and it is one of `allowed`."""
    def rule(op: Operator) -> list[DType | None]:
        value = None if op.options is None else getattr(op.options, name, None)
        return [DType(value) if value is not None and value in allowed else None]

    return rule


def _embedding_type(op: Operator) -> list[DType | None]:
    t = _type_of(op, 1)
    return [None if t in (DType.INT8, DType.UINT8) else t]  # int8 tables: hybrid (float) or quantized


#: Operators computing values from their first input.
_COMPUTING = (
    *(n for n in UNARY if n not in ("CAST", "QUANTIZE", "DEQUANTIZE", "LOGICAL_NOT", "ZEROS_LIKE",
                                    "REVERSE_V2", "REVERSE_SEQUENCE", "DENSIFY")),
    *(n for n in BINARY if n not in COMPARISONS and n not in ("LOGICAL_AND", "LOGICAL_OR")),
    "ADD_N", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "L2_POOL_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "MEAN", "SUM", "REDUCE_PROD", "REDUCE_MAX",
    "REDUCE_MIN", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
)
#: Operators whose outputs have the type of an input whatever it is (they move elements, or
#: their type cannot change): the input's position.
_SAME_AS_INPUT = {
    **dict.fromkeys((
        "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PACK", "UNPACK",
        "SPLIT_V", "SLICE", "STRIDED_SLICE", "GATHER", "GATHER_ND", "PAD", "PADV2", "MIRROR_PAD",
        "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TILE",
        "BROADCAST_TO", "REVERSE_V2", "REVERSE_SEQUENCE", "ZEROS_LIKE", "DENSIFY", "RANGE",
        "LOGICAL_NOT", "REDUCE_ANY", "REDUCE_ALL",
    ), 0),
    "SPLIT": 1, "FILL": 1, "SELECT": 1, "SELECT_V2": 1, "SCATTER_ND": 1, "ONE_HOT": 2,
    "SPARSE_TO_DENSE": 2,
}

#: Dtype rules by operator name: the type of each output, None where it stays as written.
#: QUANTIZE has none: its output type is the quantization's.
DTYPE_RULES: dict[str, DtypeRule] = {
    **dict.fromkeys(_COMPUTING, _computed_type(0)),
    "TRANSPOSE_CONV": _computed_type(2),
    **{name: _same_type(i) for name, i in _SAME_AS_INPUT.items()},
    **dict.fromkeys((*COMPARISONS, "LOGICAL_AND", "LOGICAL_OR"), _fixed(DType.BOOL)),
    "ARG_MAX": _option_type("output_type", _INTEGER),
    "ARG_MIN": _option_type("output_type", _INTEGER),
    "SHAPE": _option_type("out_type", _INTEGER),
    "CAST": _option_type("out_data_type", list(DType)),
    "RANK": _fixed(DType.INT32),
    "DEQUANTIZE": _fixed(DType.FLOAT32),
    "WHERE": _fixed(DType.INT64),
    "NON_MAX_SUPPRESSION_V4": _fixed(DType.INT32, DType.INT32),
    "NON_MAX_SUPPRESSION_V5": _fixed(DType.INT32, DType.FLOAT32, DType.INT32),
    "TOPK_V2": lambda op: [_type_of(op, 0), None],  # indices: int32 or int64, as written
    "UNIQUE": lambda op: [_type_of(op, 0), *_option_type("idx_out_type", _INTEGER)(op)],
    "EMBEDDING_LOOKUP": _embedding_type,
}


def infer_dtypes(model: Model) -> bool:
    """Re-infer the element type of every operator output that has a rule, in execution order;
    True when one changed. CAST takes its options' type, QUANTIZE keeps the type it writes,
    operators on quantized inputs keep theirs (the quantizer chose them)."""
    changed = False
    for sg in model.subgraphs:
        for op in sg.operators:
            rule = DTYPE_RULES.get(op.name)
            if rule is None:
                continue
            for t, dtype in zip(op.outputs, rule(op)):
                if dtype is not None and t.dtype != dtype:
                    t.dtype = dtype
                    changed = True
    return changed


# ------------------------------------------------------------------------------------------
# Passes
# ------------------------------------------------------------------------------------------


class ShapeInferencePass(Pass):
    """ONE's shape inference as a pass (luci runs it in every circle2circle)."""

    name = "shape_inference"
    description = ("recompute every operator output's shape and shape signature from its inputs, "
                   "constant inputs and options (operators without a rule keep theirs)")

    def run(self, model: Model) -> bool:
        return infer_shapes(model)


class DtypeInferencePass(Pass):
    """ONE's type inference as a pass."""

    name = "dtype_inference"
    description = "recompute every operator output's element type from its inputs and options"

    def run(self, model: Model) -> bool:
        return infer_dtypes(model)


class DynamicBatchToSingleBatchPass(Pass):
    """Inputs of the main graph whose first dimension is dynamic get batch 1, then shapes are
    inferred again: what depended only on the batch becomes static."""

    name = "dynamic_batch_to_single_batch"
    description = "give inputs with a dynamic batch dimension batch 1 and infer shapes again"

    def run(self, model: Model) -> bool:
        changed = False
        for t in model.main.inputs:
            sig = signature(t)
            if sig and sig[0] == -1:
                sig = (1, *sig[1:])
                t.shape = (1, *t.shape[1:])
                t.shape_signature = sig if -1 in sig else None
                changed = True
        if changed:
            infer_shapes(model)
        return changed


def infer_passes() -> list[Pass]:
    """dynamic_batch_to_single_batch, shape_inference, dtype_inference."""
    return [DynamicBatchToSingleBatchPass(), ShapeInferencePass(), DtypeInferencePass()]
