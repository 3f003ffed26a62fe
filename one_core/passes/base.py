"""What a circle2circle pass is.

A pass rewrites a Model in place and says whether it changed anything. Passes are registered
through the `one_register_passes(registry)` hook under their name (the name is also the
`one optimize --NAME` flag, so use ONE's circle2circle option names where ONE has the pass).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from ..ir.graph import Subgraph
from ..ir.model import Model
from ..ir.operator import Operator


class Pass(ABC):
    """A model-to-model rewrite that keeps what the model computes.

    - `name`: registry name and command-line flag (`--fuse_batchnorm_with_conv`).
    - `description`: one line for `one passes`.
    - `levels`: the optimization levels that include the pass (`{"O1"}`), empty for passes
      run only on request.

    `run(model)` rewrites in place and returns True when it changed something; it must leave
    a model that passes `one_core.verify` and computes the same outputs. The PassManager
    calls it repeatedly until no pass changes anything, so a pass may do one sweep and rely on
    being called again, but it must return False once there is nothing left to do.
    """

    name: str = ""
    description: str = ""
    levels: frozenset[str] = frozenset()

    @abstractmethod
    def run(self, model: Model) -> bool:
        """Rewrite `model` in place; True when something changed."""

    def __repr__(self) -> str:
        return f"<Pass {self.name}>"


class SubgraphPass(Pass):
    """A pass applied to every subgraph of the model in turn."""

    def run(self, model: Model) -> bool:
        changed = False
        for sg in model.subgraphs:
            changed |= self.run_subgraph(sg)
        return changed

    @abstractmethod
    def run_subgraph(self, sg: Subgraph) -> bool:
        """Rewrite one subgraph in place; True when something changed."""


class OperatorPass(SubgraphPass):
    """A pattern rewrite rooted at operators of the types in `operators` (empty: every
    operator). `rewrite(sg, op)` is called for each such operator still in the subgraph, in
    execution order, and returns True when it rewrote the graph there."""

    operators: frozenset[str] = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        changed = False
        for op in list(sg.operators):
            if op.subgraph is not sg:  # removed by an earlier rewrite of this sweep
                continue
            if self.operators and op.type not in self.operators:
                continue
            changed |= bool(self.rewrite(sg, op))
        return changed

    @abstractmethod
    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        """Rewrite around `op` if the pattern matches; True when the graph changed."""


def level_names(passes: Iterable[Pass]) -> list[str]:
    """Every level any of `passes` belongs to, sorted."""
    return sorted({level for p in passes for level in p.levels})
