"""Matrix products: Gemm and MatMul as FULLY_CONNECTED (constant 2-d weights) or BATCH_MATMUL,
MatMulInteger as an int8 BATCH_MATMUL with its zero points applied by sums, and Einsum lowered to
transposes, reshapes, sums and BATCH_MATMUL."""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import BatchMatMulOptions, FullyConnectedOptions

from ..context import Context, Node, Unsupported
from . import converts
from .common import broadcast_shape, tensor_shape
from .reduce import binary, cast, reduce, reshape_like, reshape_to, scalar


def fully_connected(cx: Context, x: Tensor, weights: np.ndarray, bias: np.ndarray | None,
                    out: Tensor | None = None) -> Tensor:
    """x [..., K] times constant weights [N, K] (transposed), plus bias [N]; leading dims kept."""
    if out is None:
        shape = tensor_shape(x)
        out = cx.temp(x.name + "_fc", x.dtype, None if shape is None else [*shape[:-1], weights.shape[0]])
    w = cx.constant(np.ascontiguousarray(weights.astype(x.dtype.numpy)), "weights")
    b = None if bias is None else cx.constant(bias.astype(x.dtype.numpy), "bias")
    cx.emit("FULLY_CONNECTED", [x, w, b], [out], FullyConnectedOptions(keep_num_dims=True))
    return out


def batch_matmul(cx: Context, a: Tensor, b: Tensor, adj_a: bool = False, adj_b: bool = False,
                 out: Tensor | None = None, dtype: DType | None = None) -> Tensor:
    """a @ b with broadcast batch dimensions (a, b of rank >= 2)."""
    if out is None:
        sa, sb = tensor_shape(a), tensor_shape(b)
        shape = None
        if sa is not None and sb is not None:
            m = sa[-1] if adj_a else sa[-2]
            n = sb[-2] if adj_b else sb[-1]
            shape = [*(broadcast_shape(sa[:-2], sb[:-2]) or []), m, n]
        out = cx.temp(a.name + "_mm", dtype or a.dtype, shape)
    cx.emit("BATCH_MATMUL", [a, b], [out], BatchMatMulOptions(adjoint_lhs=adj_a, adjoint_rhs=adj_b))
    return out


def _float_only(cx: Context, node: Node, name: str) -> None:
    if np.dtype(cx.dtype(name).numpy).kind != "f":
        raise Unsupported(f"{node.op_type} of {cx.dtype(name).name} (circle's matrix products take floats)")


@converts("Gemm")
def gemm(cx: Context, node: Node) -> None:
    """alpha * A' B' + beta * C: FULLY_CONNECTED when B is a constant (alpha folded into it, and
    beta * C too when it is a constant row), else BATCH_MATMUL, MUL and ADD."""
    a_name, b_name, c_name = node.input(0), node.input(1), node.input(2)
    _float_only(cx, node, a_name)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    trans_a, trans_b = bool(node.attr("transA", 0)), bool(node.attr("transB", 0))
    a = cx.tensor(a_name)
    out = cx.output(node.outputs[0], a.dtype)
    c = cx.optional(c_name) if beta != 0 else None
    if c is not None and beta != 1:
        c = binary(cx, "MUL", c, scalar(cx, beta, a.dtype))
    b_value = cx.const(b_name)
    if b_value is not None:
        weights = (b_value if trans_b else b_value.T) * np.asarray(alpha, b_value.dtype)
        units = weights.shape[0]
        bias = None
        if c is not None and c.is_constant and (c.data.size == 1 or c.data.shape[-1] == c.data.size == units):
            bias, c = np.broadcast_to(c.data.reshape(-1), (units,)), None
        x = cx.transpose(a, [1, 0]) if trans_a else a
        y = fully_connected(cx, x, weights, bias, out if c is None else None)
    else:
        y = batch_matmul(cx, a, cx.tensor(b_name), trans_a, trans_b, out if c is None and alpha == 1 else None)
        if alpha != 1:
            y = binary(cx, "MUL", y, scalar(cx, alpha, a.dtype), out if c is None else None)
    if c is not None:
        binary(cx, "ADD", y, c, out)


@converts("MatMul")
def matmul(cx: Context, node: Node) -> None:
    """numpy's matmul: FULLY_CONNECTED for constant 2-d weights, else BATCH_MATMUL; 1-d operands
    become matrices and their dimension is dropped from the result."""
    a_name, b_name = node.input(0), node.input(1)
    _float_only(cx, node, a_name)
    rank_a, rank_b = cx.need_rank(node, a_name), cx.need_rank(node, b_name)
    a, out = cx.tensor(a_name), cx.output(node.outputs[0], cx.dtype(a_name))
    b_value = cx.const(b_name)
    if b_value is not None and rank_b == 2:
        fully_connected(cx, a, b_value.T, None, out)
        return
    lifted = rank_a == 1 or rank_b == 1
    if rank_a == 1:
        a = reshape_to(cx, a, [1, -1])
    b = cx.tensor(b_name)
    if rank_b == 1:
        b = reshape_to(cx, b, [-1, 1])
    y = batch_matmul(cx, a, b, out=None if lifted else out)
    if lifted:
        reshape_like(cx, y, out, out)


