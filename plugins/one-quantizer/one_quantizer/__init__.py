"""Calibration (ONE's record-minmax) and post-training full-integer quantization
(ONE's circle-quantizer) of circle models.

    model = one_core.load("model.tflite")
    q = one_quantizer.quantize(model, "calib.npz", dtype="int8", granularity="channel")
    print(one_quantizer.evaluate(one_core.load("model.tflite"), q, "test.npz").format())
"""

from .calibration import calibrate, percentile, moving_average
from .data import random_records
from .evaluate import Evaluation, evaluate
from .config import LayerParams, LayerRule, QuantConfig, read_config
from .quantize import INT16_OPERATORS, SUPPORTED_OPERATORS, quantize, quantize_with_minmax
from .quantparams import copy_quantparam, force_quantparam
from .requantize import requantize
from .fake import fake_quantize
from .weights import quantize_weights

__all__ = ["INT16_OPERATORS", "SUPPORTED_OPERATORS", "Evaluation", "LayerParams", "LayerRule", "QuantConfig",
           "calibrate", "copy_quantparam", "evaluate", "fake_quantize", "force_quantparam", "moving_average", "percentile", "quantize",
           "quantize_weights", "quantize_with_minmax", "random_records", "read_config", "requantize"]
