"""Fusions into convolutions and dense layers: batch norm (MUL then ADD by per-channel
constants), a lone ADD or MUL by constants, and activation operators.

All of them work on float32 tensors without quantization parameters, need the intermediate
results to have no other reader (so no work is duplicated and nothing else sees a changed
value) and write new constants rather than changing shared ones. The fused operator takes over
the last output tensor of the pattern, so tensor names seen by users do not change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.passes import OperatorPass
from one_core.passes.rewrite import (
    add_constant,
    constant,
    is_float,
    single_reader,
    take_over_output,
)

from .common import (
    NONE,
    activation,
    channel_vector,
    other_operand,
    plain_weights,
    producer_in,
    with_options,
)


@dataclass(frozen=True)
class Layout:
    """Where a convolution-like operator keeps its weights and bias and which weight axis
    holds the output channels."""

    weights: int
    bias: int
    channel_axis: int


LAYOUTS = {
    "CONV_2D": Layout(1, 2, 0),            # weights [O, H, W, I]
    "DEPTHWISE_CONV_2D": Layout(1, 2, 3),  # weights [1, H, W, I * M]
    "TRANSPOSE_CONV": Layout(1, 3, 0),     # (output_shape, weights [O, H, W, I], input, bias)
    "FULLY_CONNECTED": Layout(1, 2, 0),    # weights [O, I]
}


def _scaled_weights(op: Operator, scale: np.ndarray) -> np.ndarray | None:
    lay = LAYOUTS[op.type]
    w = constant(op.input(lay.weights))
    if w is None or not plain_weights(op) or not is_float(op.input(lay.weights)) \
            or w.shape[lay.channel_axis] != scale.size:
        return None
    shape = [1] * w.ndim
    shape[lay.channel_axis] = scale.size
    return (w * scale.reshape(shape)).astype(np.float32)


def bias_vector(op: Operator, channels: int) -> np.ndarray | None:
    """The operator's bias as a float32 vector (zeros when it has none); None when the bias
    is not a float constant of `channels` values."""
    b = op.input(LAYOUTS[op.type].bias)
    if b is None:
        return np.zeros(channels, np.float32)
    value = constant(b)
    if value is None or not is_float(b) or value.size != channels:
        return None
    return value.reshape(channels).astype(np.float32)


def _channels(op: Operator) -> int | None:
    lay = LAYOUTS[op.type]
    w = op.input(lay.weights)
    if w is None or len(w.shape) <= lay.channel_axis:
        return None
    return int(w.shape[lay.channel_axis])


def set_bias(sg: Subgraph, op: Operator, value: np.ndarray, name: str) -> None:
    index = LAYOUTS[op.type].bias
    tensor = add_constant(sg, name, value.astype(np.float32))
    if index < len(op.inputs):
        op.set_input(index, tensor)
    else:  # an omitted trailing bias (TRANSPOSE_CONV without its fourth input)
        op.set_inputs([*op.inputs, *([None] * (index - len(op.inputs))), tensor])


def _set_weights(sg: Subgraph, op: Operator, value: np.ndarray) -> None:
    index = LAYOUTS[op.type].weights
    old = op.input(index)
    op.set_input(index, add_constant(sg, f"{old.name}/fused", value))


def _conv_then(sg: Subgraph, op: Operator, kinds: frozenset[str], reader: str) -> tuple[Operator, Tensor] | None:
    """`op` (type `reader`, a binary operator) reads a float result of a convolution-like
    operator of `kinds` with no fused activation and no other reader: (that operator, the
    other operand of `op`)."""
    for t in op.inputs[:2]:
        conv = producer_in(sg, t, *kinds)
        if conv is None or len(conv.outputs) != 1 or single_reader(sg, t) is not op:
            continue
        if activation(conv) != NONE or not is_float(t):
            continue
        other = other_operand(op, t)
        if other is None:
            continue
        return conv, other
    return None


class FuseBatchNormPass(OperatorPass):
    """CONV -> MUL(per-channel scale) -> ADD(per-channel shift), as TensorFlow's batch norm
    arrives after conversion, becomes one CONV with weights * scale and
    bias * scale + shift, taking the ADD's activation."""

    operators = frozenset({"ADD"})

    def __init__(self, name: str, conv: str, description: str) -> None:
        self.name = name
        self.conv_kinds = frozenset({conv})
        self.description = description
        self.levels = frozenset({"O1"})

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        out = add.outputs[0]
        if not is_float(out):
            return False
        for t in add.inputs[:2]:
            mul = producer_in(sg, t, "MUL")
            if mul is None or single_reader(sg, t) is not add or activation(mul) != NONE:
                continue
            found = _conv_then(sg, mul, self.conv_kinds, "MUL")
            if found is None:
                continue
            conv, scale_t = found
            channels = _channels(conv)
            shift_t = other_operand(add, t)
            if channels is None or shift_t is None:
                continue
            scale = channel_vector(scale_t, channels, mul.outputs[0])
            shift = channel_vector(shift_t, channels, out)
            if scale is None or shift is None or out.shape != conv.outputs[0].shape:
                continue
            weights = _scaled_weights(conv, scale)
            bias = bias_vector(conv, channels)
            if weights is None or bias is None:
                continue
            _fuse_into(sg, conv, [mul, add], out, weights, bias * scale + shift, activation(add))
            return True
        return False