@converts("MatMulInteger")
def matmul_integer(cx: Context, node: Node) -> None:
    """(A - a_zero) @ (B - b_zero) in int32. Circle's int8 BATCH_MATMUL with an int32 output gives
    the plain product, so uint8 operands are first moved to int8 (x - 128) and the zero points
    applied after: (A8 + ca)(B8 + cb) = A8 B8 + cb * rowsum(A8) + ca * colsum(B8) + K ca cb."""
    a_name, b_name = node.input(0), node.input(1)
    rank_a, rank_b = cx.need_rank(node, a_name), cx.need_rank(node, b_name)
    if rank_a < 2 or rank_b < 2:
        raise Unsupported("MatMulInteger of 1-d operands")
    k = (cx.shape(a_name) or [None])[-1]
    if k is None:
        raise Unsupported("MatMulInteger with an inner dimension unknown at import")
    a8, a32, ca = _as_int8(cx, node, 0, row_zero=True)
    b8, b32, cb = _as_int8(cx, node, 1, row_zero=False)
    out = cx.output(node.outputs[0], DType.INT32)
    terms = []
    if cb is not None:
        terms.append(binary(cx, "MUL", reduce(cx, "SUM", a32 or cast(cx, a8, DType.INT32), [rank_a - 1], True), cb))
    if ca is not None:
        terms.append(binary(cx, "MUL", reduce(cx, "SUM", b32 or cast(cx, b8, DType.INT32), [rank_b - 2], True), ca))
    if ca is not None and cb is not None:
        terms.append(binary(cx, "MUL", binary(cx, "MUL", ca, cb), scalar(cx, k, DType.INT32)))
    y = batch_matmul(cx, a8, b8, out=None if terms else out, dtype=DType.INT32)
    for i, term in enumerate(terms):
        y = binary(cx, "ADD", y, term, out if i == len(terms) - 1 else None)


def _as_int8(cx: Context, node: Node, index: int, row_zero: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Operand `index` as int8 (x8), as int32 when computed on the way (None for int8 operands),
    and the int32 correction c with x - zero_point = x8 + c (None when 0), shaped to broadcast
    against the product."""
    x = cx.tensor(node.input(index))
    if x.dtype not in (DType.UINT8, DType.INT8):
        raise Unsupported(f"MatMulInteger of {x.dtype.name}")
    shift = 128 if x.dtype == DType.UINT8 else 0
    x32 = binary(cx, "SUB", cast(cx, x, DType.INT32), scalar(cx, shift, DType.INT32)) if shift else None
    x8 = cast(cx, x32, DType.INT8) if shift else x
    zero_name = node.input(index + 2)
    zero = cx.const(zero_name)
    if zero is not None:
        c = shift - zero.astype(np.int64)
        if not c.any():
            return x8, x32, None
        return x8, x32, _per_row(cx, cx.constant(c.astype(np.int32), "zp"), row_zero)
    if not zero_name:
        return x8, x32, None if not shift else scalar(cx, shift, DType.INT32)
    z = binary(cx, "SUB", scalar(cx, shift, DType.INT32), cast(cx, cx.tensor(zero_name), DType.INT32))
    return x8, x32, _per_row(cx, z, row_zero)


def _per_row(cx: Context, z: Tensor, row_zero: bool) -> Tensor:
    """A's zero points [M] (one per row) as [M, 1]; the other shapes broadcast as they are."""
    shape = tensor_shape(z)
    return reshape_to(cx, z, [-1, 1]) if row_zero and shape is not None and len(shape) == 1 and shape[0] != 1 else z


# --- Einsum ----------------------------------------------------------------------------------------


@converts("Einsum")
def einsum(cx: Context, node: Node) -> None:
    """A letter repeated in a term takes the diagonal (a product with an identity matrix summed
    over one of its axes); letters absent from the output and from the other operands are summed
    first; operands are then contracted pairwise as batched matrix products ([batch, free,
    contracted] x [batch, contracted, free]) and transposed to the output."""
    names = [n for n in node.inputs if n]
    shapes = [cx.static_shape(n) for n in names]
    if any(s is None for s in shapes):
        raise Unsupported("Einsum operands need shapes known at import")
    terms, output = _parse_equation(str(node.attr("equation")), [len(s) for s in shapes])
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for letter, d in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), d)
    if len(names) > 1 or any(len(set(t)) < len(t) for t in terms):
        _float_only(cx, node, names[0])
    operands = [_diagonal(cx, cx.tensor(n), t) for n, t in zip(names, terms)]
    x, letters = operands[0]
    for i, (y, y_letters) in enumerate(operands[1:], start=1):
        needed = set(output).union(*(t for _, t in operands[i + 1 :]))
        x, letters = _contract(cx, x, letters, y, y_letters, needed, sizes)
    x, letters = _sum_unused(cx, x, letters, set(output))
    perm = [letters.index(c) for c in output]
    if perm == list(range(len(perm))):
        cx.values[node.outputs[0]] = x
    else:
        cx.transpose(x, perm, cx.output(node.outputs[0], x.dtype))


