"""Sampling and scattering over the spatial axes: GridSample, AffineGrid, DeformConv, Col2Im and
MaxUnpool, composed of circle builtins.

Sampling (GridSample, DeformConv) reads pixels by one GATHER from a table of rows, one row per
pixel (channels-last) plus a row of zeros for taps outside the image: every sample point has taps
along each spatial axis (1 nearest, 2 linear, 4 cubic) placed on trailing axes, their flat row
numbers and weights broadcast over the tap combinations, and a SUM over the tap axes blends them.
Scattering (Col2Im, MaxUnpool) computes each element's flat destination and uses SCATTER_ND (which
adds duplicates) or UNSORTED_SEGMENT_MAX (the last write of duplicates, as ONNX's loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir import options as circle_options

from ..context import Context, Node, Unsupported
from . import converts
from .common import Value, value_shape
from .misc import Calc, bind, float_input, static_dim

CUBIC_A = -0.75  # the cubic convolution's coefficient (Keys), as PyTorch and ONNX


@dataclass
class Tap:
    """One pixel read along one axis: its position (integral, float) and weight (None: 1)."""

    position: Value
    weight: Value | None = None


@dataclass
class Pixel:
    """A tap resolved against the image: its index (int32) and whether it lies inside (None: always)."""

    index: Value
    inside: Value | None


def _linear_taps(c: Calc, x: Value) -> list[Tap]:
    x0 = c.apply("FLOOR", x)
    t = c.sub(x, x0)
    return [Tap(x0, c.sub(1.0, t)), Tap(c.add(x0, 1.0), t)]


def _cubic_near(c: Calc, s: Value) -> Value:
    """The cubic kernel for distances in [0, 1]: ((A + 2) s - (A + 3)) s s + 1."""
    return c.add(c.mul(c.mul(c.sub(c.mul(s, CUBIC_A + 2), CUBIC_A + 3), s), s), 1.0)


def _cubic_far(c: Calc, s: Value) -> Value:
    """The cubic kernel for distances in [1, 2]: ((A s - 5 A) s + 8 A) s - 4 A."""
    return c.sub(c.mul(c.add(c.mul(c.sub(c.mul(s, CUBIC_A), 5 * CUBIC_A), s), 8 * CUBIC_A), s), 4 * CUBIC_A)


def _cubic_taps(c: Calc, x: Value) -> list[Tap]:
    x0 = c.apply("FLOOR", x)
    t = c.sub(x, x0)
    weights = [_cubic_far(c, c.add(t, 1.0)), _cubic_near(c, t), _cubic_near(c, c.sub(1.0, t)),
               _cubic_far(c, c.sub(2.0, t))]
    return [Tap(c.add(x0, float(k)), w) for k, w in zip(range(-1, 3), weights)]


def _reflect(c: Calc, x: Value, low: float, high: float) -> Value:
    """x reflected at the borders [low, high] (repeatedly) until inside, as ONNX's GridSample."""
    if high <= low:
        return c.select(c.binary("EQUAL", x, x), low, x)
    below, above = c.binary("LESS", x, low), c.binary("GREATER", x, high)
    distance = c.select(below, c.sub(low, x), c.sub(x, high))
    turns = c.apply("FLOOR", c.div(distance, high - low))
    rest = c.sub(distance, c.mul(turns, high - low))
    odd = c.binary("NOT_EQUAL", c.binary("FLOOR_MOD", turns, 2.0), 0.0)
    reflected = c.select(c.binary("NOT_EQUAL", below, odd), c.add(low, rest), c.sub(high, rest))
    return c.select(c.binary("LOGICAL_OR", below, above), reflected, x)


def _pixel(c: Calc, position: Value, size: int, padding: str, borders: tuple[float, float]) -> Pixel:
    """The pixel a tap reads: zeros outside the image, the nearest border pixel, or the reflection."""
    inside = None
    if padding == "zeros":
        inside = c.logical_and(c.binary("GREATER_EQUAL", position, 0.0), c.binary("LESS_EQUAL", position, size - 1.0))
        position = c.clamp(position, 0.0, size - 1.0)
    elif padding == "border":
        position = c.clamp(position, 0.0, size - 1.0)
    else:
        position = c.clamp(_reflect(c, position, *borders), 0.0, size - 1.0)
    return Pixel(c.cast(position, DType.INT32), inside)


