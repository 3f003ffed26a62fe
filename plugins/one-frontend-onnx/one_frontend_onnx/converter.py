"""The driver: an ONNX ModelProto into a circle Model, node by node.

Each node is folded when its inputs are all known, else handed to the converter registered for
its operator type (`ops/`). Convolution-family converters work in circle's channels-last layout
and wrap themselves in Transposes; `layout.py` then moves those Transposes through the
layout-agnostic operators around them until they cancel, so only real boundaries keep one.
Problems are collected over the whole graph and reported together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from one_core.errors import ConversionError, OneError, UnsupportedOperatorError
from one_core.ir import DType, Model, SignatureDef, Subgraph, Tensor, verify
from one_core.ir.options import ReshapeOptions, ShapeOptions

from . import layout
from .context import Context, Node, Shape, Unsupported, channels_first_perm, channels_last_perm, onnx_dtype
from .folding import fold
from .loading import tensor_array
from .ops import converter_for
from .options import ImportOptions


class GraphConverter:
    """Converts one ONNX model; `types` holds what ONNX shape inference found per value name."""

    def __init__(self, proto: onnx.ModelProto, label: str, folder: Path | None, options: ImportOptions) -> None:
        self.proto = proto
        self.label = label
        self.folder = folder
        self.options = options
        self.opsets = {o.domain or "": int(o.version) for o in proto.opset_import}
        self.opsets.setdefault("", 1)
        if "ai.onnx" in self.opsets:
            self.opsets[""] = self.opsets.pop("ai.onnx")
        self.types: dict[str, tuple[DType | None, Shape | None]] = {}
        self.model = Model(description=f"imported from ONNX by one-frontend-onnx ({proto.producer_name or 'unknown producer'})")
        self.problems: list[str] = []
        self.unsupported: list[str] = []

    # --- whole model ------------------------------------------------------------------------------

    def convert(self) -> Model:
        from .typeinfer import infer_types

        graph = self.proto.graph
        overrides = self.options.input_shapes_for([i.name for i in self._real_inputs(graph)], self.label)
        self.types = infer_types(self.proto, overrides)
        main = self.model.add_subgraph(Subgraph(graph.name or "main"))
        cx = Context(self, main)
        self.convert_graph(graph, cx, overrides, boundary=True)
        if self.problems:
            count = len(self.problems)
            raise UnsupportedOperatorError(
                f"{self.label}: {count} node{'s' if count > 1 else ''} cannot be converted: " + "; ".join(self.problems)
                + ("" if self.options.custom_ops else " (use custom_ops=true to keep them as custom operators)"),
                operators=self.unsupported,
            )
        self.model.signature_defs.append(SignatureDef(
            "serving_default", main, [(i.name, t) for i, t in zip(self._real_inputs(graph), main.inputs)],
            [(o.name, t) for o, t in zip(graph.output, main.outputs)]))
        for sg in self.model.subgraphs:
            layout.propagate(sg)
            sg.remove_unused_tensors()
        try:
            verify(self.model)
        except OneError as exc:
            raise ConversionError(f"{self.label}: the converted model is invalid ({exc})") from None
        return self.model

    def _real_inputs(self, graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
        """Graph inputs that are not initializers (old models list initializers as inputs too)."""
        inits = {t.name for t in graph.initializer}
        return [i for i in graph.input if i.name not in inits]

    # --- one graph --------------------------------------------------------------------------------

    def convert_graph(self, graph: onnx.GraphProto, cx: Context, overrides: dict[str, list[int]] | None = None,
                      boundary: bool = False) -> None:
        """Convert `graph` into `cx.sg`: initializers, inputs, nodes, outputs."""
        for init in graph.initializer:
            cx.set_const(init.name, tensor_array(init, self.folder, self.label))
        for sparse in graph.sparse_initializer:
            cx.set_const(sparse.values.name, _sparse_to_dense(sparse, self.folder, self.label))
        nhwc = boundary and self.options.io_layout == "nhwc"
        for info in self._real_inputs(graph):
            shape = (overrides or {}).get(info.name) or _value_shape(info)
            dtype = onnx_dtype(info.type.tensor_type.elem_type, f"{self.label}: input '{info.name}'")
            if nhwc and shape is not None and 3 <= len(shape) <= 5:
                outer = cx.new_tensor(info.name, dtype, [shape[p] for p in channels_last_perm(len(shape))])
                cx.values[info.name] = cx.transpose(outer, channels_first_perm(len(shape)))
            else:
                outer = cx.output(info.name, dtype, shape)
            cx.sg.inputs.append(outer)
        for proto in graph.node:
            self.convert_node(cx, Node(proto, self.opsets.get(proto.domain or "", 1)))
        if self.problems:
            return
        outputs = []
        for info in graph.output:
            t = self._graph_output(cx, info.name, [o.name for o in graph.output])
            rank = t.rank if t.shape or t.has_rank else 0
            if nhwc and 3 <= rank <= 5:
                sig = t.shape_signature or t.shape
                out = cx.new_tensor(info.name + "_nhwc", t.dtype,
                                    [None if sig[p] < 0 else t.shape[p] for p in channels_last_perm(rank)])
                t = cx.transpose(t, channels_last_perm(rank), out)
            outputs.append(t)
        cx.sg.outputs = outputs

    def _graph_output(self, cx: Context, name: str, all_outputs: list[str]) -> Tensor:
        """The tensor for graph output `name`: named after it, and made by an operator (an output that
        is an input, a constant or another output gets a copy)."""
        t = cx.tensor(name)
        made_here = t.producer is not None and t not in cx.sg.outputs
        if made_here and t.name != name:
            owner = next((x for x in cx.sg.tensors if x.name == name and x is not t), None)
            if owner is None:
                t.name = name
        if made_here:
            return t
        out = cx.new_tensor(name, t.dtype, cx.shape(name) if t.is_constant else _tensor_shape(t))
        shape = cx.static_shape(name)
        if shape is not None:
            cx.emit("RESHAPE", [t, cx.constant(np.array(shape, np.int32), "shape")], [out],
                    ReshapeOptions(new_shape=list(shape)))
        else:
            shape_t = cx.temp(name + "_shape", DType.INT32, [t.rank])
            cx.emit("SHAPE", [t], [shape_t], ShapeOptions(out_type=DType.INT32))
            cx.emit("RESHAPE", [t, shape_t], [out], ReshapeOptions())
        return out

    def convert_node(self, cx: Context, node: Node) -> None:
        try:
            values = [cx.const(n) if n else None for n in node.inputs]
            if all(v is not None for n, v in zip(node.inputs, values) if n) and all(node.outputs):
                folded = fold(node, values, self.opsets)
                if folded is not None and len(folded) == len(node.outputs):
                    for name, value in zip(node.outputs, folded):
                        cx.set_const(name, value)
                    return
            convert = converter_for(node.domain, node.op_type)
            if convert is None:
                raise Unsupported("no converter for this operator"
                                  + (f" in domain '{node.domain}'" if node.domain not in ("", "ai.onnx") else ""))
            convert(cx, node)
            missing = [o for o in node.outputs if o and not cx.knows(o)]
            if missing:
                raise ConversionError(f"converter left output(s) {missing} undefined")
        except Unsupported as exc:
            self._unconvertible(cx, node, str(exc))
        except ConversionError as exc:
            self._unconvertible(cx, node, str(exc))

    def _unconvertible(self, cx: Context, node: Node, reason: str) -> None:
        if self.options.custom_ops:
            self._custom(cx, node)
            return
        self.problems.append(f"node '{node.name}' ({node.op_type}): {reason}")
        self.unsupported.append(node.op_type)
        for name in node.outputs:  # placeholders, so later nodes can be checked too
            if name and not cx.knows(name):
                known = self.types.get(name, (None, None))
                cx.values[name] = cx.new_tensor(name, known[0] or DType.FLOAT32, known[1])

    def _custom(self, cx: Context, node: Node) -> None:
        """Keep the node as a circle custom operator: custom code is the op type (domain-qualified
        outside the standard domain), custom options the serialized NodeProto."""
        outputs = []
        for name in node.outputs:
            if not name:
                continue
            known = self.types.get(name, (None, None))
            outputs.append(cx.values.get(name) or cx.output(name, known[0] or DType.FLOAT32))
        code = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        cx.emit("CUSTOM", [cx.optional(n) for n in node.inputs], outputs, custom_code=code,
                custom_options=node.proto.SerializeToString())

    def subgraph(self, graph: onnx.GraphProto, outer: Context, name: str) -> tuple[int, Context]:
        """Convert a control-flow body into a new circle subgraph; returns its index and context
        (whose `captures` lists the outer values it reads, appended to its inputs)."""
        sg = self.model.add_subgraph(Subgraph(name))
        cx = Context(self, sg, outer)
        self.convert_graph(graph, cx)
        sg.inputs.extend(cx.values[n] for n in cx.captures)
        return self.model.subgraphs.index(sg), cx


def _value_shape(info: onnx.ValueInfoProto) -> Shape | None:
    t = info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else None for d in t.shape.dim]


def _tensor_shape(t: Tensor) -> Shape | None:
    if not t.shape and not t.has_rank:
        return None
    sig = t.shape_signature or t.shape
    return [None if d < 0 else int(d) for d in sig]


def _sparse_to_dense(sparse: onnx.SparseTensorProto, folder: Path | None, label: str) -> np.ndarray:
    values = tensor_array(sparse.values, folder, label)
    indices = tensor_array(sparse.indices, folder, label).astype(np.int64)
    dense = np.zeros(tuple(sparse.dims), values.dtype)
    flat = dense.reshape(-1)
    if indices.ndim == 2:
        indices = np.ravel_multi_index(tuple(indices.T), dense.shape)
    if indices.size and (indices.min() < 0 or indices.max() >= flat.size):
        raise ConversionError(f"{label}: sparse initializer '{sparse.values.name}' has indices out of range")
    flat[indices] = values
    return dense

