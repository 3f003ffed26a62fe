"""Layout propagation: Transposes move through layout-agnostic operators until they cancel."""

from __future__ import annotations

from one_core.ir import Subgraph


def propagate(sg: Subgraph) -> bool:
    return False
