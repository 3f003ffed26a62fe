"""circle2circle optimization: the Pass interface, the PassManager and `optimize`.

    m = one_core.optimize(m)                                   # the O1 group
    m = one_core.optimize(m, passes=["fuse_batchnorm_with_conv", "fold_dequantize"])

Passes come from plugins through `one_register_passes(registry)` (ONE's passes are in the
one-passes plugin); the core registers one itself, `remove_dead_operators`."""

from .base import OperatorPass, Pass, SubgraphPass
from .dce import RemoveDeadOperatorsPass, remove_dead_operators
from .manager import (
    DEFAULT_MAX_ROUNDS,
    OptimizeReport,
    PassManager,
    PassStats,
    available_passes,
    operator_counts,
    optimize,
    select_passes,
)

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "OperatorPass",
    "OptimizeReport",
    "Pass",
    "PassManager",
    "PassStats",
    "RemoveDeadOperatorsPass",
    "SubgraphPass",
    "available_passes",
    "operator_counts",
    "optimize",
    "remove_dead_operators",
    "select_passes",
]
