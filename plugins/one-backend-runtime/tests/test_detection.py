"""NON_MAX_SUPPRESSION_V4/V5 against LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
from opharness import check, tflite_model

N = 40


def _boxes_scores(rng: np.random.Generator) -> list[np.ndarray]:
    corners = rng.uniform(0, 1, size=(N, 2)).astype(np.float32)
    sizes = rng.uniform(0.05, 0.4, size=(N, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + sizes], axis=1)
    return [boxes, rng.uniform(0, 1, size=(N,)).astype(np.float32)]


def nms_v4(boxes, scores):
    import tensorflow as tf

    return tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=10, iou_threshold=0.4, score_threshold=0.2,
        pad_to_max_output_size=True,
    )


def nms_v5(boxes, scores):
    import tensorflow as tf

    return tf.image.non_max_suppression_with_scores(
        boxes, scores, max_output_size=12, iou_threshold=0.5, score_threshold=0.1, soft_nms_sigma=0.3
    )


@pytest.mark.parametrize("fn", [nms_v4, nms_v5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_litert(fn, seed) -> None:
    path = tflite_model(fn, [((N, 4), np.float32), ((N,), np.float32)])
    check(path, inputs=_boxes_scores(np.random.default_rng(seed)))


def test_soft_nms_really_decays_scores() -> None:
    """The V5 case above exercises soft suppression: some selected scores are decayed."""
    from opharness import run_ours

    boxes, scores = _boxes_scores(np.random.default_rng(0))
    path = tflite_model(nms_v5, [((N, 4), np.float32), ((N,), np.float32)])
    indices, selected_scores = run_ours(path, [boxes, scores])  # padded with zeros
    n = int(np.count_nonzero(selected_scores))
    assert n > 3
    assert np.any(selected_scores[:n] < scores[indices[:n]])
