"""Resize and Upsample.

Resizing is separable: along every resized dimension, output element i is a weighted sum of a few
input elements (`taps`) around the input coordinate the coordinate transformation maps i to.

- Sizes and scales known at import: the taps of every dimension are computed here as ONNX's
  reference does (float64; every coordinate transformation, nearest rounding, linear, cubic,
  antialiasing, extrapolation) and compared with those of circle's RESIZE_NEAREST_NEIGHBOR /
  RESIZE_BILINEAR (channels-last, height and width, TFLite's float32 formulas). Equal taps use
  that operator; otherwise the resize becomes per-dimension GATHERs of the taps weighted by
  constant MULs.
- Scales or roi computed at run time (sizes known): the same coordinates are computed in circle
  (float32), then the taps and their weights, feeding the same GATHERs (antialiasing takes the
  taps of the smallest scale giving that output size: the kernel weighs the extra ones 0).
- Input or output sizes unknown at import: circle's operators, where their coordinate mapping is
  ONNX's for every size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ConcatenationOptions, GatherOptions, ReducerOptions, ReshapeOptions, ResizeBilinearOptions,
    ResizeNearestNeighborOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import axis_of
from .index import bind
from .shape import as_tensor, cast, const, dims_at, emit_new, param, tensor_shape

F32 = np.float32
Scalar = float | Tensor  # known at import, or a one-element tensor computed at run time


@dataclass
class _Mode:
    """What decides the taps of one dimension, besides its sizes."""

    mode: str  # nearest, linear, cubic
    transform: str  # coordinate_transformation_mode
    nearest: str  # nearest_mode
    cubic_a: float
    exclude_outside: bool
    antialias: bool


@dataclass
class _Plan:
    """The resize of one node: per resized dimension, input and output size, scale and roi."""

    axes: list[int]
    n_in: list[int | None]
    n_out: list[int | None]
    scales: list[Scalar | None]
    roi: list[tuple[Scalar, Scalar]]


@dataclass
class _Taps:
    """The taps of one dimension as tensors: per tap, input indices [n_out] and weights (None: a
    single tap of weight 1); positions taking the extrapolation value, or None."""

    index: list[Tensor]
    weight: list[Tensor] | None
    outside: Tensor | None


# --- source coordinates (computed here when constant, in circle otherwise) ------------------------


def _source(cx: Context, m: _Mode, n_in: int, n_out: int, scale: Tensor, roi: tuple[Tensor, Tensor]) -> Tensor:
    """The input coordinate of every output position, in the type of `scale`, in the order of
    operations of ONNX's reference."""
    dt = scale.dtype

    def op(name: str, *args: Tensor | float) -> Tensor:
        ins = [a if isinstance(a, Tensor) else const(cx, a, dt) for a in args]
        shapes = [tensor_shape(t) or [] for t in ins]
        return emit_new(cx, name, ins, DType.BOOL if name == "EQUAL" else dt, max(shapes, key=len))

    y = const(cx, np.arange(n_out), dt)
    width = op("MUL", scale, float(n_in))  # the resized length before rounding
    single = op("EQUAL", width, 1.0)
    half = op("SUB", op("DIV", op("ADD", y, 0.5), scale), 0.5)
    t = m.transform
    if t == "asymmetric":
        return op("DIV", y, scale)
    if t == "tf_half_pixel_for_nn":
        return op("DIV", op("ADD", y, 0.5), scale)
    if t == "half_pixel":
        return half
    if t == "pytorch_half_pixel":
        return op("SELECT_V2", single, -0.5, half)
    if t == "half_pixel_symmetric":
        offset = op("MUL", n_in / 2, op("SUB", 1.0, op("DIV", float(n_out), width)))
        return op("SUB", op("ADD", offset, op("DIV", op("ADD", y, 0.5), scale)), 0.5)
    if t == "align_corners":
        return op("SELECT_V2", single, 0.0, op("DIV", op("MUL", y, float(n_in - 1)), op("SUB", width, 1.0)))
    if t == "tf_crop_and_resize":
        extent = op("SUB", roi[1], roi[0])
        middle = op("DIV", op("MUL", extent, float(n_in - 1)), 2.0)
        spread = op("DIV", op("MUL", op("MUL", y, extent), float(n_in - 1)), op("SUB", width, 1.0))
        return op("ADD", op("SELECT_V2", single, middle, spread), op("MUL", roi[0], float(n_in - 1)))
    raise Unsupported(f"coordinate_transformation_mode '{t}'")


