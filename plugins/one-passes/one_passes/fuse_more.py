"""Fusions across more than one convolution (not in O1): the batch norms of pre-activation
ResNets (ResNetV2) moved into the convolutions before and after them, and a SLICE cropping a
TRANSPOSE_CONV folded into its output shape and padding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.ir.options import ActivationFunctionType as Act
from one_core.ir.options import AddOptions, MulOptions, Padding, SubOptions, TransposeConvOptions
from one_core.passes import OperatorPass, SubgraphPass
from one_core.passes.rewrite import (
    add_constant,
    bypass,
    constant,
    int_list,
    is_float,
    is_output,
    single_reader,
    static_shape,
    take_over_output,
    unique_name,
)

from .common import NONE, activation, channelwise_affine, producer_in, with_options
from .fuse import bias_vector, set_bias

# ------------------------------------------------------------------------ fuse_slice_with_tconv


def _window(padding: Padding, size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(input size, padding before) of a TRANSPOSE_CONV output dimension of `size`, as TFLite
    computes them (it requires that input size)."""
    from one_backend_runtime.kernels.conv import out_size_and_pad

    return out_size_and_pad(padding, size, kernel, stride)


def _cropping_padding(o: TransposeConvOptions, x: tuple[int, ...], full: list[int], begin: list[int],
                      size: list[int], kh: int, kw: int) -> Padding | None:
    """VALID or SAME (ONE tries them in this order), whichever makes a TRANSPOSE_CONV of `x`
    with output size `size` start where the crop at `begin` of its output `full` starts, else
    None."""
    want = ((x[1], _window(o.padding, full[1], kh, o.stride_h)[1] + begin[1]),
            (x[2], _window(o.padding, full[2], kw, o.stride_w)[1] + begin[2]))
    for padding in (Padding.VALID, Padding.SAME):
        if (_window(padding, size[1], kh, o.stride_h), _window(padding, size[2], kw, o.stride_w)) == want:
            return padding
    return None


class FuseSliceWithTConvPass(OperatorPass):
    """SLICE of a TRANSPOSE_CONV's output (read only there), keeping the batch, becomes the
    TRANSPOSE_CONV with the slice's size as output shape and the padding (VALID or SAME) that
    starts it at the slice's begin, when one does (and gives the input's size back, which
    TFLite checks): cropping rows and columns of a transposed convolution is padding it. A
    slice of channels slices the filter and the bias. Exact."""

    name = "fuse_slice_with_tconv"
    description = "fold a SLICE cropping a TRANSPOSE_CONV into its output shape and padding"
    levels = frozenset()
    operators = frozenset({"SLICE"})

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        t, out = op.input(0), op.outputs[0]
        tconv = producer_in(sg, t, "TRANSPOSE_CONV")
        if tconv is None or len(tconv.outputs) != 1 or single_reader(sg, t) is not op:
            return False
        w_t = tconv.input(1)
        w = constant(w_t)
        begin, size, full = int_list(op.input(1)), int_list(op.input(2)), int_list(tconv.input(0))
        if (w is None or w.ndim != 4 or begin is None or size is None or full is None
                or not all(is_float(x) for x in (t, out, w_t, tconv.input(2)))):
            return False
        if not len(begin) == len(size) == len(full) == 4:
            return False
        size = [f - b if s == -1 else s for b, s, f in zip(begin, size, full)]
        if any(b < 0 or s <= 0 or b + s > f for b, s, f in zip(begin, size, full)):
            return False
        if begin[0] != 0 or size[0] != full[0] or static_shape(out) != tuple(size):
            return False
        bias = bias_vector(tconv, full[3])
        x_shape = static_shape(tconv.input(2))
        padding = None if x_shape is None else _cropping_padding(tconv.options, x_shape, full, begin, size,
                                                                 w.shape[1], w.shape[2])
        if bias is None or padding is None:
            return False
        channels = slice(begin[3], begin[3] + size[3])
        if size[3] != full[3]:
            tconv.set_input(1, add_constant(sg, f"{w_t.name}/sliced", w[channels]))
            if tconv.input(3) is not None:
                set_bias(sg, tconv, bias[channels], f"{out.name}/bias")
        tconv.set_input(0, add_constant(sg, f"{out.name}/output_shape", np.asarray(size, np.int32)))
        with_options(tconv, padding=padding)
        sg.remove_operator(op)
        take_over_output(sg, tconv, t, out)
        return True


