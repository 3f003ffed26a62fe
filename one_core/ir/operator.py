"""Operators of the IR: an operator type, tensors in and out, and typed options."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .tensor import Tensor

if TYPE_CHECKING:
    from .graph import Subgraph


class Operator:
    """One node of a subgraph.

    `name` is the operator type ("CONV_2D", "INSTANCE_NORM", "CUSTOM"); custom operators carry
    their `custom_code`. Inputs and outputs are Tensor objects (None for an omitted optional
    input) and are changed only through the `set_*` methods, which keep each tensor's producer
    and consumers up to date.
    """

    def __init__(
        self,
        name: str,
        inputs: Iterable[Tensor | None] = (),
        outputs: Iterable[Tensor] = (),
        options: Any = None,
        *,
        options2: Any = None,
        custom_code: str | None = None,
        custom_options: bytes | None = None,
        custom_options_format: int = 0,
        version: int = 1,
        intermediates: Iterable[Tensor] = (),
        mutating_variable_inputs: list[bool] | None = None,
        debug_metadata_index: int = -1,
    ) -> None:
        self.name = name
        self.options = options
        self.options2 = options2
        self.custom_code = custom_code
        self.custom_options = custom_options
        self.custom_options_format = custom_options_format
        self.version = version
        self.intermediates: list[Tensor] = list(intermediates)
        self.mutating_variable_inputs = mutating_variable_inputs
        self.debug_metadata_index = debug_metadata_index
        self.subgraph: Subgraph | None = None
        self._inputs: list[Tensor | None] = []
        self._outputs: list[Tensor] = []
        self.set_inputs(inputs)
        self.set_outputs(outputs)

    @property
    def type(self) -> str:
        """The operator type as users read it: the custom code for custom operators."""
        return self.custom_code if self.name == "CUSTOM" and self.custom_code else self.name

    @property
    def inputs(self) -> tuple[Tensor | None, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return tuple(self._outputs)

    def set_inputs(self, tensors: Iterable[Tensor | None]) -> None:
        for t in self._inputs:
            if t is not None:
                t.consumers.remove(self)
        self._inputs = list(tensors)
        for t in self._inputs:
            if t is not None:
                t.consumers.append(self)

    def set_input(self, index: int, tensor: Tensor | None) -> None:
        old = self._inputs[index]
        if old is not None:
            old.consumers.remove(self)
        self._inputs[index] = tensor
        if tensor is not None:
            tensor.consumers.append(self)

    def set_outputs(self, tensors: Iterable[Tensor]) -> None:
        for t in self._outputs:
            if t.producer is self:
                t.producer = None
        self._outputs = list(tensors)
        for t in self._outputs:
            t.producer = self

    def detach(self) -> None:
        """Drop this operator's links to its tensors (before removing it from a subgraph)."""
        self.set_inputs(())
        self.set_outputs(())

    def input(self, index: int) -> Tensor | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def __repr__(self) -> str:
        ins = ", ".join("-" if t is None else t.name for t in self._inputs)
        outs = ", ".join(t.name for t in self._outputs)
        return f"<Operator {self.type} ({ins}) -> ({outs})>"