# --- ONNX's taps from constant coordinates ----------------------------------------------------------


def _keys(x: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel with parameter a."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _coefficients(m: _Mode, ratio: np.ndarray, scale: float) -> np.ndarray:
    """Weights of the taps around every source coordinate ([positions, taps]); `ratio` is its
    distance past the tap below (1 for a coordinate on a tap)."""
    r = ratio[:, None]
    if m.mode == "nearest":
        up = {"round_prefer_floor": r > 0.5, "round_prefer_ceil": r >= 0.5, "floor": r >= 1,
              "ceil": np.ones_like(r, bool)}.get(m.nearest)
        if up is None:
            raise Unsupported(f"nearest_mode '{m.nearest}'")
        up = up | (r == 1)
        return np.concatenate([~up, up], axis=1).astype(np.float64)
    s = min(scale, 1.0) if m.antialias else 1.0
    if m.mode == "linear":
        first = int(np.floor(-1 / s)) + 1
        w = np.clip(1 - np.abs((np.arange(first, 2 - first) - r) * s), 0, 1)
    elif m.mode == "cubic":
        first = int(np.floor(-2 / s)) + 1
        w = _keys((np.arange(first, 2 - first) - r) * s, m.cubic_a)
    else:
        raise Unsupported(f"mode '{m.mode}'")
    return w / w.sum(axis=1, keepdims=True)


def onnx_taps(m: _Mode, n_in: int, x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(input index, weight) of every tap of every output position ([n_out, taps] each) for source
    coordinates `x`, and the positions taking the extrapolation value (tf_crop_and_resize) or None."""
    below = np.floor(x)
    ratio = np.where(x == below, 1.0, x - below)
    w = _coefficients(m, ratio, scale)
    n = w.shape[1]
    pad = -(-n // 2)
    padded = x + pad
    p = np.floor(padded)
    frac = padded - p
    if n % 2 == 0:  # the n taps nearest to x, the lower one winning a tie
        offset = np.where(frac == 0, -(n // 2), 1 - n // 2)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), 1 - (n - 1) // 2)
    index = (p + offset - pad).astype(np.int64)[:, None] + np.arange(n)
    if m.exclude_outside:
        w = np.where((index < 0) | (index >= n_in), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    outside = (x < 0) | (x > n_in - 1) if m.transform == "tf_crop_and_resize" else None
    return np.clip(index, 0, n_in - 1), w, outside


def _dense(index: np.ndarray, weight: np.ndarray, n_in: int) -> np.ndarray:
    """The [n_out, n_in] matrix of taps."""
    dense = np.zeros((index.shape[0], n_in))
    np.add.at(dense, (np.repeat(np.arange(index.shape[0]), index.shape[1]), index.reshape(-1)), weight.reshape(-1))
    return dense


def _identity(taps: tuple[np.ndarray, np.ndarray, np.ndarray | None], n_in: int) -> bool:
    return taps[0].shape[0] == n_in and (taps[2] is None or not taps[2].any()) and \
        np.allclose(_dense(taps[0], taps[1], n_in), np.eye(n_in))


def _constant_taps(cx: Context, taps: tuple[np.ndarray, np.ndarray, np.ndarray | None], nearest: bool) -> _Taps:
    index, weight, outside = taps
    mask = None if outside is None or not outside.any() else const(cx, outside, DType.BOOL)
    if nearest:
        return _Taps([const(cx, index[np.arange(len(index)), weight.argmax(axis=1)], DType.INT32)], None, mask)
    used = np.nonzero(weight.any(axis=0))[0]
    return _Taps([const(cx, index[:, j], DType.INT32) for j in used],
                 [const(cx, weight[:, j], DType.FLOAT32) for j in used], mask)


# --- taps computed at run time --------------------------------------------------------------------


def _first_tap(m: _Mode, scale: float) -> int:
    """Offset of the first tap from the coordinate's floor (linear and cubic; antialiasing widens
    the taps of a downscale)."""
    reach = 1 if m.mode == "linear" else 2
    return int(np.floor(-reach / min(scale, 1.0) if m.antialias else -reach)) + 1


def _run_time_taps(cx: Context, m: _Mode, n_in: int, n_out: int, x: Tensor, scale: Tensor) -> _Taps:
    """Nearest, linear or cubic taps of float32 coordinates `x` ([n_out]) in circle."""
    f, n = DType.FLOAT32, tensor_shape(x)

    def op(name: str, *args: Tensor | float, dtype: DType = f) -> Tensor:
        return emit_new(cx, name, [a if isinstance(a, Tensor) else const(cx, a, f) for a in args], dtype, n)

    def index(v: Tensor) -> Tensor:
        i = cast(cx, v, DType.INT32)
        return emit_new(cx, "MINIMUM", [emit_new(cx, "MAXIMUM", [i, const(cx, 0, DType.INT32)], DType.INT32, n),
                                        const(cx, n_in - 1, DType.INT32)], DType.INT32, n)

    def outside(v: Tensor) -> Tensor:
        below, above = op("LESS", v, 0.0, dtype=DType.BOOL), op("GREATER", v, float(n_in - 1), dtype=DType.BOOL)
        return op("LOGICAL_OR", below, above, dtype=DType.BOOL)

    if m.mode == "nearest":
        rounded = {"round_prefer_floor": lambda: op("CEIL", op("SUB", x, 0.5)),
                   "round_prefer_ceil": lambda: op("FLOOR", op("ADD", x, 0.5)),
                   "floor": lambda: op("FLOOR", x), "ceil": lambda: op("CEIL", x)}.get(m.nearest)
        if rounded is None:
            raise Unsupported(f"nearest_mode '{m.nearest}'")
        taps = _Taps([index(rounded())], None, None)
    elif m.mode in ("linear", "cubic"):
        # The taps of the smallest scale that can give n_out: a wider window than the actual
        # scale's only adds taps where the kernel is 0.
        start = _first_tap(m, max(n_out - 1, 0.5) / n_in)
        low = op("FLOOR", x)
        r = op("SUB", x, low)
        narrowed = op("MINIMUM", scale, 1.0) if m.antialias else None
        positions, weights = [], []
        for o in range(start, 2 - start):
            distance = op("SUB", float(o), r)
            if narrowed is not None:
                distance = op("MUL", distance, narrowed)
            positions.append(op("ADD", low, float(o)))
            weights.append(_kernel(op, m, op("ABS", distance)))
        if m.exclude_outside:
            weights = [op("SELECT_V2", outside(p), 0.0, w) for p, w in zip(positions, weights)]
        if m.exclude_outside or m.antialias:
            total = weights[0]
            for w in weights[1:]:
                total = op("ADD", total, w)
            weights = [op("DIV", w, total) for w in weights]
        taps = _Taps([index(p) for p in positions], weights, None)
    else:
        raise Unsupported(f"mode '{m.mode}'")
    if m.transform == "tf_crop_and_resize":
        taps.outside = outside(x)
    return taps


def _kernel(op: Callable[..., Tensor], m: _Mode, d: Tensor) -> Tensor:
    """The interpolation kernel at distances d >= 0: a triangle (linear) or Keys' cubic."""
    if m.mode == "linear":
        return op("MAXIMUM", op("SUB", 1.0, d), 0.0)
    a = m.cubic_a
    near = op("ADD", op("MUL", op("MUL", op("SUB", op("MUL", d, a + 2), a + 3), d), d), 1.0)
    far = op("SUB", op("MUL", op("ADD", op("MUL", op("SUB", op("MUL", d, a), 5 * a), d), 8 * a), d), 4 * a)
    within2 = op("SELECT_V2", op("LESS", d, 2.0, dtype=DType.BOOL), far, 0.0)
    return op("SELECT_V2", op("LESS_EQUAL", d, 1.0, dtype=DType.BOOL), near, within2)


# --- circle's taps (TFLite's float32 formulas) ----------------------------------------------------


def circle_matrix(nearest: bool, n_in: int, n_out: int, align: bool, half: bool) -> np.ndarray:
    """The [n_out, n_in] matrix RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR apply along one dimension."""
    scale = F32(n_in - 1) / F32(n_out - 1) if align and n_out > 1 else F32(n_in) / F32(n_out)
    v = np.arange(n_out, dtype=F32)
    if nearest:
        s = (v + (F32(0.5) if half else F32(0))) * scale
        fl = np.floor(s)
        index = (fl + (s - fl >= F32(0.5))) if align else fl
        index = np.clip(index.astype(np.int64), 0, n_in - 1)
        return _dense(index[:, None], np.ones((n_out, 1)), n_in)
    s = (v + F32(0.5)) * scale - F32(0.5) if half else v * scale
    lo = np.maximum(np.floor(s).astype(np.int64), 0)
    hi = np.minimum(np.ceil(s).astype(np.int64), n_in - 1)
    frac = (s - lo.astype(F32)).astype(F32)
    return _dense(np.stack([lo, hi], 1), np.stack([F32(1) - frac, frac], 1).astype(np.float64), n_in)


#: circle options (align_corners, half_pixel_centers) equal to an ONNX mode for every size:
#: (mode, coordinate transformation, nearest mode or "") -> options
SAME_FOR_ALL_SIZES = {
    ("nearest", "asymmetric", "floor"): (False, False),
    ("nearest", "tf_half_pixel_for_nn", "floor"): (False, True),
    ("nearest", "half_pixel", "round_prefer_ceil"): (False, True),
    ("nearest", "half_pixel_symmetric", "round_prefer_ceil"): (False, True),
    ("nearest", "align_corners", "round_prefer_ceil"): (True, False),
    ("linear", "asymmetric", ""): (False, False),
    ("linear", "half_pixel", ""): (False, True),
    ("linear", "half_pixel_symmetric", ""): (False, True),
    ("linear", "align_corners", ""): (True, False),
}
OPTION_CANDIDATES = ((False, False), (False, True), (True, False))


def _circle_options(m: _Mode, rank: int, axes: list[int], n_in: list[int],
                    taps: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> tuple[bool, bool] | None:
    """circle's (align_corners, half_pixel_centers) applying exactly ONNX's taps, if any."""
    if rank != 4 or not axes or not set(axes) <= {2, 3} or m.mode not in ("nearest", "linear") \
            or any(t[2] is not None and t[2].any() for t in taps):
        return None
    wanted = [_dense(t[0], t[1], n) for t, n in zip(taps, n_in)]
    for align, half in OPTION_CANDIDATES:
        if all(np.allclose(circle_matrix(m.mode == "nearest", n, w.shape[0], align, half), w, atol=1e-6)
               for n, w in zip(n_in, wanted)):
            return align, half
    return None


# --- the converter --------------------------------------------------------------------------------


@converts("Resize", "Upsample")
def resize(cx: Context, node: Node) -> None:
    rank = cx.need_rank(node, node.input(0))
    m = _mode(node)
    plan = _plan(cx, node, rank, m)
    if None in plan.n_in or None in plan.n_out:
        _unknown_sizes(cx, node, m, plan, rank)
    elif all(isinstance(v, float) for v in (*plan.scales, *(v for pair in plan.roi for v in pair))):
        _known_scales(cx, node, m, plan, rank)
    else:
        _run_time_scales(cx, node, m, plan)


def _known_scales(cx: Context, node: Node, m: _Mode, plan: _Plan, rank: int) -> None:
    """ONNX's taps computed here: circle's resize operator when it applies the same, else GATHERs."""
    tables = []
    for a, n_in, n_out, scale, roi in zip(plan.axes, plan.n_in, plan.n_out, plan.scales, plan.roi):
        f64 = DType.FLOAT64
        coords = _source(cx, m, n_in, n_out, const(cx, scale, f64), (const(cx, roi[0], f64), const(cx, roi[1], f64)))
        t = onnx_taps(m, n_in, np.asarray(coords.data), scale)  # type: ignore[arg-type]
        if not _identity(t, n_in):  # type: ignore[arg-type]
            tables.append((a, n_in, t))
    options = _circle_options(m, rank, [a for a, _, _ in tables], [n for _, n, _ in tables], [t for _, _, t in tables])
    if options is not None:
        x_shape = cx.shape(node.input(0)) or []
        size = [plan.n_out[plan.axes.index(a)] if a in plan.axes else x_shape[a] for a in (2, 3)]
        _emit_circle(cx, node, m, options, const(cx, size, DType.INT32))
        return
    taps = [(a, _constant_taps(cx, t, m.mode == "nearest")) for a, _, t in tables]
    bind(cx, node.outputs[0], _emit_taps(cx, node, m, taps))


def _run_time_scales(cx: Context, node: Node, m: _Mode, plan: _Plan) -> None:
    """Scales or roi computed at run time: the coordinates and taps computed in circle."""
    taps = []
    for a, n_in, n_out, scale, roi in zip(plan.axes, plan.n_in, plan.n_out, plan.scales, plan.roi):
        if n_in == n_out == 1 and m.transform != "tf_crop_and_resize":
            continue
        s = _f32(cx, scale)  # type: ignore[arg-type]
        coords = _source(cx, m, n_in, n_out, s, (_f32(cx, roi[0]), _f32(cx, roi[1])))  # type: ignore[arg-type]
        taps.append((a, _run_time_taps(cx, m, n_in, n_out, coords, s)))  # type: ignore[arg-type]
    bind(cx, node.outputs[0], _emit_taps(cx, node, m, taps))


def _f32(cx: Context, v: Scalar) -> Tensor:
    return cast(cx, v, DType.FLOAT32) if isinstance(v, Tensor) else const(cx, v, DType.FLOAT32)


def _unknown_sizes(cx: Context, node: Node, m: _Mode, plan: _Plan, rank: int) -> None:
    """circle's resize operators, where their coordinate mapping is ONNX's for every size."""
    options = SAME_FOR_ALL_SIZES.get((m.mode, m.transform, m.nearest if m.mode == "nearest" else ""))
    if any(isinstance(s, Tensor) for s in plan.scales) or m.antialias and m.mode == "linear" \
            and not all(isinstance(s, float) and s >= 1 for s in plan.scales):
        options = None
    moving = {a for a, s in zip(plan.axes, plan.scales) if s != 1}  # scale 1 keeps a dimension in these modes
    if options is None or rank != 4 or not moving <= {2, 3}:
        raise Unsupported(f"mode '{m.mode}' with coordinate_transformation_mode '{m.transform}'"
                          + (f" and nearest_mode '{m.nearest}'" if m.mode == "nearest" else "")
                          + " needs the input and output sizes known at import (give --input_shapes)")
    _emit_circle(cx, node, m, options, _size_tensor(cx, node, plan))


def _mode(node: Node) -> _Mode:
    old = node.op_type == "Upsample" or node.opset < 11  # asymmetric coordinates, nearest rounds down
    mode = node.attr("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode)
    transform = "asymmetric" if old else node.attr("coordinate_transformation_mode", "half_pixel")
    nearest = "floor" if old else node.attr("nearest_mode", "round_prefer_floor")
    return _Mode(mode, transform, nearest, float(node.attr("cubic_coeff_a", -0.75)),
                 bool(node.attr("exclude_outside", 0)), bool(node.attr("antialias", 0)))


def _element(cx: Context, t: Tensor, i: int) -> Tensor:
    """Element i of a run-time vector, as a float32 vector [1]."""
    return emit_new(cx, "GATHER", [cast(cx, t, DType.FLOAT32), const(cx, [i], DType.INT32)], DType.FLOAT32, [1],
                    GatherOptions())


def _plan(cx: Context, node: Node, rank: int, m: _Mode) -> _Plan:
    x = node.input(0)
    in_shape = cx.shape(x) or [None] * rank
    out_shape = cx.shape(node.outputs[0]) or [None] * rank
    axes = [axis_of(node, int(a), rank) for a in node.attr("axes", range(rank))]
    if node.op_type == "Upsample" or node.opset < 11:
        scales, roi, sizes = param(cx, node, 1, "scales", 9), None, None
    else:
        roi, scales, sizes = param(cx, node, 1), param(cx, node, 2), param(cx, node, 3)
    if isinstance(scales, np.ndarray) and scales.size == 0:
        scales = None
    n_in = [in_shape[a] for a in axes]
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise Unsupported(f"keep_aspect_ratio_policy '{policy}'")
    if isinstance(sizes, Tensor) and policy == "stretch" and all(out_shape[a] is not None for a in axes):
        sizes = np.array([out_shape[a] for a in axes])  # known from shape inference
    factors: list[Scalar | None]
    if isinstance(scales, np.ndarray):
        factors = [float(s) for s in scales.reshape(-1)]
        n_out = [None if n is None else int(np.floor(n * s)) for n, s in zip(n_in, factors)]  # type: ignore
    elif isinstance(scales, Tensor):
        factors = [_element(cx, scales, i) for i in range(len(axes))]
        n_out = [out_shape[a] for a in axes]
    elif isinstance(sizes, np.ndarray):
        n_out, factors = _sizes(policy, sizes, n_in)
    elif isinstance(sizes, Tensor):
        n_out, factors = [out_shape[a] for a in axes], [None] * len(axes)
        if policy != "stretch" and None not in n_in:
            ratios = emit_new(cx, "DIV", [cast(cx, sizes, DType.FLOAT32), const(cx, n_in, DType.FLOAT32)],
                              DType.FLOAT32, [len(axes)])
            scale = emit_new(cx, "REDUCE_MIN" if policy == "not_larger" else "REDUCE_MAX",
                             [ratios, const(cx, [0], DType.INT32)], DType.FLOAT32, [1], ReducerOptions(keep_dims=True))
            factors = [scale] * len(axes)
    else:
        raise Unsupported("neither scales nor sizes are given")
    pairs: list[tuple[Scalar, Scalar]] = [(0.0, 1.0)] * len(axes)
    if m.transform == "tf_crop_and_resize" and isinstance(roi, np.ndarray) and roi.size:
        pairs = [(float(roi[i]), float(roi[i + roi.size // 2])) for i in range(len(axes))]
    elif m.transform == "tf_crop_and_resize" and isinstance(roi, Tensor):
        pairs = [(_element(cx, roi, i), _element(cx, roi, i + len(axes))) for i in range(len(axes))]
    return _Plan(axes, n_in, n_out, factors, pairs)


def _sizes(policy: str, sizes: np.ndarray, n_in: list[int | None]) -> tuple[list[int | None], list[Scalar | None]]:
    """Output sizes and scales from `sizes`, after keep_aspect_ratio_policy."""
    wanted = [int(s) for s in sizes.reshape(-1)]
    if None in n_in:
        return list(wanted), [None] * len(wanted)
    ratios = [w / n for w, n in zip(wanted, n_in)]  # type: ignore[operator]
    if policy == "stretch":
        return list(wanted), list(ratios)
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    return [int(scale * n + 0.5) for n in n_in], [scale] * len(wanted)  # type: ignore[operator]


def _emit_circle(cx: Context, node: Node, m: _Mode, options: tuple[bool, bool], size: Tensor) -> None:
    x = node.input(0)
    if m.mode == "nearest":
        op, opts = "RESIZE_NEAREST_NEIGHBOR", ResizeNearestNeighborOptions(*options)
    else:
        op, opts = "RESIZE_BILINEAR", ResizeBilinearOptions(*options)
        if cx.dtype(x) != DType.FLOAT32:
            raise Unsupported(f"linear resizing of {cx.dtype(x).name} tensors")
    out = cx.output(node.outputs[0], cx.dtype(x))
    y = cx.channels_last_like(out)
    cx.emit(op, [cx.to_channels_last(cx.tensor(x), 4), size], [y], opts)
    cx.from_channels_last(y, 4, out)


def _size_tensor(cx: Context, node: Node, plan: _Plan) -> Tensor:
    """The output height and width as an int32 vector (computed at run time where unknown)."""
    x = node.input(0)
    parts = []
    sizes = param(cx, node, 3) if node.op_type == "Resize" and node.opset >= 11 else None
    for a in (2, 3):
        if a not in plan.axes:
            parts.append(dims_at(cx, x, [a]))
            continue
        i = plan.axes.index(a)
        n_out, scale = plan.n_out[i], plan.scales[i]
        if n_out is not None:
            parts.append(const(cx, [n_out], DType.INT32))
        elif isinstance(sizes, Tensor):
            picked = emit_new(cx, "GATHER", [sizes, const(cx, [i], DType.INT32)], sizes.dtype, [1], GatherOptions())
            parts.append(as_tensor(cx, picked, DType.INT32))
        elif isinstance(scale, float) and scale.is_integer():
            parts.append(emit_new(cx, "MUL", [dims_at(cx, x, [a]), const(cx, [int(scale)], DType.INT32)], DType.INT32,
                                  [1]))
        else:
            raise Unsupported(f"scale {scale} with an input size unknown at import")
    return emit_new(cx, "CONCATENATION", parts, DType.INT32, [2], ConcatenationOptions(axis=0))


def _emit_taps(cx: Context, node: Node, m: _Mode, taps: list[tuple[int, _Taps]]) -> Tensor:
    """Per dimension, the sum of the GATHERs of its taps times their weights, then the
    extrapolation value where it applies."""
    y = cx.tensor(node.input(0))
    rank = cx.need_rank(node, node.input(0))
    if m.mode != "nearest" and y.dtype not in (DType.FLOAT32, DType.FLOAT16):
        raise Unsupported(f"{m.mode} resizing of {y.dtype.name} tensors")
    for axis, t in taps:
        n_out = (tensor_shape(t.index[0]) or [None])[0]
        shape = tensor_shape(y)
        if shape is not None:
            shape[axis] = n_out
        total = None
        for j, index in enumerate(t.index):
            term = emit_new(cx, "GATHER", [y, index], y.dtype, shape, GatherOptions(axis))
            if t.weight is not None:
                term = emit_new(cx, "MUL", [term, _along(cx, t.weight[j], y.dtype, rank - axis)], y.dtype, shape)
            total = term if total is None else emit_new(cx, "ADD", [total, term], y.dtype, shape)
        assert total is not None
        if t.outside is not None:
            value = const(cx, float(node.attr("extrapolation_value", 0.0)), y.dtype)
            total = emit_new(cx, "SELECT_V2", [_along(cx, t.outside, DType.BOOL, rank - axis), value, total], y.dtype,
                             shape)
        y = total
    return y


def _along(cx: Context, v: Tensor, dtype: DType, trailing: int) -> Tensor:
    """A vector [n] as `dtype` shaped [n, 1, ...] to broadcast along the dimension `trailing`th from the end."""
    shape = [-1] + [1] * (trailing - 1)
    n = (tensor_shape(v) or [None])[0]
    return emit_new(cx, "RESHAPE", [cast(cx, v, dtype), const(cx, shape, DType.INT32)], dtype, [n] + shape[1:],
                    ReshapeOptions(new_shape=shape))
