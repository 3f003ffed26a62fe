"""Common subexpression elimination and duplicate constants."""

from __future__ import annotations

import hashlib

import numpy as np

from one_core.ir import Operator, Subgraph, Tensor
from one_core.passes import SubgraphPass
from one_core.passes.rewrite import (
    NONDETERMINISTIC,
    has_side_effects,
    is_input,
    is_output,
)

from .common import same_encoding, same_signature


def _same_operation(a: Operator, b: Operator) -> bool:
    return (a.name == b.name and a.custom_code == b.custom_code and a.custom_options == b.custom_options
            and a.options == b.options and a.options2 == b.options2 and len(a.outputs) == len(b.outputs)
            and all(same_encoding(x, y) and same_signature(x, y) for x, y in zip(a.outputs, b.outputs)))


class CommonSubexpressionEliminationPass(SubgraphPass):
    """Two operators of one type, with equal options, reading the same tensors (and writing
    outputs of the same type, shape and quantization) compute the same values: the later one's
    readers read the earlier one's outputs, and the later one goes. Operators with side
    effects or random results are left alone, and so are those writing subgraph outputs."""

    name = "common_subexpression_elimination"
    description = "merge operators of one type and options that read the same tensors"
    levels = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        seen: dict[tuple, list[Operator]] = {}
        changed = False
        for op in list(sg.operators):
            if (not op.inputs or op.name in NONDETERMINISTIC or has_side_effects(op) or op.intermediates
                    or all(t is None for t in op.inputs)):
                continue
            key = (op.name, op.custom_code, tuple(id(t) for t in op.inputs))
            for earlier in seen.get(key, []):
                if earlier.subgraph is not sg or not _same_operation(earlier, op):
                    continue
                if any(is_output(sg, t) for t in op.outputs):
                    break
                for old, new in zip(op.outputs, earlier.outputs):
                    sg.replace_all_uses(old, new)
                sg.remove_operator(op)
                changed = True
                break
            else:
                seen.setdefault(key, []).append(op)
        return changed


def _const_key(t: Tensor) -> tuple | None:
    if not t.is_constant or t.sparsity is not None:
        return None
    data = np.ascontiguousarray(t.data)
    digest = hashlib.blake2b(memoryview(data).cast("B"), digest_size=16).digest()
    return (t.dtype, tuple(t.shape), str(data.dtype), digest)


class RemoveDuplicateConstPass(SubgraphPass):
    """Constants with the same type, shape, bytes and quantization are one: readers of the
    later ones read the first."""

    name = "remove_duplicate_const"
    description = "merge constants with equal type, shape, values and quantization"
    levels = frozenset()

    def run_subgraph(self, sg: Subgraph) -> bool:
        first: dict[tuple, list[Tensor]] = {}
        changed = False
        for t in list(sg.tensors):
            key = _const_key(t)
            if key is None or not t.consumers:
                continue
            for kept in first.get(key, []):
                if not same_encoding(kept, t) or not _same_bytes(kept, t):
                    continue
                if is_output(sg, t) or is_input(sg, t):
                    break
                sg.replace_all_uses(t, kept)
                changed = True
                break
            else:
                first.setdefault(key, []).append(t)
        return changed


def _same_bytes(a: Tensor, b: Tensor) -> bool:
    return a.data is b.data or (a.data.shape == b.data.shape and a.data.tobytes() == b.data.tobytes())


def cse_passes() -> list[SubgraphPass]:
    return [CommonSubexpressionEliminationPass(), RemoveDuplicateConstPass()]
