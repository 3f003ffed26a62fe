"""Hook implementation: every pass of this plugin, in the order the PassManager runs them.

Order within a round: shape and dtype inference first (when asked for), then folding
(constants feed the patterns below), then substitutions and removals (they expose producers
to fusions), forwarding of reshapes and transposes, transforms, fusions, the rewrites for
back ends that lack an operator or a feature (decompositions, replacements, unrolling),
and the merging passes.
Rounds repeat until nothing changes, so for the equivalence-keeping passes the order affects
speed, not the result; the few that change results on purpose (make_batchnorm_gamma_positive,
remove_fakequant, unroll_unidirseqlstm's fresh state) may see a pattern another pass already
fused."""

from __future__ import annotations

from typing import Any

from one_core.passes import Pass
from one_core.plugin import hookimpl

from .cse import cse_passes
from .decompose import decompose_passes
from .fold import FoldReshapeShapePass, fold_passes
from .forward import forward_passes
from .fuse import fuse_passes
from .fuse_more import fuse_more_passes
from .infer import infer_passes
from .patterns import pattern_passes
from .remove import remove_passes
from .replace import replace_passes
from .resolve import resolve_passes
from .substitute import substitute_passes
from .transform import transform_passes
from .unroll import unroll_passes


def all_passes() -> list[Pass]:
    """A fresh instance of every pass, in run order."""
    return [
        *infer_passes(),
        *resolve_passes(),
        *fold_passes(),
        FoldReshapeShapePass(),
        *substitute_passes(),
        *remove_passes(),
        *forward_passes(),
        *transform_passes(),
        *fuse_passes(),
        *fuse_more_passes(),
        *pattern_passes(),
        *decompose_passes(),
        *replace_passes(),
        *unroll_passes(),
        *cse_passes(),
    ]


@hookimpl
def one_register_passes(registry: Any) -> None:
    for p in all_passes():
        registry.add(p)
