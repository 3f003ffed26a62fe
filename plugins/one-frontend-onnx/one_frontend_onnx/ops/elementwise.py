"""Elementwise arithmetic and math: one circle operator where circle has one, else a composition of
circle builtins (Tan = SIN / COS, Erf as a rational function, ...).

The machinery here is shared with activations.py and logic.py: a converter is a *recipe* that
emits circle operators through an `Emitter` from the node's input tensors into its output tensor.
`lower` runs a recipe; float16 values are computed in float32 (circle's kernels are float32) and
rounded back to float16 at the end, as ONNX runtimes compute float16 too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir import options as circle_options
from one_core.ir.options import CastOptions

from ..context import Context, Node, Shape, Unsupported, onnx_dtype
from . import converts
from .common import broadcast_shape, tensor_shape

FLOATS = (DType.FLOAT32, DType.FLOAT16, DType.FLOAT64)
BOOL_RESULTS = {"EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LOGICAL_OR",
                "LOGICAL_NOT"}
# operators evaluated at import when all their inputs are constants
FOLDABLE: dict[str, Callable[..., np.ndarray]] = {
    "LESS": np.less, "GREATER_EQUAL": np.greater_equal, "MINIMUM": np.minimum, "MAXIMUM": np.maximum,
    "SELECT_V2": np.where, "GATHER": lambda params, indices: np.take(params, indices, axis=0)}
OPTION_NAMES = {"MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions", "ATAN2": "ATan2Options"}


def default_options(op: str) -> Any:
    """The options table of circle operator `op` with its default values (None if it has none)."""
    name = OPTION_NAMES.get(op) or "".join(w.capitalize() for w in op.split("_")) + "Options"
    cls = getattr(circle_options, name, None)
    return cls() if cls is not None else None


def is_float(t: Tensor | DType) -> bool:
    return (t.dtype if isinstance(t, Tensor) else t) in FLOATS


class Emitter:
    """Emits the circle operators of one ONNX node; intermediate tensors are named after it."""

    def __init__(self, cx: Context, node: Node) -> None:
        self.cx = cx
        self.node = node
        self.hint = node.outputs[0] if node.outputs and node.outputs[0] else node.name

    def __call__(self, op: str, *inputs: Tensor | None, options: Any = None, out: Tensor | None = None,
                 dtype: DType | None = None) -> Tensor:
        """op(*inputs) into `out`, or into a new tensor shaped like the inputs broadcast, of `dtype` (by
        default: bool for comparisons, else the type of the first data input). A foldable operator
        on constants is a new constant."""
        if out is None and op in FOLDABLE and all(x is not None and x.is_constant for x in inputs):
            value = FOLDABLE[op](*(x.data for x in inputs))  # type: ignore[union-attr]
            return self.cx.constant(np.asarray(value), f"{self.hint}_{op.lower()}")
        if out is None:
            given = [x for x in inputs if x is not None]
            if dtype is None:  # SELECT_V2's first input is the condition
                dtype = DType.BOOL if op in BOOL_RESULTS else given[1 if op == "SELECT_V2" else 0].dtype
            out = self.temp(op.lower(), dtype, broadcast_shape(*[tensor_shape(x) for x in given]))
        self.cx.emit(op, list(inputs), [out], options if options is not None else default_options(op))
        return out

    def temp(self, what: str, dtype: DType, shape: Shape | None) -> Tensor:
        return self.cx.temp(f"{self.hint}_{what}", dtype, shape)

    def const(self, value: Any, dtype: DType | Tensor) -> Tensor:
        """A constant of `dtype` (or of that tensor's type)."""
        dtype = dtype.dtype if isinstance(dtype, Tensor) else dtype
        return self.cx.constant(np.asarray(value).astype(dtype.numpy), f"{self.hint}_const")

    def cast(self, x: Tensor, dtype: DType, out: Tensor | None = None) -> Tensor:
        """x converted to `dtype` (x itself when it has that type; constants converted here)."""
        if out is None and x.dtype == dtype:
            return x
        if out is None and x.is_constant:
            with np.errstate(all="ignore"):
                return self.const(x.data, dtype)
        return self("CAST", x, options=CastOptions(in_data_type=x.dtype, out_data_type=dtype), out=out, dtype=dtype)


Recipe = Callable[[Emitter, list[Tensor | None], Tensor], None]


def lower(cx: Context, node: Node, recipe: Recipe, inputs: list[str] | None = None,
          result: DType | int = 0) -> None:
    """Run `recipe` on the node's inputs (or `inputs`), writing its first output. float16 inputs are
    cast to float32 and a float16 result is computed in float32, then cast back. The output's type
    is ONNX's inferred one, else `result`: a type, or the index of the input whose type it has."""
    e = Emitter(cx, node)
    names = node.inputs if inputs is None else inputs
    xs = [cx.tensor(n) if n else None for n in names]
    inferred = cx.graph.types.get(node.outputs[0], (None, None))[0]
    out = cx.output(node.outputs[0], inferred or (result if isinstance(result, DType) else xs[result].dtype))
    if not any(x is not None and x.dtype == DType.FLOAT16 for x in xs):
        recipe(e, xs, out)
        return
    xs = [e.cast(x, DType.FLOAT32) if x is not None and x.dtype == DType.FLOAT16 else x for x in xs]
    if out.dtype != DType.FLOAT16:
        recipe(e, xs, out)
        return
    wide = e.temp("f32", DType.FLOAT32, tensor_shape(out))
    recipe(e, xs, wide)
    e.cast(wide, DType.FLOAT16, out)


def alias(cx: Context, node: Node, name: str) -> None:
    """The node's first output is the value `name` itself (no operator)."""
    cx.values[node.outputs[0]] = cx.tensor(name)


def direct(op: str) -> Recipe:
    """The recipe of an ONNX operator that is circle's `op` on the same inputs."""

    def recipe(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
        e(op, *xs, out=out)

    return recipe


def register(table: dict[str, str | Recipe], result: DType | int = 0) -> None:
    """Register the converters of `table`: ONNX op type -> circle operator name or recipe (`result`:
    see `lower`)."""

    def convert(cx: Context, node: Node) -> None:
        how = table[node.op_type]
        lower(cx, node, direct(how) if isinstance(how, str) else how, result=result)

    converts(*table)(convert)


# --- compositions ----------------------------------------------------------------------------------


def _half(e: Emitter, x: Tensor, out: Tensor) -> None:
    e("MUL", x, e.const(0.5, x), out=out)


def _sqrt_one_minus_square(e: Emitter, x: Tensor) -> Tensor:
    """sqrt(1 - x^2), as sqrt((1 - x)(1 + x)) which keeps its precision near |x| = 1."""
    one = e.const(1, x)
    return e("SQRT", e("MUL", e("SUB", one, x), e("ADD", one, x)))


def _asinh(e: Emitter, x: Tensor, out: Tensor) -> None:
    """sign(x) log(|x| + sqrt(x^2 + 1)): the odd form, free of cancellation for x < 0."""
    a = e("ABS", x)
    root = e("SQRT", e("ADD", e("MUL", a, a), e.const(1, x)))
    e("MUL", e("SIGN", x), e("LOG", e("ADD", a, root)), out=out)


def _acosh(e: Emitter, x: Tensor, out: Tensor) -> None:
    one = e.const(1, x)
    e("LOG", e("ADD", x, e("SQRT", e("MUL", e("SUB", x, one), e("ADD", x, one)))), out=out)


def _atanh(e: Emitter, x: Tensor, out: Tensor) -> None:
    one = e.const(1, x)
    _half(e, e("LOG", e("DIV", e("ADD", one, x), e("SUB", one, x))), out)


# erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (erf is +-1 in float32 outside): the rational approximation
# Eigen and XLA use for float erf, within 5e-7 of the exact value. Coefficients, highest power first.
ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
         -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
         -1.42647390514189e-02)


def _polynomial(e: Emitter, x: Tensor, coefficients: tuple[float, ...]) -> Tensor:
    """c0 x^n + ... + cn by Horner's rule."""
    acc = e("MUL", x, e.const(coefficients[0], x))
    for c in coefficients[1:-1]:
        acc = e("MUL", e("ADD", acc, e.const(c, x)), x)
    return e("ADD", acc, e.const(coefficients[-1], x))


def _erf(e: Emitter, x: Tensor, out: Tensor) -> None:
    if not is_float(x):
        raise Unsupported(f"Erf of {x.dtype.name}")
    x = e("MINIMUM", e("MAXIMUM", x, e.const(-4, x)), e.const(4, x))
    x2 = e("MUL", x, x)
    e("DIV", e("MUL", x, _polynomial(e, x2, ERF_P)), _polynomial(e, x2, ERF_Q), out=out)


def unary(fn: Callable[[Emitter, Tensor, Tensor], object]) -> Recipe:
    """The recipe of a function of the first input."""

    def recipe(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
        fn(e, xs[0], out)  # type: ignore[arg-type]

    return recipe


UNARY_COMPOSED: dict[str, Callable[[Emitter, Tensor, Tensor], object]] = {
    "Reciprocal": lambda e, x, out: e("DIV", e.const(1, x), x, out=out),
    "Tan": lambda e, x, out: e("DIV", e("SIN", x), e("COS", x), out=out),
    "Atan": lambda e, x, out: e("ATAN2", x, e.const(1, x), out=out),
    "Asin": lambda e, x, out: e("ATAN2", x, _sqrt_one_minus_square(e, x), out=out),
    "Acos": lambda e, x, out: e("ATAN2", _sqrt_one_minus_square(e, x), x, out=out),
    "Sinh": lambda e, x, out: _half(e, e("SUB", e("EXP", x), e("EXP", e("NEG", x))), out),
    "Cosh": lambda e, x, out: _half(e, e("ADD", e("EXP", x), e("EXP", e("NEG", x))), out),
    "Asinh": _asinh,
    "Acosh": _acosh,
    "Atanh": _atanh,
    "Erf": _erf,
}


def _pow(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """Pow's result has the base's type: an integer base with a float exponent is raised in float
    and truncated back, as ONNX runtimes do."""
    base, exponent = xs[0], xs[1]
    assert base is not None and exponent is not None
    if is_float(exponent) and not is_float(base):
        e.cast(e("POW", e.cast(base, exponent.dtype), exponent), base.dtype, out)
    else:
        e("POW", base, e.cast(exponent, base.dtype), out=out)


def _mod(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """fmod=0: the remainder takes the divisor's sign (FLOOR_MOD); fmod=1: the dividend's (C fmod),
    for floats sign(x) * (|x| mod |y|), for integers x - trunc(x / y) * y (circle's integer DIV
    truncates)."""
    x, y = xs[0], xs[1]
    assert x is not None and y is not None
    if not e.node.attr("fmod", 0):
        e("FLOOR_MOD", x, y, out=out)
    elif is_float(x):
        e("MUL", e("SIGN", x), e("FLOOR_MOD", e("ABS", x), e("ABS", y)), out=out)
    else:
        e("SUB", x, e("MUL", e("DIV", x, y), y), out=out)


register({"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV", "Abs": "ABS", "Neg": "NEG", "Exp": "EXP",
          "Log": "LOG", "Sqrt": "SQRT", "Floor": "FLOOR", "Ceil": "CEIL", "Round": "ROUND", "Sign": "SIGN",
          "Sin": "SIN", "Cos": "COS", "Pow": _pow, "Mod": _mod,
          **{op: unary(fn) for op, fn in UNARY_COMPOSED.items()}})


# --- variadic: Sum, Mean, Max, Min -----------------------------------------------------------------

VARIADIC = {"Sum": "ADD", "Mean": "ADD", "Max": "MAXIMUM", "Min": "MINIMUM"}


def _fold_inputs(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    op = VARIADIC[e.node.op_type]
    acc, *rest = [x for x in xs if x is not None]
    mean = e.node.op_type == "Mean"
    for i, x in enumerate(rest):
        acc = e(op, acc, x, out=out if i == len(rest) - 1 and not mean else None)
    if mean:
        e("DIV", acc, e.const(len(rest) + 1, acc), out=out)


@converts(*VARIADIC)
def variadic(cx: Context, node: Node) -> None:
    names = [n for n in node.inputs if n]
    if len(names) == 1:
        alias(cx, node, names[0])
    else:
        lower(cx, node, _fold_inputs, names)


# --- Clip ------------------------------------------------------------------------------------------

# constant (min, max) bounds that are one circle activation on floats
RELU_CLIPS = {(0.0, None): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1", (0.0, 1.0): "RELU_0_TO_1"}


def _scalar(t: Tensor | None) -> float | str | None:
    """The value of a constant scalar bound; "?" when computed at run time, None when absent."""
    if t is None:
        return None
    return float(t.data.reshape(-1)[0]) if t.is_constant and t.data.size == 1 else "?"


def _clip(e: Emitter, xs: list[Tensor | None], out: Tensor) -> None:
    """min(max(x, lo), hi): hi wins when lo > hi, as in ONNX."""
    x, lo, hi = xs[0], xs[1], xs[2]
    assert x is not None
    if e.node.opset < 11:  # bounds are attributes
        lo, hi = (None if e.node.attr(k) is None else e.const(e.node.attr(k), x) for k in ("min", "max"))
    relu = RELU_CLIPS.get((_scalar(lo), _scalar(hi))) if is_float(x) else None
    if relu is not None:
        e(relu, x, out=out)
        return
    steps = [(op, b) for op, b in (("MAXIMUM", lo), ("MINIMUM", hi)) if b is not None]
    for i, (op, bound) in enumerate(steps):
        x = e(op, x, bound, out=out if i == len(steps) - 1 else None)


@converts("Clip")
def clip(cx: Context, node: Node) -> None:
    if node.opset < 11:
        unbounded = node.attr("min") is None and node.attr("max") is None
    else:
        unbounded = not node.input(1) and not node.input(2)
    if unbounded:
        alias(cx, node, node.input(0))
    else:
        lower(cx, node, _clip, [node.input(i) for i in range(3)])


# --- Cast, CastLike --------------------------------------------------------------------------------


@converts("Cast", "CastLike")
def cast(cx: Context, node: Node) -> None:
    x = node.input(0)
    if node.op_type == "Cast":
        to = onnx_dtype(int(node.attr("to")), f"{node}: 'to'")
    else:
        to = cx.dtype(node.input(1))
    if cx.dtype(x) == to:
        alias(cx, node, x)
    else:
        Emitter(cx, node).cast(cx.tensor(x), to, cx.output(node.outputs[0], to))