def _sample(c: Calc, rows: Value, base: Value, taps: list[list[tuple[Pixel, Value | None]]], strides: list[int],
            lead: int, zero_row: Value) -> Value:
    """Σ over tap combinations of weight × rows[base + Σ_d index_d × stride_d]. The taps of axis d are
    shaped like the sample points plus len(taps) trailing unit axes; they are stacked on trailing
    axis `lead + d`. Taps outside the image read row `zero_row` (zeros)."""
    flat: Value = base
    weight: Value | None = None
    inside: Value | None = None
    for d, (axis_taps, stride) in enumerate(zip(taps, strides)):
        index = c.concat([p.index for p, _ in axis_taps], lead + d)
        flat = c.add(flat, c.mul(index, stride))
        if axis_taps[0][1] is not None:
            w = c.concat([w for _, w in axis_taps], lead + d)
            weight = w if weight is None else c.mul(weight, w)
        if axis_taps[0][0].inside is not None:
            ok = c.concat([p.inside for p, _ in axis_taps], lead + d)
            inside = ok if inside is None else c.logical_and(inside, ok)
    if inside is not None:
        flat = c.select(inside, flat, c.cast(zero_row, DType.INT32))
    picked = c.gather(rows, flat, axis=0)
    if weight is not None:
        picked = c.mul(picked, c.expand_dims(weight, -1))
    return c.reduce("SUM", picked, list(range(lead, lead + len(taps))))


def _unit_axes(c: Calc, x: Tensor, at: int, count: int) -> Value:
    """x with `count` axes of size 1 inserted at `at` (negative: from the end)."""
    shape = value_shape(x)
    at = at if at >= 0 else len(shape) + 1 + at
    target = [*shape[:at], *[1] * count, *shape[at:]]
    if sum(d is None for d in target) <= 1:
        return c.reshape(x, [-1 if d is None else d for d in target])
    for _ in range(count):
        x = c.expand_dims(x, at)
    return x


