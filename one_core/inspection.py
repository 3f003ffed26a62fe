"""A readable description of a model, as ONE's circledump gives, in text or JSON form."""

from __future__ import annotations

import enum
from dataclasses import fields
from typing import Any

from .ir.model import Model
from .ir.operators import OPCODES
from .ir.tensor import Tensor


def describe(model: Model) -> dict[str, Any]:
    """Everything `one inspect` shows, as plain JSON-ready data."""
    codes: dict[tuple[str, int, str | None], int] = {}
    for _, op in model.operators():
        codes.setdefault((op.name, op.version, op.custom_code), len(codes))
    return {
        "source": model.source,
        "version": model.version,
        "description": model.description,
        "operator_codes": [
            {"index": i, "name": name, "code": OPCODES[name], "version": version, "custom_code": custom}
            for (name, version, custom), i in codes.items()
        ],
        "subgraphs": [_subgraph(sg) for sg in model.subgraphs],
        "signature_defs": [
            {
                "key": sig.key,
                "subgraph": model.subgraph_index(sig.subgraph),
                "inputs": {n: _index(sig.subgraph.tensors, t) for n, t in sig.inputs},
                "outputs": {n: _index(sig.subgraph.tensors, t) for n, t in sig.outputs},
            }
            for sig in model.signature_defs
        ],
        "metadata": {name: _metadata_value(data) for name, data in model.metadata.items()},
    }


def _subgraph(sg: Any) -> dict[str, Any]:
    tensors = sg.tensors
    return {
        "name": sg.name,
        "inputs": [_index(tensors, t) for t in sg.inputs],
        "outputs": [_index(tensors, t) for t in sg.outputs],
        "tensors": [_tensor(i, t) for i, t in enumerate(tensors)],
        "operators": [
            {
                "index": i,
                "type": op.type,
                "version": op.version,
                "options": _options(op.options),
                **({"options2": _options(op.options2)} if op.options2 is not None else {}),
                "inputs": [_index(tensors, t) for t in op.inputs],
                "outputs": [_index(tensors, t) for t in op.outputs],
                **({"intermediates": [_index(tensors, t) for t in op.intermediates]} if op.intermediates else {}),
                **({"custom_options_bytes": len(op.custom_options)} if op.custom_options is not None else {}),
            }
            for i, op in enumerate(sg.operators)
        ],
    }


def _tensor(i: int, t: Tensor) -> dict[str, Any]:
    d: dict[str, Any] = {"index": i, "name": t.name, "dtype": t.dtype.name, "shape": list(t.shape)}
    if t.shape_signature is not None and list(t.shape_signature) != list(t.shape):
        d["shape_signature"] = list(t.shape_signature)
    if t.data is not None:
        d["buffer_bytes"] = t.nbytes
    if t.is_variable:
        d["variable"] = True
    q = t.quantization
    if q is not None:
        d["quantization"] = {
            k: v.tolist()
            for k, v in (("scale", q.scale), ("zero_point", q.zero_point), ("min", q.min), ("max", q.max))
            if v is not None and v.size
        }
        if q.scale is not None and q.scale.size > 1:
            d["quantization"]["quantized_dimension"] = q.quantized_dimension
        if q.details is not None:
            d["quantization"]["details"] = type(q.details).__name__
    if t.sparsity is not None:
        d["sparsity"] = {
            "traversal_order": t.sparsity.traversal_order,
            "block_map": t.sparsity.block_map,
            "dim_formats": ["SPARSE_CSR" if m.format else "DENSE" for m in t.sparsity.dim_metadata or []],
        }
    return d


def _options(options: Any) -> dict[str, Any] | None:
    if options is None:
        return None
    out: dict[str, Any] = {"type": type(options).__name__}
    for f in fields(options):
        value = getattr(options, f.name)
        if isinstance(value, enum.Enum):
            value = value.name
        elif isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        out[f.name] = value
    return out


