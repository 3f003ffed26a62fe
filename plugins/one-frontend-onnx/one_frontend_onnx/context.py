"""What an operator converter sees: the ONNX node, and the circle subgraph being built.

ONNX values are referred to by name. A value is either a circle tensor already made (a graph
input or an operator's output), or a constant known at import time (an initializer, a Constant
node, or a node folded because all its inputs were constant). Constants become circle tensors only
when an operator reads them as tensors, so shape arithmetic folded at import leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from one_core.errors import ConversionError
from one_core.ir import DType, Operator, Subgraph, Tensor
from one_core.ir.options import TransposeOptions

if TYPE_CHECKING:
    from .converter import GraphConverter

Shape = list[int | None]  # None: a dimension not known at import


class Unsupported(ConversionError):
    """Raised by a converter for a node it cannot express in circle; the message says why."""


class Node:
    """An ONNX node with its attributes decoded to Python values."""

    def __init__(self, proto: onnx.NodeProto, opset: int) -> None:
        self.proto = proto
        self.op_type = proto.op_type
        self.domain = proto.domain
        self.name = proto.name or (proto.output[0] if proto.output else proto.op_type)
        self.inputs: list[str] = list(proto.input)
        self.outputs: list[str] = list(proto.output)
        self.opset = opset
        self.attrs: dict[str, Any] = {}
        for a in proto.attribute:
            value = onnx.helper.get_attribute_value(a)
            self.attrs[a.name] = value.decode() if isinstance(value, bytes) else value

    def input(self, index: int) -> str:
        """The name of input `index`, or "" when it is omitted."""
        return self.inputs[index] if index < len(self.inputs) else ""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def __repr__(self) -> str:
        return f"node '{self.name}' ({self.op_type})"


class Context:
    """Conversion state of one ONNX graph into one circle subgraph."""

    def __init__(self, graph: GraphConverter, subgraph: Subgraph, outer: Context | None = None) -> None:
        self.graph = graph
        self.sg = subgraph
        self.outer = outer
        self.values: dict[str, Tensor] = {}
        self.consts: dict[str, np.ndarray] = {}
        self.captures: list[str] = []  # outer values this subgraph reads: extra subgraph inputs
        self.facts: dict[str, object] = {}  # what converters note about values for each other
        self._taken: set[str] = set()

    # --- looking values up -------------------------------------------------------------------

    def const(self, name: str) -> np.ndarray | None:
        """The value of `name` when it is known at import time, else None."""
        if not name:
            return None
        if name in self.consts:
            return self.consts[name]
        if name not in self.values and self.outer is not None:
            return self.outer.const(name)
        return None

    def is_const(self, name: str) -> bool:
        return self.const(name) is not None

    def tensor(self, name: str) -> Tensor:
        """The circle tensor holding `name` (made from the constant on first use)."""
        found = self.values.get(name)
        if found is not None:
            return found
        value = self.const(name)
        if value is not None:
            return self._bind(name, self.constant(value, name))
        if self.outer is not None and self.outer.knows(name):  # read from an enclosing graph
            dtype, shape = self.outer.dtype(name), self.outer.shape(name)
            t = self.new_tensor(name, dtype, shape)
            self.captures.append(name)
            return self._bind(name, t)
        raise ConversionError(f"value '{name}' is not defined")

    def optional(self, name: str) -> Tensor | None:
        return self.tensor(name) if name else None

    def knows(self, name: str) -> bool:
        return name in self.values or name in self.consts or (self.outer is not None and self.outer.knows(name))

    def dtype(self, name: str) -> DType:
        value = self.const(name)
        if value is not None:
            return DType.from_numpy(value.dtype)
        if name in self.values:
            return self.values[name].dtype
        found = self.graph.types.get(name)
        if found is not None and found[0] is not None:
            return found[0]
        if self.outer is not None and self.outer.knows(name):
            return self.outer.dtype(name)
        raise ConversionError(f"the element type of '{name}' is unknown")

    def shape(self, name: str) -> Shape | None:
        """The shape of `name` as far as known at import (None: not even the rank)."""
        value = self.const(name)
        if value is not None:
            return list(value.shape)
        t = self.values.get(name)
        if t is not None and (t.shape or t.has_rank):
            sig = t.shape_signature or t.shape
            return [None if d < 0 else int(d) for d in sig]
        found = self.graph.types.get(name)
        if found is not None and found[1] is not None:
            return list(found[1])
        if self.outer is not None and name not in self.values and self.outer.knows(name):
            return self.outer.shape(name)
        return None

    def static_shape(self, name: str) -> tuple[int, ...] | None:
        shape = self.shape(name)
        if shape is None or any(d is None for d in shape):
            return None
        return tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def rank(self, name: str) -> int | None:
        shape = self.shape(name)
        return None if shape is None else len(shape)

    def need_rank(self, node: Node, name: str) -> int:
        rank = self.rank(name)
        if rank is None:
            raise Unsupported(f"the rank of '{name}' is unknown at import (give --input_shapes)")
        return rank

    # --- making values ------------------------------------------------------------------------

    def declare(self, name: str, dtype: DType, shape: Sequence[int | None] | None) -> None:
        """Give the type and shape of a value no ONNX node of the model defines (one a converter
        makes up to hand to another converter)."""
        self.graph.types[name] = (dtype, None if shape is None else list(shape))

    def set_const(self, name: str, value: np.ndarray) -> None:
        """Record `name` as a constant known at import (no operator is emitted for it)."""
        self.consts[name] = np.asarray(value)

    def output(self, name: str, dtype: DType | None = None, shape: Sequence[int | None] | None = None) -> Tensor:
        """The circle tensor for the ONNX value `name` an operator writes; type and shape come
        from ONNX shape inference unless given."""
        if name in self.values:
            raise ConversionError(f"value '{name}' is written twice")
        known = self.graph.types.get(name, (None, None))
        dtype = dtype if dtype is not None else known[0]
        if dtype is None:
            raise ConversionError(f"the element type of '{name}' is unknown")
        if shape is None:
            shape = known[1]
        return self._bind(name, self.new_tensor(name, dtype, shape))

    def temp(self, hint: str, dtype: DType, shape: Sequence[int | None] | None = None) -> Tensor:
        """A new intermediate tensor (its name derived from `hint`)."""
        return self.new_tensor(hint, dtype, shape)

    def constant(self, value: np.ndarray, hint: str) -> Tensor:
        value = np.asarray(value)
        t = Tensor(self.unique(hint or "const"), DType.from_numpy(value.dtype), value.shape, data=value)
        return self.sg.add_tensor(t)

    def new_tensor(self, name: str, dtype: DType, shape: Sequence[int | None] | None) -> Tensor:
        name = self.unique(name)
        if shape is None:
            t = Tensor(name, dtype, ())
        else:
            dims = tuple(1 if d is None else int(d) for d in shape)
            sig = tuple(-1 if d is None else int(d) for d in shape) if any(d is None for d in shape) else None
            t = Tensor(name, dtype, dims, shape_signature=sig, has_rank=True)
        return self.sg.add_tensor(t)

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self._taken:
            name = f"{base}_{n}"
            n += 1
        self._taken.add(name)
        return name

    def emit(self, op_type: str, inputs: Sequence[Tensor | None], outputs: Sequence[Tensor], options: Any = None,
             **fields: Any) -> Operator:
        """Append a circle operator."""
        return self.sg.add_operator(Operator(op_type, inputs, outputs, options, **fields))

    def _bind(self, name: str, tensor: Tensor) -> Tensor:
        self.values[name] = tensor
        return tensor

    # --- layout -------------------------------------------------------------------------------

    def transpose(self, x: Tensor, perm: Sequence[int], out: Tensor | None = None) -> Tensor:
        """x transposed by `perm` (constants are transposed here, not at run time)."""
        perm = [int(p) for p in perm]
        if x.is_constant and out is None:
            return self.constant(np.ascontiguousarray(np.transpose(x.data, perm)), x.name + "_t")
        if out is None:
            sig = x.shape_signature or x.shape
            out = self.temp(x.name + "_t", x.dtype, [None if sig[p] < 0 else x.shape[p] for p in perm]
                            if x.shape else None)
        self.emit("TRANSPOSE", [x, self.constant(np.array(perm, np.int32), "perm")], [out], TransposeOptions())
        return out

    def channels_last_like(self, out: Tensor) -> Tensor:
        """A new tensor shaped like `out` (channels-first) but channels-last: what a circle
        convolution writes before the Transpose into `out`."""
        rank = out.rank
        if not out.shape and not out.has_rank:
            return self.temp(out.name + "_nhwc", out.dtype)
        sig = out.shape_signature or out.shape
        return self.temp(out.name + "_nhwc", out.dtype,
                         [None if sig[p] < 0 else out.shape[p] for p in channels_last_perm(rank)])

    def to_channels_last(self, x: Tensor, rank: int) -> Tensor:
        """NC... -> N...C, the layout circle's convolutions and pools work in."""
        return self.transpose(x, channels_last_perm(rank))

    def from_channels_last(self, x: Tensor, rank: int, out: Tensor) -> Tensor:
        """N...C -> NC..., back to ONNX's layout, into `out`."""
        return self.transpose(x, channels_first_perm(rank), out)


def channels_last_perm(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]


def channels_first_perm(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]


def onnx_dtype(elem_type: int, where: str) -> DType:
    """The circle type of an ONNX element type."""
    try:
        return DType.from_numpy(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() \
            else str(elem_type)
        raise Unsupported(f"{where}: element type {name} has no circle equivalent") from None