def _pixel_rows(c: Calc, x: Tensor, rank: int, groups: int, zeros: bool) -> tuple[Value, Value]:
    """The table of rows of an NC... input: one row per pixel (and channel group) in channels-last
    order, then (`zeros`) a row of zeros; and the number of that zero row."""
    channels = value_shape(x)[1]
    if channels is None:
        raise Unsupported("the number of channels must be known at import")
    rows = c.reshape(c.cx.to_channels_last(x, rank), [-1, channels // groups])
    count = value_shape(rows)[0]
    if count is None:
        shape = c.op("SHAPE", [rows], DType.INT32, [2], circle_options.ShapeOptions(out_type=DType.INT32))
        count = c.gather(shape, 0)
    else:
        count = c.const(count, DType.INT32)
    if not zeros:
        return rows, count
    padded = c.op("PAD", [rows, np.array([[0, 1], [0, 0]], np.int32)], rows.dtype, [None, channels // groups],
                  circle_options.PadOptions())
    return padded, count


# --- GridSample ------------------------------------------------------------------------------------

MODES = {"bilinear": "linear", "bicubic": "cubic"}  # opset 16 names


@converts("GridSample")
def grid_sample(cx: Context, node: Node) -> None:
    """Each point's grid coordinates become pixel positions (kept inside per the padding mode), read
    by 1, 2 or 4 taps per axis; the input's spatial dimensions must be known at import."""
    x, grid = node.input(0), node.input(1)
    rank = cx.need_rank(node, x)
    k = rank - 2
    mode = node.attr("mode", "linear" if node.opset >= 20 else "bilinear")
    mode = MODES.get(mode, mode)
    padding = node.attr("padding_mode", "zeros")
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise Unsupported(f"mode '{mode}' with padding '{padding}'")
    align = bool(node.attr("align_corners", 0))
    sizes = [static_dim(cx, x, 2 + d, "the spatial dimensions of the input") for d in range(k)]
    c = Calc(cx, node)
    xt, wide = float_input(c, cx.tensor(x))
    g, _ = float_input(c, cx.tensor(grid))
    lead = cx.need_rank(node, grid) - 1  # the sample points' rank: N, output positions
    g = _unit_axes(c, g, -2, k)
    taps: list[list[tuple[Pixel, Value | None]]] = []
    for d, size in enumerate(sizes):
        coordinate = c.gather(g, k - 1 - d, axis=-1)
        shifted = c.add(coordinate, 1.0)  # to the pixel position: [-1, 1] spans the centres or the edges
        position = c.mul(c.div(shifted, 2.0), size - 1.0) if align else c.div(c.sub(c.mul(shifted, size), 1.0), 2.0)
        borders = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        if mode == "nearest":
            position = c.apply("ROUND", position)
        if padding == "border":
            outside = c.binary("LOGICAL_OR", c.binary("LESS", position, borders[0]),
                               c.binary("GREATER", position, borders[1]))
            position = c.select(outside, c.clamp(position, 0.0, size - 1.0), position)
        elif padding == "reflection":
            position = _reflect(c, position, *borders)
        axis_taps = [Tap(position)] if mode == "nearest" else \
            _linear_taps(c, position) if mode == "linear" else _cubic_taps(c, position)
        taps.append([(_pixel(c, t.position, size, padding, borders), t.weight) for t in axis_taps])
    rows, zero_row = _pixel_rows(c, xt, rank, 1, padding == "zeros")
    pixels = math.prod(sizes)
    batch = c.mul(c.range(c.dim(x, 0)), pixels)
    base = c.reshape(batch, [-1, *[1] * (lead - 1 + k)])
    strides = [math.prod(sizes[d + 1:]) for d in range(k)]
    y = c.transpose(_sample(c, rows, base, taps, strides, lead, zero_row), [0, lead, *range(1, lead)])
    bind(cx, node.outputs[0], c.cast(y, DType.FLOAT16) if wide else y)


# --- AffineGrid -----------------------------------------------------------------------------------


@converts("AffineGrid")
def affine_grid(cx: Context, node: Node) -> None:
    """grid[n, ..., i] = Σ_j theta[n, i, j] × base_j + theta[n, i, k] where the base coordinates run
    over [-1, 1] along each axis (x first), built with RANGE from the size given at run time."""
    theta_name, size_name = node.input(0), node.input(1)
    k = static_dim(cx, theta_name, 1, "the number of spatial dimensions")
    align = bool(node.attr("align_corners", 0))
    c = Calc(cx, node)
    theta, wide = float_input(c, cx.tensor(theta_name))
    size_v = c.cast(c.value(size_name), DType.INT32)
    y: Value | None = None
    for j in range(k + 1):
        column = c.reshape(c.gather(theta, j, axis=2), [-1, *[1] * k, k])
        if j == k:
            y = c.add(y, column)
            continue
        d = k - 1 - j  # base coordinate j runs along spatial axis d (x: the last)
        length = c.cast(c.gather(size_v, 2 + d), DType.FLOAT32)
        step = c.div(2.0, c.sub(length, 1.0) if align else length)
        first = -1.0 if align else c.add(-1.0, c.div(step, 2.0))
        base = c.add(first, c.mul(c.cast(c.range(c.gather(size_v, 2 + d)), DType.FLOAT32), step))
        term = c.mul(c.reshape(base, [1, *[1] * d, -1, *[1] * (k - d)]), column)
        y = term if y is None else c.add(y, term)
    bind(cx, node.outputs[0], c.cast(y, DType.FLOAT16) if wide else y)


# --- DeformConv -----------------------------------------------------------------------------------


@converts("DeformConv")
def deform_conv(cx: Context, node: Node) -> None:
    """Bilinear samples of the input at each kernel tap's offset position (zeros outside), times
    the mask, then a BATCH_MATMUL with the weights per group."""
    x, w, offset = node.input(0), node.input(1), node.input(2)
    if cx.need_rank(node, x) != 4:
        raise Unsupported("only 2-d DeformConv")
    n, channels, height, width = (static_dim(cx, x, i, "the input's shape") for i in range(4))
    out_c, group_c, kh, kw = (static_dim(cx, w, i, "the weights' shape") for i in range(4))
    oh, ow = (static_dim(cx, offset, i, "the offsets' shape") for i in (2, 3))
    group, offset_group = int(node.attr("group", 1)), int(node.attr("offset_group", 1))
    sh, sw = (int(s) for s in node.attr("strides", [1, 1]))
    dh, dw = (int(d) for d in node.attr("dilations", [1, 1]))
    ph, pw = (int(p) for p in node.attr("pads", [0, 0, 0, 0])[:2])
    taps, groups = kh * kw, offset_group
    if channels % groups or channels != group * group_c or out_c % group:
        raise Unsupported(f"{channels} channels do not fit group {group} and offset_group {groups}")
    c = Calc(cx, node)
    xt, wide = float_input(c, cx.tensor(x))
    # offsets (N, G*K*2, oH, oW) -> (N, oH, oW, G, K, 1, 1, 2): dy, dx per sample point
    shifts = c.transpose(c.reshape(float_input(c, cx.tensor(offset))[0], [n, groups * taps, 2, oh, ow]),
                         [0, 3, 4, 1, 2])
    shifts = c.reshape(shifts, [n, oh, ow, groups, taps, 1, 1, 2])
    grid_h = (np.arange(oh) * sh - ph)[:, None] + (np.arange(kh) * dh).repeat(kw)[None, :]
    grid_w = (np.arange(ow) * sw - pw)[:, None] + np.tile(np.arange(kw) * dw, kh)[None, :]
    points = [grid_h.reshape(1, oh, 1, 1, taps, 1, 1), grid_w.reshape(1, 1, ow, 1, taps, 1, 1)]
    pixel_taps = []
    for axis, (size, grid) in enumerate(zip((height, width), points)):
        position = c.add(c.gather(shifts, axis, axis=-1), grid.astype(np.float32))
        pixel_taps.append([(_pixel(c, t.position, size, "zeros", (0.0, size - 1.0)), t.weight)
                           for t in _linear_taps(c, position)])
    mask_name = node.input(4)
    if mask_name:
        mask = c.transpose(c.reshape(float_input(c, cx.tensor(mask_name))[0], [n, groups, taps, oh, ow]),
                           [0, 3, 4, 1, 2])
        first = pixel_taps[0]
        pixel_taps[0] = [(p, c.mul(wt, c.reshape(mask, [n, oh, ow, groups, taps, 1, 1]))) for p, wt in first]
    rows, zero_row = _pixel_rows(c, xt, 4, groups, True)
    base = (np.arange(n) * height * width * groups).reshape(n, 1, 1, 1, 1, 1, 1) + \
        np.arange(groups).reshape(1, 1, 1, groups, 1, 1, 1)
    sampled = _sample(c, rows, base.astype(np.int32), pixel_taps, [width * groups, groups], 5, zero_row)
    # (N, oH, oW, G, K, C/G) -> (group, N*oH*oW, C/group*K), channel-major as the weights
    columns = c.reshape(c.transpose(sampled, [0, 1, 2, 3, 5, 4]), [n * oh * ow, group, group_c * taps])
    weights, _ = float_input(c, cx.tensor(w))
    weights = c.reshape(weights, [group, out_c // group, group_c * taps])
    product = c.op("BATCH_MATMUL", [c.transpose(columns, [1, 0, 2]), weights], DType.FLOAT32,
                   [group, n * oh * ow, out_c // group], circle_options.BatchMatMulOptions(adjoint_rhs=True))
    y = c.reshape(c.transpose(product, [1, 0, 2]), [n, oh, ow, out_c])
    if node.input(3):
        y = c.add(y, float_input(c, cx.tensor(node.input(3)))[0])
    y = c.transpose(y, [0, 3, 1, 2])
    bind(cx, node.outputs[0], c.cast(y, DType.FLOAT16) if wide else y)


# --- Col2Im, MaxUnpool -----------------------------------------------------------------------------


@converts("Col2Im")
def col2im(cx: Context, node: Node) -> None:
    """SCATTER_ND of every column element to its image position (positions in the padding go to a
    row past the image, sliced off); the image and block shapes may be computed at run time."""
    x, image, block = node.input(0), node.input(1), node.input(2)
    k = static_dim(cx, image, 0, "the number of image dimensions")
    strides = [int(s) for s in node.attr("strides", [1] * k)]
    dilations = [int(d) for d in node.attr("dilations", [1] * k)]
    pads = [int(p) for p in node.attr("pads", [0] * 2 * k)]
    c = Calc(cx, node)
    xt = cx.tensor(x)
    image_v, block_v = (c.cast(c.value(name), DType.INT32) for name in (image, block))
    dims = [c.gather(image_v, d) for d in range(k)]
    kernel = [c.gather(block_v, d) for d in range(k)]
    blocks = [c.add(c.binary("FLOOR_DIV", c.sub(c.sub(c.add(dims[d], pads[d] + pads[k + d]),
                                                      c.mul(c.sub(kernel[d], 1), dilations[d])), 1), strides[d]), 1)
              for d in range(k)]
    kernel_size, block_count, pixels = (_product(c, v) for v in (kernel, blocks, dims))
    tap = c.reshape(c.range(kernel_size), [-1, 1])
    place = c.reshape(c.range(block_count), [1, -1])
    flat: Value = c.const(0, DType.INT32)
    inside: Value = c.const(True, DType.BOOL)
    for d in range(k):
        offset = c.binary("FLOOR_MOD", c.binary("FLOOR_DIV", tap, _product(c, kernel[d + 1:])), kernel[d])
        at = c.binary("FLOOR_MOD", c.binary("FLOOR_DIV", place, _product(c, blocks[d + 1:])), blocks[d])
        position = c.add(c.sub(c.mul(at, strides[d]), pads[d]), c.mul(offset, dilations[d]))
        inside = c.logical_and(inside, c.binary("GREATER_EQUAL", position, 0), c.binary("LESS", position, dims[d]))
        flat = c.add(flat, c.mul(position, _product(c, dims[d + 1:])))
    flat = c.reshape(c.select(inside, flat, pixels), [-1, 1])
    batch, stacked = c.dim(x, 0), c.dim(x, 1)
    channels = c.binary("FLOOR_DIV", stacked, kernel_size)
    columns = c.reshape(xt, c.vector([batch, channels, c.mul(kernel_size, block_count)]))
    updates = c.transpose(columns, [2, 0, 1])
    image_rows = c.op("SCATTER_ND", [flat, updates, c.vector([c.add(pixels, 1), batch, channels])], xt.dtype,
                      [None, *value_shape(updates)[1:]], circle_options.ScatterNdOptions())
    picture = c.transpose(c.slice(image_rows, [0, 0, 0], [pixels, -1, -1]), [1, 2, 0])
    bind(cx, node.outputs[0], c.reshape(picture, c.concat([c.vector([batch, channels]), image_v], 0)))


def _product(c: Calc, values: list[Value]) -> Value:
    out: Value = c.const(1, DType.INT32)
    for v in values:
        out = c.mul(out, v)
    return out


@converts("MaxUnpool")
def max_unpool(cx: Context, node: Node) -> None:
    """Each output element takes the input element whose index names it last (the largest input
    position per destination, an UNSORTED_SEGMENT_MAX), or zero; the result is padded at the end to
    `output_shape` when given."""
    x, indices = node.input(0), node.input(1)
    rank = cx.need_rank(node, x)
    kernel = [int(v) for v in node.attr("kernel_shape")]
    k = len(kernel)
    strides = [int(s) for s in node.attr("strides", [1] * k)]
    pads = [int(p) for p in node.attr("pads", [0] * 2 * k)]
    c = Calc(cx, node)
    xt = cx.tensor(x)
    spatial = [static_dim(cx, x, 2 + d, "the input's spatial dimensions") for d in range(k)]
    full = [(s - 1) * st - pads[d] - pads[k + d] + kw for d, (s, st, kw) in enumerate(zip(spatial, strides, kernel))]
    lead = [c.dim(x, 0), c.dim(x, 1)]
    total = c.mul(c.mul(lead[0], lead[1]), math.prod(full))
    values = c.reshape(xt, [-1])
    destination = c.cast(c.reshape(cx.tensor(indices), [-1]), DType.INT32)
    source = c.op("UNSORTED_SEGMENT_MAX", [c.range(c.size(values)), destination, total], DType.INT32, [None],
                  circle_options.UnsortedSegmentMaxOptions())
    written = c.binary("GREATER_EQUAL", source, 0)
    flat = c.select(written, c.gather(values, c.binary("MAXIMUM", source, 0)), c.const(0, xt.dtype))
    y = c.reshape(flat, c.vector([*lead, *full]))
    if node.input(2):
        grow = c.sub(c.cast(c.value(node.input(2)), DType.INT32), c.vector([*lead, *full]))
        paddings = c.concat([np.zeros((rank, 1), np.int32), c.reshape(grow, [rank, 1])], 1)
        y = c.op("PAD", [y, paddings], xt.dtype, [None] * rank, circle_options.PadOptions())
    bind(cx, node.outputs[0], y)