# ------------------------------------------------------------------ fuse_preactivation_batchnorm


@dataclass
class _Swapped:
    """A pre-activation batch norm after step 1: RELU(MUL(ADD(x, beta / gamma), gamma))."""

    shift: Operator
    scale: Operator
    relu: Operator
    gamma: np.ndarray


def _new_like(sg: Subgraph, t: Tensor, suffix: str) -> Tensor:
    return sg.add_tensor(Tensor(unique_name(sg, f"{t.name}/{suffix}"), t.dtype, t.shape,
                                shape_signature=t.shape_signature))


def _swap(sg: Subgraph, add: Operator) -> _Swapped | None:
    """Step 1. ADD(MUL(x, gamma), beta) with a fused RELU, per-channel constants, gamma > 0
    and the MUL read only there, becomes RELU(MUL(ADD(x, beta / gamma), gamma))."""
    out = add.outputs[0]
    found = channelwise_affine(sg, add) if activation(add) == Act.RELU else None
    if found is None or not np.all(found.gamma > 0):
        return None
    mul, x, gamma_t, gamma, beta = found.mul, found.x, found.gamma_t, found.gamma, found.beta
    scaled = mul.outputs[0]
    sg.remove_operator(mul)
    index = sg.operators.index(add)
    sg.remove_operator(add)
    shifted = _new_like(sg, out, "shifted")
    beta_over_gamma = add_constant(sg, f"{out.name}/beta_over_gamma", beta / gamma)
    found = _Swapped(Operator("ADD", [x, beta_over_gamma], [shifted], AddOptions()),
                     Operator("MUL", [shifted, gamma_t], [scaled], MulOptions()),
                     Operator("RELU", [scaled], [out]), gamma)
    for i, new in enumerate((found.shift, found.scale, found.relu)):
        sg.add_operator(new, index + i)
    return found


def _next_conv(sg: Subgraph, reader: Operator, t: Tensor, channels: int) -> Operator | None:
    """The CONV_2D convolving `t` (read by `reader`), directly or through MEANs over other axes
    than the channels, with float32 constant weights over `channels` input channels."""
    if reader.name == "CONV_2D" and reader.input(0) is t and t not in reader.inputs[1:]:
        w = constant(reader.input(1))
        ok = w is not None and is_float(reader.input(1)) and w.ndim == 4 and w.shape[3] == channels
        return reader if ok else None
    if reader.name == "MEAN" and reader.input(0) is t:
        axes, rank = int_list(reader.input(1)), len(t.shape)
        nxt = single_reader(sg, reader.outputs[0])
        if axes is None or any(a % rank == rank - 1 for a in axes) or nxt is None:
            return None
        return _next_conv(sg, nxt, reader.outputs[0], channels)
    return None


def _into_next_convs(sg: Subgraph, s: _Swapped) -> None:
    """Step 2. When every reader of the RELU convolves it (directly or after MEANs), gamma
    scales their weights' input channels and the MUL goes: RELU(g * y) = g * RELU(y), g > 0."""
    act = s.relu.outputs[0]
    readers = list({id(r): r for r in act.consumers}.values())
    convs = [_next_conv(sg, r, act, s.gamma.size) for r in readers]
    if is_output(sg, act) or not convs or any(c is None for c in convs):
        return
    for conv in convs:
        w_t = conv.input(1)
        conv.set_input(1, add_constant(sg, f"{w_t.name}/preact_gamma", constant(w_t) * s.gamma))
    s.relu.set_input(0, s.shift.outputs[0])
    sg.remove_operator(s.scale)


def _bias_conv(op: Operator | None, channels: int) -> bool:
    """A CONV_2D without activation, float32 constant weights of `channels` output channels and
    a float32 constant bias of as many (or none)."""
    if op is None or op.name != "CONV_2D" or activation(op) != NONE:
        return False
    w = constant(op.input(1))
    return (w is not None and is_float(op.input(1)) and w.ndim == 4 and w.shape[0] == channels
            and bias_vector(op, channels) is not None)


def _previous_conv(sg: Subgraph, t: Tensor | None, channels: int) -> Operator | None:
    """The CONV_2D computing `t` up to a per-channel shift: `t` is read once, and is the conv's
    result or that of MAX_POOL_2D or ADD (no activation) of such a value; adding a per-channel
    constant to the conv's bias adds it to `t`. ONE also passes PAD, which is not exact."""
    if t is None or len(t.consumers) != 1 or is_output(sg, t):
        return None
    op = producer_in(sg, t)
    if _bias_conv(op, channels):
        return op
    if op is None or op.name not in ("MAX_POOL_2D", "ADD") or activation(op) != NONE:
        return None
    for x in op.inputs:
        found = _previous_conv(sg, x, channels)
        if found is not None:
            return found
    return None


