"""Field-by-field comparison of two models, for tests and for users checking a conversion."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np

from .graph import Subgraph
from .model import Model
from .tensor import Tensor

_TENSOR_FIELDS = (
    "name", "dtype", "shape", "shape_signature", "data", "quantization", "sparsity",
    "is_variable", "has_rank", "variant_tensors", "compression_type",
)
_OPERATOR_FIELDS = (
    "name", "version", "custom_code", "options", "options2", "custom_options",
    "custom_options_format", "mutating_variable_inputs", "debug_metadata_index",
)


def diff_models(a: Model, b: Model) -> list[str]:
    """Every difference between two models, one line each (empty when they are equal).

    Tensors are compared by position and content, operators by type, options and the positions
    of the tensors they connect."""
    out: list[str] = []
    _diff(out, "model.version", a.version, b.version)
    _diff(out, "model.description", a.description, b.description)
    _diff(out, "model.metadata", a.metadata, b.metadata)
    _diff(out, "model.legacy_metadata_buffers", a.legacy_metadata_buffers, b.legacy_metadata_buffers)
    if len(a.subgraphs) != len(b.subgraphs):
        out.append(f"model: {len(a.subgraphs)} subgraphs vs {len(b.subgraphs)}")
        return out
    for i, (sa, sb) in enumerate(zip(a.subgraphs, b.subgraphs)):
        _diff_subgraph(out, f"subgraph {i}", sa, sb)
    if len(a.signature_defs) != len(b.signature_defs):
        out.append(f"model: {len(a.signature_defs)} signature defs vs {len(b.signature_defs)}")
        return out
    for sa, sb in zip(a.signature_defs, b.signature_defs):
        at = f"signature '{sa.key}'"
        _diff(out, f"{at} key", sa.key, sb.key)
        _diff(out, f"{at} subgraph", a.subgraph_index(sa.subgraph), b.subgraph_index(sb.subgraph))
        for kind in ("inputs", "outputs"):
            pa = [(n, _position(sa.subgraph, t)) for n, t in getattr(sa, kind)]
            pb = [(n, _position(sb.subgraph, t)) for n, t in getattr(sb, kind)]
            _diff(out, f"{at} {kind}", pa, pb)
    return out


def _diff_subgraph(out: list[str], at: str, a: Subgraph, b: Subgraph) -> None:
    _diff(out, f"{at} name", a.name, b.name)
    _diff(out, f"{at} debug_metadata_index", a.debug_metadata_index, b.debug_metadata_index)
    if len(a.tensors) != len(b.tensors):
        out.append(f"{at}: {len(a.tensors)} tensors vs {len(b.tensors)}")
        return
    for i, (ta, tb) in enumerate(zip(a.tensors, b.tensors)):
        for name in _TENSOR_FIELDS:
            _diff(out, f"{at}, tensor {i} ('{ta.name}') {name}", getattr(ta, name), getattr(tb, name))
    _diff(out, f"{at} inputs", [_position(a, t) for t in a.inputs], [_position(b, t) for t in b.inputs])
    _diff(out, f"{at} outputs", [_position(a, t) for t in a.outputs], [_position(b, t) for t in b.outputs])
    if len(a.operators) != len(b.operators):
        out.append(f"{at}: {len(a.operators)} operators vs {len(b.operators)}")
        return
    for i, (oa, ob) in enumerate(zip(a.operators, b.operators)):
        where = f"{at}, operator {i} ({oa.type})"
        for name in _OPERATOR_FIELDS:
            _diff(out, f"{where} {name}", getattr(oa, name), getattr(ob, name))
        for kind in ("inputs", "outputs", "intermediates"):
            pa = [_position(a, t) for t in getattr(oa, kind)]
            pb = [_position(b, t) for t in getattr(ob, kind)]
            _diff(out, f"{where} {kind}", pa, pb)


def _position(sg: Subgraph, t: Tensor | None) -> int:
    if t is None:
        return -1
    for i, x in enumerate(sg.tensors):
        if x is t:
            return i
    return -2


def _diff(out: list[str], at: str, a: Any, b: Any) -> None:
    if not _equal(a, b):
        out.append(f"{at}: {_short(a)} vs {_short(b)}")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            _equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a) if f.compare
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(a == b)


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array({v.dtype}, shape={list(v.shape)})"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."
