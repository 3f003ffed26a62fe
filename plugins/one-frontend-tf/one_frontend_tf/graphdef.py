"""Frozen GraphDef files: reading them, checking the requested arrays, describing custom ops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from one_core.errors import InputError, InvalidModelError

from .options import Options

_VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable"}


def read_graph_def(tf: Any, path: Path, label: str) -> Any:
    """Parse a binary GraphDef, or a text one (.pbtxt), as ONE's tf2tfliteV2 does."""
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError

    data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
        if graph_def.node or not data:
            return graph_def
    except (DecodeError, RuntimeError, ValueError):
        pass
    try:
        graph_def = tf.compat.v1.GraphDef()
        text_format.Merge(data.decode("utf-8"), graph_def)
        return graph_def
    except Exception:
        raise InvalidModelError(f"{label}: not a TensorFlow GraphDef (neither binary nor text protobuf)") from None


def _node_name(array: str) -> str:
    name = array[1:] if array.startswith("^") else array
    head, sep, port = name.rpartition(":")
    return head if sep and port.isdigit() else name


def check_arrays(graph_def: Any, options: Options, label: str) -> tuple[list[str], list[str]]:
    """The input and output arrays, checked against the graph's nodes."""
    nodes = {n.name: n for n in graph_def.node}
    placeholders = [n.name for n in graph_def.node if n.op in ("Placeholder", "PlaceholderWithDefault")]
    read = {_node_name(i) for n in graph_def.node for i in n.input}
    sinks = [n.name for n in graph_def.node if n.name not in read and n.op not in ("Const", "NoOp")]
    missing = [k for k, v in (("input_arrays", options.input_arrays), ("output_arrays", options.output_arrays)) if not v]
    if missing:
        raise InputError(
            f"{label}: a frozen GraphDef needs {' and '.join(missing)} "
            f"(placeholders: {', '.join(placeholders[:10]) or 'none'}; "
            f"nodes nothing reads: {', '.join(sinks[:10]) or 'none'})"
        )
    assert options.input_arrays is not None and options.output_arrays is not None
    for kind, arrays, hint in (("input_arrays", options.input_arrays, placeholders),
                               ("output_arrays", options.output_arrays, sinks)):
        absent = [a for a in arrays if _node_name(a) not in nodes]
        if absent:
            raise InputError(
                f"{label}: {kind} names {', '.join(repr(a) for a in absent)}, not in the GraphDef "
                f"({'placeholders' if kind == 'input_arrays' else 'nodes nothing reads'}: "
                f"{', '.join(hint[:10]) or 'none'})"
            )
    variables = [n.name for n in graph_def.node if n.op in _VARIABLE_OPS]
    if variables:
        raise InvalidModelError(
            f"{label}: the GraphDef is not frozen (variables: {', '.join(variables[:5])}"
            f"{', ...' if len(variables) > 5 else ''}); freeze it first (convert variables to constants)"
        )
    return options.input_arrays, options.output_arrays


def placeholder_shapes(graph_def: Any, names: list[str]) -> dict[str, list[int]]:
    """The declared shapes (-1 for unknown dimensions) of the named placeholders of known rank."""
    nodes = {n.name: n for n in graph_def.node}
    out = {}
    for name in names:
        node = nodes.get(_node_name(name))
        if node is not None and "shape" in node.attr and not node.attr["shape"].shape.unknown_rank:
            out[name] = [int(d.size) for d in node.attr["shape"].shape.dim]
    return out


def unknown_input_shapes(graph_def: Any, inputs: list[str], given: dict[str, list[int]]) -> list[str]:
    """Inputs whose placeholder has no known rank and no shape given."""
    nodes = {n.name: n for n in graph_def.node}
    out = []
    for name in inputs:
        node = nodes.get(_node_name(name))
        if node is None or _node_name(name) in given:
            continue
        shape = node.attr["shape"].shape if "shape" in node.attr else None
        if shape is None or shape.unknown_rank:
            out.append(name)
    return out


def register_unknown_ops(graph_def: Any) -> list[str]:
    """Register an OpDef for every op the graph uses that this TensorFlow does not know, so the
    converter can keep it as a custom operator (TensorFlow's `custom_opdefs`). The OpDef is
    inferred from the nodes: inputs typed by the node's type attribute `T` (or its first type
    attribute, else float), as many outputs as the graph reads, every attribute as it is."""
    from tensorflow.python.framework import op_def_registry

    library = {f.signature.name for f in graph_def.library.function}
    by_op: dict[str, list[Any]] = {}
    for node in graph_def.node:
        if node.op not in library and op_def_registry.get(node.op) is None:
            by_op.setdefault(node.op, []).append(node)
    if not by_op:
        return []
    ports: dict[str, int] = {}
    for node in graph_def.node:
        for i in node.input:
            if i.startswith("^"):
                continue
            head, sep, port = i.rpartition(":")
            if sep and port.isdigit():
                ports[head] = max(ports.get(head, 0), int(port))
    opdefs = []
    for op, nodes in by_op.items():
        node = nodes[0]
        n_in = max(len([i for i in n.input if not i.startswith("^")]) for n in nodes)
        n_out = 1 + max(ports.get(n.name, 0) for n in nodes)
        type_attr = "T" if "T" in node.attr and node.attr["T"].WhichOneof("value") == "type" else next(
            (k for k, v in node.attr.items() if v.WhichOneof("value") == "type" and not k.startswith("_")), None
        )
        typed = f"type_attr: '{type_attr}'" if type_attr else "type: DT_FLOAT"
        parts = [f"name: '{op}'"]
        parts += [f"input_arg {{ name: 'input_{i}' {typed} }}" for i in range(n_in)]
        parts += [f"output_arg {{ name: 'output_{i}' {typed} }}" for i in range(n_out)]
        for key, value in sorted(node.attr.items()):
            kind = _attr_kind(value)
            if kind and not key.startswith("_"):
                parts.append(f"attr {{ name: '{key}' type: '{kind}' }}")
        opdefs.append(" ".join(parts))
    from tensorflow.lite.python.convert import register_custom_opdefs

    register_custom_opdefs(opdefs)
    return sorted(by_op)


def _attr_kind(value: Any) -> str | None:
    which = value.WhichOneof("value")
    simple = {"type": "type", "i": "int", "f": "float", "b": "bool", "s": "string", "shape": "shape",
              "tensor": "tensor", "func": "func"}
    if which in simple:
        return simple[which]
    if which == "list":
        for field, kind in (("type", "type"), ("i", "int"), ("f", "float"), ("b", "bool"), ("s", "string"),
                            ("shape", "shape"), ("tensor", "tensor")):
            if len(getattr(value.list, field)):
                return f"list({kind})"
        return "list(int)"
    return None