def _shift_bias(sg: Subgraph, conv: Operator, delta: np.ndarray) -> None:
    set_bias(sg, conv, bias_vector(conv, delta.size) + delta, f"{conv.outputs[0].name}/preact_bias")


def _into_previous_conv(sg: Subgraph, s: _Swapped) -> Operator | None:
    """Step 3. The ADD of beta / gamma goes into the bias of the CONV_2D computing x (through
    MAX_POOL_2D and ADD). ResNetV2's residual sums are also read by the skip connection: when
    x = ADD(a, b) has other readers and a or b comes from such a conv, the bias gets beta /
    gamma, the RELU reads the shifted sum and a SUB of beta / gamma gives the other readers x
    back; returned, for step 4."""
    shift = s.shift
    x, shifted, beta_t = shift.input(0), shift.outputs[0], shift.input(1)
    beta = constant(beta_t)
    conv = _previous_conv(sg, x, beta.size)
    if conv is not None:
        _shift_bias(sg, conv, beta)
        bypass(sg, shift, x, shifted)
        return None
    total = producer_in(sg, x, "ADD")
    if total is None or activation(total) != NONE or single_reader(sg, shifted) is not s.relu:
        return None
    conv = _previous_conv(sg, total.input(1), beta.size) or _previous_conv(sg, total.input(0), beta.size)
    if conv is None:
        return None
    _shift_bias(sg, conv, beta)
    sg.remove_operator(shift)
    total.set_outputs([shifted])
    s.relu.set_input(0, shifted)
    sub = Operator("SUB", [shifted, beta_t], [x], SubOptions())
    sg.add_operator(sub, sg.operators.index(total) + 1)
    return sub


def _into_next_add(sg: Subgraph, sub: Operator) -> None:
    """Step 4. SUB(y, c) read (through MAX_POOL_2Ds) by an ADD whose other operand comes from a
    CONV_2D read only there goes into that conv's bias: (conv - c) + y = conv + (y - c)."""
    beta = constant(sub.input(1))
    path = sub.outputs[0]
    reader = single_reader(sg, path)
    while reader is not None and reader.name == "MAX_POOL_2D" and activation(reader) == NONE:
        path = reader.outputs[0]
        reader = single_reader(sg, path)
    if reader is None or reader.name != "ADD" or len(reader.inputs) != 2 or path not in reader.inputs:
        return
    other = reader.input(1) if reader.input(0) is path else reader.input(0)
    conv = producer_in(sg, other, "CONV_2D")
    if other is path or single_reader(sg, other) is not reader or not _bias_conv(conv, beta.size):
        return
    _shift_bias(sg, conv, -beta)
    bypass(sg, sub, sub.input(0), sub.outputs[0])


class FusePreActivationBatchNormPass(SubgraphPass):
    """ONE's pass for pre-activation ResNets, whose batch norms (MUL by gamma, ADD of beta with
    a fused RELU, per-channel constants) sit between a residual sum and the convolutions of the
    next block, in four steps: (1) every such batch norm with gamma > 0 becomes
    RELU(MUL(ADD(x, beta / gamma), gamma)); (2) the MUL goes into the weights of the CONV_2Ds
    reading the RELU; (3) the ADD into the bias of the CONV_2D before it, with a SUB for the
    skip connection; (4) the SUB into the bias of the next residual block's last CONV_2D. A
    step that does not apply leaves its part in place, so the model computes the same
    whatever is fused (float rounding may differ slightly)."""

    name = "fuse_preactivation_batchnorm"
    description = "fuse the batch norms of pre-activation ResNets into the convolutions around them"
    levels = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        swapped = [s for op in list(sg.operators)
                   if op.name == "ADD" and op.subgraph is sg and (s := _swap(sg, op)) is not None]
        for s in swapped:
            _into_next_convs(sg, s)
        subs = [sub for s in swapped if (sub := _into_previous_conv(sg, s)) is not None]
        for sub in subs:
            _into_next_add(sg, sub)
        return bool(swapped)


def fuse_more_passes() -> list[SubgraphPass]:
    return [FusePreActivationBatchNormPass(), FuseSliceWithTConvPass()]
