"""Rewrites into forms some back ends prefer (none is in O1): a channel-wise MUL then ADD by
constants as one DEPTHWISE_CONV_2D, and FULLY_CONNECTED weights in circle's
SHUFFLED16x1FLOAT32 layout."""

from __future__ import annotations

import numpy as np

from one_core.ir import Operator, Subgraph
from one_core.ir.options import DepthwiseConv2DOptions, Padding
from one_core.ir.options import FullyConnectedOptionsWeightsFormat as WeightsFormat
from one_core.passes import OperatorPass
from one_core.passes.rewrite import add_constant, constant, is_float, replace_operator

from .common import NONE, activation, channelwise_affine, plain_weights, with_options


class ReplaceCwMulAddWithDepthwiseConvPass(OperatorPass):
    """ADD(MUL(x, gamma), beta) of a float32 NHWC tensor x, gamma and beta constant per
    channel (a scalar, [C] or [1, 1, 1, C]), becomes DEPTHWISE_CONV_2D(x) with a 1x1 filter
    gamma and bias beta (SAME, stride 1, multiplier 1), taking the ADD's activation. The MUL's
    result must be read by the ADD alone and have no activation; the result is exact."""

    name = "replace_cw_mul_add_with_depthwise_conv"
    description = "replace a channel-wise MUL then ADD by constants with a 1x1 DEPTHWISE_CONV_2D"
    levels = frozenset()
    operators = frozenset({"ADD"})

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        out = add.outputs[0]
        found = channelwise_affine(sg, add) if len(out.shape) == 4 else None
        if found is None:
            return False
        mul, x, gamma, beta, channels = found.mul, found.x, found.gamma, found.beta, out.shape[-1]
        weights = add_constant(sg, f"{out.name}/dw_weights", gamma.reshape(1, 1, 1, channels))
        bias = add_constant(sg, f"{out.name}/dw_bias", beta)
        options = DepthwiseConv2DOptions(padding=Padding.SAME, stride_w=1, stride_h=1, depth_multiplier=1,
                                         fused_activation_function=activation(add) or NONE)
        sg.remove_operator(mul)
        replace_operator(sg, add, Operator("DEPTHWISE_CONV_2D", [x, weights, bias], [out], options))
        return True


#: Rows per block of the SHUFFLED16x1FLOAT32 layout.
BLOCK = 16


def shuffled_16x1(w: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED weights [rows, cols] (rows a multiple of 16) in ONE's
    SHUFFLED16x1FLOAT32 order, same shape: blocks of 16 rows, column by column, the 16 values of
    a column together; flat element (r * cols + c) * 16 + i holds w[16 * r + i, c]."""
    rows, cols = w.shape
    return np.ascontiguousarray(w.reshape(rows // BLOCK, BLOCK, cols).transpose(0, 2, 1).reshape(rows, cols))


def _shufflable(fc: Operator) -> bool:
    """ONE's preconditions: default weights format, float32, constant dense 2-D weights whose
    rows are a multiple of 16."""
    w = fc.input(1)
    value = constant(w)
    return (fc.options is not None and plain_weights(fc)
            and is_float(fc.outputs[0]) and is_float(w) and value is not None and value.ndim == 2
            and value.shape[0] % BLOCK == 0)


class ShuffleWeightTo16x1Float32Pass(OperatorPass):
    """FULLY_CONNECTED with float32 constant weights [rows, cols], rows a multiple of 16, gets
    the weights in SHUFFLED16x1FLOAT32 order (`shuffled_16x1`) and that weights_format, as ONE
    writes them for an NPU; every FULLY_CONNECTED reading the same weights does too. A circle
    extension: LiteRT cannot run the result (the runtime here can)."""

    name = "shuffle_weight_to_16x1float32"
    description = "store FULLY_CONNECTED float32 weights in circle's SHUFFLED16x1FLOAT32 layout"
    levels = frozenset()
    operators = frozenset({"FULLY_CONNECTED"})

    def rewrite(self, sg: Subgraph, fc: Operator) -> bool:
        if not _shufflable(fc):
            return False
        w = fc.input(1)
        shuffled = add_constant(sg, f"{w.name}/shuffle_weight", shuffled_16x1(constant(w)))
        for reader in list(w.consumers):
            if reader.name == "FULLY_CONNECTED" and reader.input(1) is w and _shufflable(reader):
                reader.set_input(1, shuffled)
                with_options(reader, weights_format=WeightsFormat.SHUFFLED16x1FLOAT32)
        return True


def replace_passes() -> list[OperatorPass]:
    return [ReplaceCwMulAddWithDepthwiseConvPass(), ShuffleWeightTo16x1Float32Pass()]
