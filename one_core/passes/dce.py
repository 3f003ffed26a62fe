"""Dead code elimination: operators whose results nobody uses, and tensors nobody refers to.

ONE runs the equivalent (logo's RemoveDeadNodePass) after every optimization phase; here it is
a pass of its own, `remove_dead_operators`, which the PassManager also runs at the end of
every round."""

from __future__ import annotations

from ..ir.graph import Subgraph
from ..ir.model import Model
from .base import Pass
from .rewrite import has_side_effects, is_used


def remove_dead_operators(sg: Subgraph) -> int:
    """Remove operators without side effects none of whose outputs is used (read by an
    operator, or an output of the subgraph or of a signature), walking backwards so chains
    of dead operators go in one sweep; then drop unused tensors. Returns operators removed."""
    removed = 0
    for op in reversed(list(sg.operators)):
        if has_side_effects(op):
            continue
        if any(is_used(sg, t) for t in op.outputs):
            continue
        sg.remove_operator(op)
        removed += 1
    return removed


class RemoveDeadOperatorsPass(Pass):
    name = "remove_dead_operators"
    description = "remove operators whose results nobody uses, and tensors nobody refers to"
    levels = frozenset({"O1"})

    def run(self, model: Model) -> bool:
        changed = False
        for sg in model.subgraphs:
            changed |= remove_dead_operators(sg) > 0
            changed |= sg.remove_unused_tensors() > 0
        return changed
