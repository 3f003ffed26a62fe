"""The model: subgraphs, signature defs, metadata."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .graph import Subgraph
from .operator import Operator
from .tensor import Tensor


@dataclass(eq=False)
class SignatureDef:
    """A named entry point (as in a TensorFlow SavedModel): named tensors of one subgraph."""

    key: str
    subgraph: Subgraph
    inputs: list[tuple[str, Tensor]] = field(default_factory=list)
    outputs: list[tuple[str, Tensor]] = field(default_factory=list)


class Model:
    """A circle model held in memory.

    `metadata` maps names to raw bytes (in file order). `legacy_metadata_buffers` keeps the
    contents of buffers listed by the deprecated `metadata_buffer` field so they survive a save.
    """

    #: The schema version TFLite and circle files carry (TFLite refuses anything else).
    SCHEMA_VERSION = 3

    def __init__(self, description: str | None = None, version: int = SCHEMA_VERSION) -> None:
        self.version = version
        self.description = description
        self.subgraphs: list[Subgraph] = []
        self.signature_defs: list[SignatureDef] = []
        self.metadata: dict[str, bytes] = {}
        self.legacy_metadata_buffers: list[np.ndarray] = []
        self.source: str | None = None

    @property
    def main(self) -> Subgraph:
        if not self.subgraphs:
            raise IndexError("the model has no subgraph")
        return self.subgraphs[0]

    def add_subgraph(self, subgraph: Subgraph) -> Subgraph:
        subgraph.model = self
        self.subgraphs.append(subgraph)
        return subgraph

    def subgraph_index(self, subgraph: Subgraph) -> int:
        for i, sg in enumerate(self.subgraphs):
            if sg is subgraph:
                return i
        raise ValueError(f"subgraph '{subgraph.name}' is not part of this model")

    def operators(self) -> Iterator[tuple[Subgraph, Operator]]:
        """Every (subgraph, operator) pair of the model, subgraph by subgraph."""
        for sg in self.subgraphs:
            for op in sg.operators:
                yield sg, op

    def __repr__(self) -> str:
        n_ops = sum(len(sg.operators) for sg in self.subgraphs)
        return f"<Model: {len(self.subgraphs)} subgraphs, {n_ops} operators>"
