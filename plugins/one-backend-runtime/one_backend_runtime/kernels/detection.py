"""NON_MAX_SUPPRESSION_V4 and V5 (soft NMS), as TFLite selects boxes.

Candidates above the score threshold are visited best score first; a candidate whose IoU with
an already selected box reaches the IoU threshold is dropped; with soft NMS (sigma > 0) the
overlaps decay its score instead and it is queued again. Arithmetic is float32, as in TFLite.
Equal scores are visited in index order (TFLite's heap leaves their order unspecified)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from .base import OpContext, kernel


def _iou(boxes: np.ndarray, areas: np.ndarray, i: int, j: int) -> np.float32:
    if areas[i] <= 0 or areas[j] <= 0:
        return np.float32(0)
    a, b = boxes[i], boxes[j]
    h = max(np.float32(0), min(a[2], b[2]) - max(a[0], b[0]))
    w = max(np.float32(0), min(a[3], b[3]) - max(a[1], b[1]))
    inter = np.float32(h * w)
    return np.float32(inter / np.float32(areas[i] + areas[j] - inter))


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, max_output: int, iou_threshold: np.float32,
    score_threshold: np.float32, sigma: np.float32,
) -> tuple[list[int], list[np.float32]]:
    """Selected box indices and their (possibly decayed) scores."""
    corners = np.concatenate(
        [np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1
    ).astype(np.float32)
    areas = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    queue = [(-np.float32(s), i, 0) for i, s in enumerate(scores) if np.float32(s) > score_threshold]
    heapq.heapify(queue)
    limit = min(len(queue), max_output)
    scale = np.float32(-0.5) / sigma if sigma > 0 else np.float32(0)
    selected: list[int] = []
    selected_scores: list[np.float32] = []
    while len(selected) < limit and queue:
        neg, index, begin = heapq.heappop(queue)
        original = score = np.float32(-neg)
        suppressed = False
        for j in range(len(selected) - 1, begin - 1, -1):
            iou = _iou(corners, areas, index, selected[j])
            if iou >= iou_threshold:
                suppressed = True
                break
            if sigma > 0:
                score = np.float32(score * np.exp(np.float32(scale * iou * iou)))
            if score <= score_threshold:
                break
        if suppressed:
            continue
        if score == original:
            selected.append(index)
            selected_scores.append(score)
        elif score > score_threshold:
            heapq.heappush(queue, (-score, index, len(selected)))
    return selected, selected_scores


@kernel("NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5")
def nms(ctx: OpContext):
    soft = ctx.op.name == "NON_MAX_SUPPRESSION_V5"

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        boxes, scores = np.asarray(inputs[0], np.float32), np.asarray(inputs[1], np.float32)
        max_output = int(np.asarray(inputs[2]).reshape(-1)[0])
        iou_threshold = np.float32(np.asarray(inputs[3]).reshape(-1)[0])
        score_threshold = np.float32(np.asarray(inputs[4]).reshape(-1)[0])
        sigma = np.float32(np.asarray(inputs[5]).reshape(-1)[0]) if soft else np.float32(0)
        chosen, chosen_scores = non_max_suppression(
            boxes, scores, max_output, iou_threshold, score_threshold, sigma
        )
        indices = np.zeros(max_output, np.int32)
        indices[: len(chosen)] = chosen
        count = np.array(len(chosen), np.int32)
        if not soft:
            return [indices, count]
        values = np.zeros(max_output, np.float32)
        values[: len(chosen)] = chosen_scores
        return [indices, values, count]

    return run
