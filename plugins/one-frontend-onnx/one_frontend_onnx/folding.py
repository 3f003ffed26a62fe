"""Constant folding at import: a node whose inputs are all known is evaluated with ONNX's own
reference implementation (`onnx.reference`), so shape arithmetic never reaches the circle model."""

from __future__ import annotations

import warnings

import numpy as np
import onnx

from .context import Node

# Operators whose result is not a function of their inputs, or that have side effects
NOT_FOLDABLE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                "Bernoulli", "If", "Loop", "Scan", "SequenceConstruct", "SequenceEmpty", "Optional"}
MAX_GROWTH = 16 << 20  # a folded result may exceed its inputs' size by this many bytes at most


def fold(node: Node, values: list[np.ndarray | None], opsets: dict[str, int]) -> list[np.ndarray] | None:
    """The outputs of `node` evaluated on `values`, or None when it should not be folded."""
    if node.op_type in NOT_FOLDABLE or node.domain not in ("", "ai.onnx"):
        return None
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.proto.attribute):
        return None
    from onnx.reference import ReferenceEvaluator

    names = [f"in{i}" if name else "" for i, name in enumerate(node.inputs)]
    proto = onnx.helper.make_node(node.op_type, names, [f"out{i}" if o else "" for i, o in enumerate(node.outputs)],
                                  domain=node.domain)
    proto.attribute.extend(node.proto.attribute)
    feeds = {n: v for n, v in zip(names, values) if n}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            results = ReferenceEvaluator(proto, opsets=opsets).run(None, feeds)
    except Exception:
        return None  # not evaluable here: the operator converter handles it
    results = [np.asarray(r) for r in results]
    if any(r.dtype == object for r in results):
        return None
    size_in = sum(v.nbytes for v in values if v is not None)
    if sum(r.nbytes for r in results) > size_in + MAX_GROWTH:
        return None  # e.g. a large ConstantOfShape: cheaper to compute at run time than to store
    return results
