"""Subgraphs: tensors, operators in execution order, inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .operator import Operator
from .tensor import Tensor

if TYPE_CHECKING:
    from .model import Model


class Subgraph:
    """A graph of operators over tensors; the model's first subgraph is its main graph."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.tensors: list[Tensor] = []
        self.operators: list[Operator] = []
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.debug_metadata_index = -1
        self.model: Model | None = None

    def add_tensor(self, tensor: Tensor) -> Tensor:
        self.tensors.append(tensor)
        return tensor

    def add_operator(self, op: Operator, index: int | None = None) -> Operator:
        """Append `op` (or insert it at `index`); its tensors must belong to this subgraph."""
        op.subgraph = self
        if index is None:
            self.operators.append(op)
        else:
            self.operators.insert(index, op)
        return op

    def remove_operator(self, op: Operator) -> None:
        self.operators.remove(op)
        op.detach()
        op.subgraph = None

    def remove_unused_tensors(self) -> int:
        """Drop tensors no operator, input, output or signature refers to; returns how many."""
        used = {id(t) for t in (*self.inputs, *self.outputs)}
        for op in self.operators:
            used.update(id(t) for t in (*op.inputs, *op.outputs, *op.intermediates) if t is not None)
        if self.model is not None:
            for sig in self.model.signature_defs:
                if sig.subgraph is self:
                    used.update(id(t) for _, t in (*sig.inputs, *sig.outputs))
        before = len(self.tensors)
        self.tensors = [t for t in self.tensors if id(t) in used]
        return before - len(self.tensors)

    def replace_all_uses(self, old: Tensor, new: Tensor) -> None:
        """Make every reader of `old` (operators, subgraph outputs, signatures) read `new`."""
        for op in list(old.consumers):
            op.set_inputs(new if t is old else t for t in op.inputs)
        self.outputs = [new if t is old else t for t in self.outputs]
        if self.model is not None:
            for sig in self.model.signature_defs:
                if sig.subgraph is self:
                    sig.outputs = [(n, new if t is old else t) for n, t in sig.outputs]

    def tensor_by_name(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"subgraph '{self.name}' has no tensor named '{name}'")

    def index_of(self, items: Iterable[Tensor]) -> list[int]:
        """Positions of the given tensors in `self.tensors` (identity, not name)."""
        pos = {id(t): i for i, t in enumerate(self.tensors)}
        return [pos[id(t)] for t in items]

    def __repr__(self) -> str:
        return (
            f"<Subgraph {self.name!r}: {len(self.operators)} operators, "
            f"{len(self.tensors)} tensors>"
        )