def _index(tensors: list[Tensor], t: Tensor | None) -> int:
    if t is None:
        return -1
    for i, x in enumerate(tensors):
        if x is t:
            return i
    return -2


def _metadata_value(data: bytes) -> str:
    if len(data) <= 64:
        try:
            text = data.rstrip(b"\0").decode("utf-8")
            if text.isprintable():
                return text
        except UnicodeDecodeError:
            pass
    return f"<{len(data)} bytes>"


def render_text(desc: dict[str, Any], max_values: int = 8) -> str:
    """The description as text for people, long value lists shortened."""
    lines = [f"Model: {desc['source']}", f"  schema version {desc['version']}"]
    if desc["description"]:
        lines.append(f"  description: {desc['description']}")
    lines.append("")
    lines.append("Operator codes:")
    for c in desc["operator_codes"]:
        custom = f" custom '{c['custom_code']}'" if c["custom_code"] else ""
        lines.append(f"  [{c['index']}] {c['name']} (code {c['code']}, version {c['version']}){custom}")
    for si, sg in enumerate(desc["subgraphs"]):
        lines += _render_subgraph(si, sg, max_values)
    if desc["signature_defs"]:
        lines += ["", "Signatures:"]
        for sig in desc["signature_defs"]:
            lines.append(f"  '{sig['key']}' -> subgraph {sig['subgraph']}")
            for kind in ("inputs", "outputs"):
                for name, i in sig[kind].items():
                    lines.append(f"    {kind[:-1]} '{name}' -> T({sig['subgraph']}:{i})")
    if desc["metadata"]:
        lines += ["", "Metadata:"]
        for name, value in desc["metadata"].items():
            lines.append(f"  {name}: {value}")
    return "\n".join(lines)


def _render_subgraph(si: int, sg: dict[str, Any], max_values: int) -> list[str]:
    tensors = sg["tensors"]

    def ref(i: int) -> str:
        return "-" if i < 0 else f"T({si}:{i}) {tensors[i]['name']}"

    lines = ["", f"Subgraph #{si} '{sg['name']}'"]
    lines.append("  Inputs:  " + ", ".join(ref(i) for i in sg["inputs"]))
    lines.append("  Outputs: " + ", ".join(ref(i) for i in sg["outputs"]))
    lines.append("  Tensors:")
    for t in tensors:
        extra = []
        if "shape_signature" in t:
            extra.append(f"signature {t['shape_signature']}")
        if "buffer_bytes" in t:
            extra.append(f"const {t['buffer_bytes']} B")
        if t.get("variable"):
            extra.append("variable")
        lines.append(
            f"    T({si}:{t['index']}) {t['dtype']} {t['shape']} {t['name']}"
            + (f"  ({', '.join(extra)})" if extra else "")
        )
        if "quantization" in t:
            q = ", ".join(f"{k}={_short(v, max_values)}" for k, v in t["quantization"].items())
            lines.append(f"        quantization: {q}")
        if "sparsity" in t:
            lines.append(f"        sparsity: {t['sparsity']}")
    lines.append("  Operators:")
    for op in sg["operators"]:
        lines.append(f"    O({si}:{op['index']}) {op['type']} v{op['version']}")
        for key in ("options", "options2"):
            opts = op.get(key)
            if opts:
                body = ", ".join(f"{k}={_short(v, max_values)}" for k, v in opts.items() if k != "type")
                lines.append(f"        {opts['type']}({body})")
        if "custom_options_bytes" in op:
            lines.append(f"        custom options: {op['custom_options_bytes']} bytes")
        for i in op["inputs"]:
            lines.append(f"        I {ref(i)}")
        for i in op["outputs"]:
            lines.append(f"        O {ref(i)}")
    return lines


def _short(v: Any, n: int) -> str:
    if isinstance(v, list) and len(v) > n:
        return "[" + ", ".join(map(_fmt, v[:n])) + f", ... ({len(v)} values)]"
    if isinstance(v, list):
        return "[" + ", ".join(map(_fmt, v)) + "]"
    return _fmt(v)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
