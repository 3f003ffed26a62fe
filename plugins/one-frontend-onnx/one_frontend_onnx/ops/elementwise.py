"""Elementwise arithmetic and activations that map one to one onto a circle operator."""

from __future__ import annotations

from one_core.ir.options import AddOptions, DivOptions, MulOptions, SubOptions

from ..context import Context, Node
from . import converts

BINARY = {"Add": ("ADD", AddOptions), "Sub": ("SUB", SubOptions), "Mul": ("MUL", MulOptions),
          "Div": ("DIV", DivOptions)}


@converts(*BINARY)
def binary(cx: Context, node: Node) -> None:
    op, options = BINARY[node.op_type]
    a, b = cx.tensor(node.input(0)), cx.tensor(node.input(1))
    cx.emit(op, [a, b], [cx.output(node.outputs[0], a.dtype)], options())


UNARY = {"Relu": "RELU"}


@converts(*UNARY)
def unary(cx: Context, node: Node) -> None:
    x = cx.tensor(node.input(0))
    cx.emit(UNARY[node.op_type], [x], [cx.output(node.outputs[0], x.dtype)])
