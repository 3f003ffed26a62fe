"""Element types and shapes of every value, from ONNX's shape inference.

Inference runs on a light copy of the model: large initializers are replaced by graph inputs
of the same type and shape, so a 100 MB model is not serialized twice just to learn shapes.
Small initializers stay, because shape inference reads their values (Reshape's shape, ...).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from one_core.ir import DType

from .context import Shape

SMALL = 1 << 12  # initializers up to this many bytes keep their values for inference


def infer_types(model: onnx.ModelProto, overrides: dict[str, list[int]] | None) -> dict[str, tuple[DType | None, Shape | None]]:
    light = onnx.ModelProto()
    light.CopyFrom(_without_graph(model))
    graph = light.graph
    graph.CopyFrom(_light_graph(model.graph))
    for info in graph.input:
        shape = (overrides or {}).get(info.name)
        if shape is not None:
            dims = info.type.tensor_type.shape
            dims.Clear()
            for d in shape:
                dim = dims.dim.add()
                if d is not None and d >= 0:
                    dim.dim_value = int(d)
    try:
        inferred = onnx.shape_inference.infer_shapes(light, strict_mode=False, data_prop=True)
    except Exception:  # inference is a help, not a requirement: converters cope with unknowns
        inferred = light
    found: dict[str, tuple[DType | None, Shape | None]] = {}
    _collect(inferred.graph, found)
    return found


def _without_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    shell = onnx.ModelProto()
    shell.ir_version = model.ir_version
    shell.opset_import.extend(model.opset_import)
    shell.functions.extend(model.functions)
    return shell


def _light_graph(graph: onnx.GraphProto) -> onnx.GraphProto:
    light = onnx.GraphProto()
    light.name = graph.name
    light.node.extend(graph.node)
    light.output.extend(graph.output)
    light.value_info.extend(graph.value_info)
    inputs = {i.name for i in graph.input}
    light.input.extend(graph.input)
    for init in graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL and init.ByteSize() <= SMALL:
            light.initializer.append(init)
        elif init.name not in inputs:
            light.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return light


def _collect(graph: onnx.GraphProto, found: dict[str, tuple[DType | None, Shape | None]]) -> None:
    for info in (*graph.input, *graph.value_info, *graph.output):
        t = info.type.tensor_type
        if not info.type.HasField("tensor_type"):
            continue
        dtype = None
        if t.elem_type:
            try:
                dtype = DType.from_numpy(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
            except Exception:
                dtype = None
        shape = None
        if t.HasField("shape"):
            shape = [int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim]
        old = found.get(info.name)
        if old is None or (old[1] is None and shape is not None):
            found[info.name] = (dtype, shape)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _collect(attr.g, found)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    _collect(g, found)


def infer_node(node: onnx.NodeProto, opset: int, inputs: dict[str, tuple[DType, Shape | None]],
               values: dict[str, np.ndarray]) -> dict[str, tuple[DType | None, Shape | None]]:
    """Types and shapes of one node's outputs from ONNX's inference for that operator, given what
    conversion knows of its inputs: shapes, and values folded at import that ONNX's whole-model
    inference could not see (a Split whose sizes come from Shape arithmetic, ...)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, max_inclusive_version=opset, domain=node.domain)
    except Exception:
        return {}
    types = {}
    for name, (dtype, shape) in inputs.items():
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype.numpy)) if dtype.numpy is not None else 0
        types[name] = onnx.helper.make_tensor_type_proto(elem, None if shape is None else
                                                         [d if d is not None else None for d in shape])
    data = {n: numpy_helper.from_array(v, n) for n, v in values.items() if v.size <= SMALL}
    try:
        found = onnx.shape_inference.infer_node_outputs(schema, node, types, data)
    except Exception:
        return {}
    out: dict[str, tuple[DType | None, Shape | None]] = {}
    info = onnx.GraphProto()
    for name, proto in found.items():
        info.output.append(onnx.helper.make_value_info(name, proto))
    _collect(info, out)
    return out
