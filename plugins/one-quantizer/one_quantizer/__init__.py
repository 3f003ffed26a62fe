"""Calibration (ONE's record-minmax) and post-training full-integer quantization
(ONE's circle-quantizer) of circle models.

    model = one_core.load("model.tflite")
    q = one_quantizer.quantize(model, "calib.npz", dtype="int8", granularity="channel")
    print(one_quantizer.evaluate(one_core.load("model.tflite"), q, "test.npz").format())
"""

from .calibration import calibrate, percentile, moving_average
from .data import random_records
from .evaluate import Evaluation, evaluate
from .quantize import SUPPORTED_OPERATORS, quantize, quantize_with_minmax
from .quantparams import copy_quantparam, force_quantparam
from .requantize import requantize
from .weights import quantize_weights

__all__ = ["SUPPORTED_OPERATORS", "Evaluation", "calibrate", "copy_quantparam", "evaluate", "force_quantparam",
           "moving_average", "percentile", "quantize", "quantize_weights", "quantize_with_minmax", "random_records",
           "requantize"]