def _fuse_into(sg: Subgraph, conv: Operator, removed: list[Operator], out: Tensor,
               weights: np.ndarray | None, bias: np.ndarray, act: Act | None) -> None:
    old_out = conv.outputs[0]
    for op in removed:
        sg.remove_operator(op)
    if weights is not None:
        _set_weights(sg, conv, weights)
    set_bias(sg, conv, bias, f"{out.name}/bias")
    with_options(conv, fused_activation_function=act if act is not None else NONE)
    take_over_output(sg, conv, old_out, out)


class FuseAddPass(OperatorPass):
    """CONV (or FULLY_CONNECTED, TRANSPOSE_CONV) -> ADD(per-channel constant) becomes the
    operator with the constant added to its bias, taking the ADD's activation."""

    operators = frozenset({"ADD"})

    def __init__(self, name: str, conv: str, description: str, levels: tuple[str, ...]) -> None:
        self.name = name
        self.conv_kinds = frozenset({conv})
        self.description = description
        self.levels = frozenset(levels)

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        out = add.outputs[0]
        if not is_float(out):
            return False
        found = _conv_then(sg, add, self.conv_kinds, "ADD")
        if found is None:
            return False
        conv, shift_t = found
        channels = _channels(conv)
        if channels is None or out.shape != conv.outputs[0].shape:
            return False
        shift = channel_vector(shift_t, channels, out)
        bias = bias_vector(conv, channels)
        if shift is None or bias is None:
            return False
        _fuse_into(sg, conv, [add], out, None, bias + shift, activation(add))
        return True


class FuseMulPass(OperatorPass):
    """CONV_2D (or FULLY_CONNECTED) -> MUL(per-channel or scalar constant) becomes the
    operator with weights and bias scaled, taking the MUL's activation."""

    operators = frozenset({"MUL"})

    def __init__(self, name: str, conv: str, description: str) -> None:
        self.name = name
        self.conv_kinds = frozenset({conv})
        self.description = description
        self.levels = frozenset()

    def rewrite(self, sg: Subgraph, mul: Operator) -> bool:
        out = mul.outputs[0]
        if not is_float(out):
            return False
        found = _conv_then(sg, mul, self.conv_kinds, "MUL")
        if found is None:
            return False
        conv, scale_t = found
        channels = _channels(conv)
        if channels is None or out.shape != conv.outputs[0].shape:
            return False
        scale = channel_vector(scale_t, channels, out)
        if scale is None:
            return False
        weights = _scaled_weights(conv, scale)
        bias = bias_vector(conv, channels)
        if weights is None or bias is None:
            return False
        _fuse_into(sg, conv, [mul], out, weights, bias * scale, activation(mul))
        return True


#: Operators whose fused activation LiteRT honours for RELU, RELU6 and RELU_N1_TO_1 (checked
#: against the interpreter: CONCATENATION refuses any fused activation).
ACTIVATION_TARGETS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "ADD", "SUB", "MUL",
    "DIV", "AVERAGE_POOL_2D", "MAX_POOL_2D",
})

#: (activation operator, fused activation already there) -> fused activation of both.
_COMBINE = {
    ("RELU", Act.NONE): Act.RELU, ("RELU", Act.RELU): Act.RELU, ("RELU", Act.RELU6): Act.RELU6,
    ("RELU6", Act.NONE): Act.RELU6, ("RELU6", Act.RELU): Act.RELU6, ("RELU6", Act.RELU6): Act.RELU6,
    ("RELU_N1_TO_1", Act.NONE): Act.RELU_N1_TO_1, ("RELU_N1_TO_1", Act.RELU_N1_TO_1): Act.RELU_N1_TO_1,
}