def _parse_equation(equation: str, ranks: Sequence[int]) -> tuple[list[str], str]:
    """The operand terms and the output term, with each '...' replaced by letters of its own."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise Unsupported(f"equation '{equation}' has {len(terms)} operands for {len(ranks)} inputs")
    spare = [c for c in string.ascii_letters if c not in equation]
    ellipsis = max((r - len(t) + 3 for t, r in zip(terms, ranks) if "..." in t), default=0)
    dots = "".join(spare[:ellipsis])
    expanded = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            term = term.replace("...", dots[ellipsis - (rank - len(term) + 3):])
        if len(term) != rank:
            raise Unsupported(f"term '{term}' of equation '{equation}' does not fit a rank-{rank} operand")
        expanded.append(term)
    if arrow:
        output = rhs.replace("...", dots)
    else:
        counts = "".join(expanded)
        output = dots + "".join(sorted(c for c in set(counts) - set(dots) if counts.count(c) == 1))
    return expanded, output


def _diagonal(cx: Context, x: Tensor, letters: str) -> tuple[Tensor, str]:
    """x with each repeated letter's diagonal taken (its later axis gone)."""
    for second, letter in enumerate(letters):
        first = letters.index(letter)
        if first < second:
            shape = tensor_shape(x)
            eye = np.eye(shape[first], dtype=x.dtype.numpy).reshape(
                [shape[first] if i in (first, second) else 1 for i in range(len(shape))])
            x = reduce(cx, "SUM", binary(cx, "MUL", x, cx.constant(eye, "eye")), [second], False)
            return _diagonal(cx, x, letters[:second] + letters[second + 1 :])
    return x, letters


def _sum_unused(cx: Context, x: Tensor, letters: str, needed: set[str]) -> tuple[Tensor, str]:
    """x summed over the letters not needed any more."""
    axes = [i for i, c in enumerate(letters) if c not in needed]
    if not axes:
        return x, letters
    return reduce(cx, "SUM", x, axes, False), "".join(c for c in letters if c in needed)


def _contract(cx: Context, a: Tensor, la: str, b: Tensor, lb: str, needed: set[str],
              sizes: dict[str, int]) -> tuple[Tensor, str]:
    """The product of two operands keeping the letters in `needed`."""
    a, la = _sum_unused(cx, a, la, needed | set(lb))
    b, lb = _sum_unused(cx, b, lb, needed | set(la))
    batch = [c for c in la if c in lb and c in needed]
    inner = [c for c in la if c in lb and c not in needed]
    free_a = [c for c in la if c not in lb]
    free_b = [c for c in lb if c not in la]
    shape_a, shape_b = dict(zip(la, tensor_shape(a))), dict(zip(lb, tensor_shape(b)))
    if any(shape_a[c] != shape_b[c] for c in inner):
        raise Unsupported(f"contracted dimensions of different sizes in '{la}' and '{lb}'")

    def size(letters: list[str], shape: dict[str, int]) -> int:
        return int(np.prod([shape[c] for c in letters], dtype=np.int64))

    a = _arrange(cx, a, la, batch + free_a + inner,
                 [shape_a[c] for c in batch] + [size(free_a, shape_a), size(inner, shape_a)])
    b = _arrange(cx, b, lb, batch + inner + free_b,
                 [shape_b[c] for c in batch] + [size(inner, shape_b), size(free_b, shape_b)])
    y = batch_matmul(cx, a, b)
    letters = batch + free_a + free_b
    y = reshape_to(cx, y, [sizes[c] if c not in batch else max(shape_a[c], shape_b[c]) for c in letters])
    return y, "".join(letters)


def _arrange(cx: Context, x: Tensor, letters: str, order: list[str], shape: list[int]) -> Tensor:
    """x transposed to `order` and reshaped to `shape` (each step only when it changes something)."""
    perm = [letters.index(c) for c in order]
    if perm != list(range(len(perm))):
        x = cx.transpose(x, perm)
    return x if tensor_shape(x) == shape else reshape_to(cx, x, shape)
