"""float32 AVERAGE_POOL_2D, MAX_POOL_2D and RESIZE_BILINEAR on NHWC tensors (pool_f32.c)."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator
from one_backend_runtime.kernels.resize import _float_axis

from ..emit import Known, OpEmit, register
from .common import all_float, clampable, float_clamp, window
from .layout import float_io, known_inputs


def check_pool_float(op: Operator, known: Known) -> bool:
    return all_float(op) and clampable(op) and len(op.inputs[0].shape) == 4


def emit_pool_float(e: OpEmit) -> None:
    o = e.options
    n, h, w, c = e.shape(e.input(0))
    sh, sw = int(o.stride_h or 1), int(o.stride_w or 1)
    oh, pt = window(h, o.filter_height, sh, 1, o.padding)
    ow, pl = window(w, o.filter_width, sw, 1, o.padding)
    assert e.shape(e.output()) == (n, oh, ow, c), (e.shape(e.output()), (n, oh, ow, c))
    lo, hi = float_clamp(e.op)
    p = e.params("one_pool_f32_params", [n, h, w, c, oh, ow, o.filter_height, o.filter_width, sh, sw, pt, pl,
                                         float(lo), float(hi)])
    kind = "max" if e.op.name == "MAX_POOL_2D" else "average"
    e.use("pool_f32")
    e.call(f"one_{kind}_pool_f32({p}, {e.ptr(e.input(0))}, {e.ptr(e.output())});")


def check_resize_float(op: Operator, known: Known) -> bool:
    return float_io(op) and known_inputs(op, known, 1) and len(op.inputs[0].shape) == 4


def emit_resize_bilinear_float(e: OpEmit) -> None:
    """Bilinear resizing as LiteRT's float kernel: along the width, then along the height."""
    align, half = bool(e.options.align_corners), bool(e.options.half_pixel_centers)
    n, h, w, c = e.shape(e.input(0))
    _, oh, ow, _ = e.shape(e.output())

    def axis(size: int, out: int) -> tuple[str, str]:
        lo, hi, w_lo, w_hi = _float_axis(size, out, align, half)
        return e.array("int", np.stack([lo, hi], 1).ravel().tolist()), e.weights(np.stack([w_lo, w_hi], 1).ravel())

    (iy, wy), (ix, wx) = axis(h, oh), axis(w, ow)
    e.use("pool_f32")
    e.call(f"one_resize_bilinear_f32({n}, {h}, {w}, {c}, {oh}, {ow}, {iy}, {wy}, {ix}, {wx}, "
           f"{e.ptr(e.input(0))}, {e.ptr(e.output())});")


for _name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
    register(_name, check_pool_float, emit_pool_float)
register("RESIZE_BILINEAR", check_resize_float, emit_resize_bilinear_float)