class FuseActivationFunctionPass(OperatorPass):
    """RELU, RELU6 or RELU_N1_TO_1 after an operator with a fused activation option, whose
    result it alone reads, becomes that operator's fused activation. TANH is left alone:
    LiteRT ignores (CONV_2D, ADD, MUL, SUB, pools) or refuses (FULLY_CONNECTED) a fused TANH."""

    name = "fuse_activation_function"
    description = "fuse RELU, RELU6 and RELU_N1_TO_1 into the preceding operator's fused activation"
    levels = frozenset({"O1"})
    operators = frozenset({"RELU", "RELU6", "RELU_N1_TO_1"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        x, out = op.input(0), op.outputs[0]
        prev = producer_in(sg, x, *ACTIVATION_TARGETS)
        if prev is None or len(prev.outputs) != 1 or single_reader(sg, x) is not op:
            return False
        if not (is_float(x) and is_float(out)):
            return False
        current = activation(prev)
        combined = _COMBINE.get((op.type, current)) if current is not None else None
        if combined is None:
            return False
        sg.remove_operator(op)
        with_options(prev, fused_activation_function=combined)
        take_over_output(sg, prev, x, out)
        return True


def _fc_bias(fc: Operator) -> Tensor | None:
    return fc.input(2) if len(fc.inputs) > 2 else None


def _plain_fc(sg: Subgraph, t: Tensor, add: Operator) -> Operator | None:
    """The FULLY_CONNECTED producing `t` for `add` alone, without activation, with float32
    constant weights and a float32 constant bias or none."""
    fc = producer_in(sg, t, "FULLY_CONNECTED")
    if fc is None or len(fc.outputs) != 1 or single_reader(sg, t) is not add or activation(fc) != NONE \
            or not plain_weights(fc):
        return None
    w, bias = fc.input(1), _fc_bias(fc)
    if constant(w) is None or not is_float(w) or (bias is not None and (constant(bias) is None or not is_float(bias))):
        return None
    return fc


class FuseHorizontalFullyConnectedPass(OperatorPass):
    """ADD of two FULLY_CONNECTED of the same input (float32 constant weights of one shape,
    both with a constant bias or both without, no activation, read only by the ADD) becomes one
    FULLY_CONNECTED with the weights and biases summed, taking the ADD's activation. Float
    rounding may differ slightly (x·w1 + x·w2 is computed as x·(w1 + w2))."""

    name = "fuse_horizontal_fc_layers"
    description = "fuse ADD of two FULLY_CONNECTED of one input into one with summed weights"
    levels = frozenset()
    operators = frozenset({"ADD"})

    def rewrite(self, sg: Subgraph, add: Operator) -> bool:
        a, b, out = add.input(0), add.input(1), add.outputs[0]
        if a is None or b is None or a is b or len(add.inputs) != 2 or not is_float(out):
            return False
        left, right = _plain_fc(sg, a, add), _plain_fc(sg, b, add)
        if left is None or right is None or left.input(0) is not right.input(0):
            return False
        if not (a.shape == b.shape == out.shape) or left.options.keep_num_dims != right.options.keep_num_dims:
            return False
        w1, w2, b1, b2 = left.input(1), right.input(1), _fc_bias(left), _fc_bias(right)
        if w1.shape != w2.shape or (b1 is None) != (b2 is None) or (b1 is not None and b1.shape != b2.shape):
            return False
        act = activation(add)
        sg.remove_operator(right)
        sg.remove_operator(add)
        left.set_input(1, add_constant(sg, f"{out.name}/weights", constant(w1) + constant(w2)))
        if b1 is not None:
            left.set_input(2, add_constant(sg, f"{out.name}/bias", constant(b1) + constant(b2)))
        with_options(left, fused_activation_function=act if act is not None else NONE)
        take_over_output(sg, left, a, out)
        return True


def fuse_passes() -> list[OperatorPass]:
    return [
        FuseBatchNormPass("fuse_batchnorm_with_conv", "CONV_2D",
                          "fuse a batch norm (MUL then ADD by per-channel constants) into the preceding CONV_2D"),
        FuseBatchNormPass("fuse_batchnorm_with_dwconv", "DEPTHWISE_CONV_2D",
                          "fuse a batch norm (MUL then ADD by per-channel constants) into the preceding DEPTHWISE_CONV_2D"),
        FuseBatchNormPass("fuse_batchnorm_with_tconv", "TRANSPOSE_CONV",
                          "fuse a batch norm (MUL then ADD by per-channel constants) into the preceding TRANSPOSE_CONV"),
        FuseAddPass("fuse_add_with_conv", "CONV_2D",
                    "fuse ADD of a per-channel constant into the preceding CONV_2D's bias", ()),
        FuseAddPass("fuse_add_with_fully_connected", "FULLY_CONNECTED",
                    "fuse ADD of a per-channel constant into the preceding FULLY_CONNECTED's bias", ("O1",)),
        FuseAddPass("fuse_add_with_tconv", "TRANSPOSE_CONV",
                    "fuse ADD of a per-channel constant into the preceding TRANSPOSE_CONV's bias", ("O1",)),
        FuseMulPass("fuse_mul_with_conv", "CONV_2D",
                    "fuse MUL by a per-channel or scalar constant into the preceding CONV_2D's weights and bias"),
        FuseMulPass("fuse_mul_with_fullyconnected", "FULLY_CONNECTED",
                    "fuse MUL by a per-channel or scalar constant into the preceding FULLY_CONNECTED's weights and bias"),
        FuseActivationFunctionPass(),
        FuseHorizontalFullyConnectedPass(),
    ]
