"""NonMaxSuppression as circle's NON_MAX_SUPPRESSION_V4, one per batch entry and class.

Each V4 selects the indices of one box set for one score vector; their valid prefixes, tagged
with their batch and class, are concatenated into ONNX's [selected, 3] rows. Two semantic gaps
are closed at import: ONNX suppresses a box whose IoU exceeds the threshold, TFLite one whose IoU
reaches it, so the threshold becomes the next float32 above it; center-point boxes become
corners (y1, x1, y2, x2) with a FULLY_CONNECTED, whose products by 0, 1 and 0.5 are exact.
"""

from __future__ import annotations

import numpy as np

from one_core.ir import DType, Tensor
from one_core.ir.options import (
    ConcatenationOptions,
    FullyConnectedOptions,
    NonMaxSuppressionV4Options,
    SliceOptions,
    UnpackOptions,
)

from ..context import Context, Node, Unsupported
from . import converts
from .common import Emitter, Value, reshape

F32 = DType.FLOAT32
# (x_center, y_center, width, height) -> (y1, x1, y2, x2)
CENTER_TO_CORNERS = np.array([[0, 1, 0, -0.5], [1, 0, -0.5, 0], [0, 1, 0, 0.5], [1, 0, 0.5, 0]], np.float32)


@converts("NonMaxSuppression")
def non_max_suppression(cx: Context, node: Node) -> None:
    boxes_name, scores_name = node.input(0), node.input(1)
    b_shape, s_shape = cx.static_shape(boxes_name), cx.static_shape(scores_name)
    if b_shape is None or s_shape is None or len(b_shape) != 3 or len(s_shape) != 3:
        raise Unsupported("the shapes of boxes and scores must be known at import")
    if cx.dtype(boxes_name) != F32 or cx.dtype(scores_name) != F32:
        raise Unsupported("boxes and scores must be float32")
    batches, count, _ = b_shape
    classes = s_shape[1]
    e = Emitter(cx, node.outputs[0] + "_nms")
    boxes = cx.tensor(boxes_name)
    if node.attr("center_point_box", 0):
        boxes = e.op("FULLY_CONNECTED", [boxes, CENTER_TO_CORNERS, None], F32, list(b_shape),
                     FullyConnectedOptions(keep_num_dims=True))
    box_sets = _unpack(cx, boxes, batches, [count, 4])
    score_rows = _unpack(cx, reshape(cx, cx.tensor(scores_name), [batches * classes, count]), batches * classes,
                         [count])
    limit = _limit(e, node.input(2), count)
    iou = _above(e, _threshold(e, node.input(3), 0.0))
    floor = _threshold(e, node.input(4), -np.inf)
    scalars = [e.tensor(v.reshape(()) if isinstance(v, np.ndarray) else reshape(cx, v, [])) for v in (iou, floor)]
    rows = []
    for b in range(batches):
        for c in range(classes):
            indices = cx.temp(f"{e.hint}_indices", DType.INT32, [None])
            valid = cx.temp(f"{e.hint}_valid", DType.INT32, [])
            cx.emit("NON_MAX_SUPPRESSION_V4", [box_sets[b], score_rows[b * classes + c], limit, *scalars],
                    [indices, valid], NonMaxSuppressionV4Options())
            kept = e.op("SLICE", [indices, np.zeros(1, np.int32), reshape(cx, valid, [1])], DType.INT32, [None],
                        SliceOptions())
            column = reshape(cx, kept, [-1, 1])
            rows.append(e.add(e.mul(column, np.array([0, 0, 1], np.int32)), np.array([b, c, 0], np.int32)))
    selected = rows[0] if len(rows) == 1 else e.op("CONCATENATION", rows, DType.INT32, [None, 3],
                                                   ConcatenationOptions(axis=0))
    cx.emit("CAST", [selected], [cx.output(node.outputs[0], DType.INT64, [None, 3])])


def _unpack(cx: Context, x: Tensor, count: int, shape: list[int]) -> list[Tensor]:
    """x cut along its first axis."""
    outs = [cx.temp(f"{x.name}_{i}", x.dtype, shape) for i in range(count)]
    cx.emit("UNPACK", [x], outs, UnpackOptions(num=count, axis=0))
    return outs


def _limit(e: Emitter, name: str, count: int) -> Tensor:
    """max_output_boxes_per_class as an int32 scalar in [0, boxes]."""
    value = e.cx.const(name) if name else np.zeros(1, np.int64)
    if value is not None:
        return e.tensor(np.array(np.clip(int(np.asarray(value).reshape(-1)[0]), 0, count), np.int32))
    clamped = e.clamp(reshape(e.cx, e.cx.tensor(name), [1]), 0, count)
    return reshape(e.cx, e.cast(e.tensor(clamped), DType.INT32), [])


def _threshold(e: Emitter, name: str, default: float) -> Value:
    """A float32 threshold input as a 1-element value (its default when omitted)."""
    if not name:
        return np.full(1, default, np.float32)
    value = e.cx.const(name)
    if value is not None:
        return np.asarray(value, np.float32).reshape(1)
    return reshape(e.cx, e.cx.tensor(name), [1])


def _above(e: Emitter, t: Value) -> Value:
    """The next float32 above t (for t >= 0; t itself when negative, where every IoU exceeds it).
    At run time: t + t * 2**-24 rounds to it, except for a power of two, which stays put; then
    t + t * 2**-23 is it. 0 becomes the smallest float32."""
    if isinstance(t, np.ndarray):
        return np.where(t >= 0, np.nextafter(t, np.float32(np.inf)), t).astype(np.float32)
    near = e.add(t, e.mul(t, 2.0 ** -24))
    after = e.select(e.binary("GREATER", near, t), near, e.add(t, e.mul(t, 2.0 ** -23)))
    return e.select(e.binary("EQUAL", after, 0.0), np.float32(np.nextafter(0, 1, dtype=np.float32)), after)
