"""Invariants of an in-memory model, checked by readers, passes and `one_core.save`."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass

from ..errors import InvalidModelError
from .graph import Subgraph
from .model import Model
from .operator import Operator
from .tensor import Tensor


def verify(model: Model) -> None:
    """Raise InvalidModelError naming the first broken invariant of `model`."""
    if not model.subgraphs:
        raise InvalidModelError("model has no subgraph")
    for index, sg in enumerate(model.subgraphs):
        _verify_subgraph(model, index, sg)
    for sig in model.signature_defs:
        if not any(sg is sig.subgraph for sg in model.subgraphs):
            raise InvalidModelError(f"signature '{sig.key}' refers to a subgraph not in the model")
        owned = {id(t) for t in sig.subgraph.tensors}
        for name, t in (*sig.inputs, *sig.outputs):
            if id(t) not in owned:
                raise InvalidModelError(
                    f"signature '{sig.key}': tensor '{name}' is not a tensor of its subgraph"
                )


def _verify_subgraph(model: Model, index: int, sg: Subgraph) -> None:
    where = f"subgraph {index} ('{sg.name}')"
    owned = {id(t) for t in sg.tensors}
    if len(owned) != len(sg.tensors):
        raise InvalidModelError(f"{where}: a tensor is listed twice")
    for t in sg.tensors:
        _verify_tensor(where, t)
    for kind, items in (("input", sg.inputs), ("output", sg.outputs)):
        for t in items:
            if id(t) not in owned:
                raise InvalidModelError(f"{where}: {kind} '{t.name}' is not a tensor of the subgraph")
    available = {id(t) for t in sg.inputs}
    available.update(id(t) for t in sg.tensors if t.data is not None or t.is_variable)
    produced: set[int] = set()
    for op_index, op in enumerate(sg.operators):
        at = f"{where}, operator {op_index} ({op.type})"
        for t in (*op.inputs, *op.outputs, *op.intermediates):
            if t is not None and id(t) not in owned:
                raise InvalidModelError(f"{at}: tensor '{t.name}' is not a tensor of the subgraph")
        for t in op.inputs:
            if t is not None and id(t) not in available and id(t) not in produced:
                later = t.producer is not None and t.producer.subgraph is sg
                what = "is produced by a later operator" if later else "is never produced"
                raise InvalidModelError(f"{at}: input '{t.name}' {what}")
        for t in op.outputs:
            if id(t) in produced:
                raise InvalidModelError(f"{at}: output '{t.name}' is produced twice")
            produced.add(id(t))
        _verify_subgraph_references(model, at, op)


def _verify_tensor(where: str, t: Tensor) -> None:
    at = f"{where}, tensor '{t.name}'"
    if any(d < 0 for d in t.shape):
        raise InvalidModelError(f"{at}: negative dimension in shape {list(t.shape)}")
    if t.shape_signature is not None and len(t.shape_signature) != len(t.shape) and t.shape:
        raise InvalidModelError(
            f"{at}: shape signature {list(t.shape_signature)} and shape {list(t.shape)} differ in rank"
        )
    if t.shape_signature is not None and any(d < -1 for d in t.shape_signature):
        raise InvalidModelError(f"{at}: shape signature {list(t.shape_signature)} below -1")
    q = t.quantization
    if q is not None and q.scale is not None and q.zero_point is not None:
        if q.zero_point.size not in (0, q.scale.size):
            raise InvalidModelError(
                f"{at}: {q.scale.size} scales but {q.zero_point.size} zero points"
            )
        if q.scale.size > 1:
            if not 0 <= q.quantized_dimension < max(len(t.shape), 1):
                raise InvalidModelError(
                    f"{at}: quantized dimension {q.quantized_dimension} outside rank {len(t.shape)}"
                )
            if t.shape and t.shape[q.quantized_dimension] != q.scale.size:
                raise InvalidModelError(
                    f"{at}: {q.scale.size} scales for dimension {q.quantized_dimension} "
                    f"of size {t.shape[q.quantized_dimension]}"
                )
    np_type = t.dtype.numpy
    if t.data is not None and t.sparsity is None and np_type is not None and t.data.dtype == np_type:
        if t.data.size != math.prod(t.shape):
            raise InvalidModelError(
                f"{at}: {t.data.size} constant elements for shape {list(t.shape)}"
            )


def _verify_subgraph_references(model: Model, at: str, op: Operator) -> None:
    for options in (op.options, op.options2):
        if options is None or not is_dataclass(options):
            continue
        for f in fields(options):
            if not ("subgraph_index" in f.name or "subgraph_indices" in f.name):
                continue
            value = getattr(options, f.name)
            indices = value if isinstance(value, list) else [] if value is None else [value]
            for i in indices:
                if not 0 <= i < len(model.subgraphs):
                    raise InvalidModelError(
                        f"{at}: {f.name} {i} outside the model's {len(model.subgraphs)} subgraphs"
                    )
