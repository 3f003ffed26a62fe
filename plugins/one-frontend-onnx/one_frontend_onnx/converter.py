"""The driver: an ONNX ModelProto into a circle Model, node by node.

Each node is folded when its inputs are all known, else handed to the converter registered for
its operator type (`ops/`). Convolution-family converters work in circle's channels-last layout
and wrap themselves in Transposes; `layout.py` then moves those Transposes through the
layout-agnostic operators around them until they cancel, so only real boundaries keep one.
Problems are collected over the whole graph and reported together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from one_core.errors import ConversionError, OneError, UnsupportedOperatorError
from one_core.ir import DType, Model, SignatureDef, Subgraph, Tensor, verify
from one_core.ir.options import CastOptions, ReshapeOptions, ShapeOptions
from one_core.passes import layout
from one_core.passes.dce import remove_dead_operators

from .context import Context, Node, Shape, Unsupported, channels_first_perm, channels_last_perm, onnx_dtype
from .folding import fold
from .loading import tensor_array
from .ops import converter_for
from .options import ImportOptions
from .typeinfer import infer_node, infer_types

# ONNX operators whose circle counterparts compute in float32 only: float16 nodes are widened
WIDENED = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum"}


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
        self.problems: dict[tuple[str, str], list[str]] = {}  # (op type, reason) -> node names

    # --- whole model ------------------------------------------------------------------------------

    def convert(self) -> Model:
        graph = self.proto.graph
        overrides = self.options.input_shapes_for([i.name for i in self._real_inputs(graph)], self.label)
        self.types = infer_types(self.proto, overrides)
        main = self.model.add_subgraph(Subgraph(graph.name or "main"))
        cx = Context(self, main)
        self.convert_graph(graph, cx, overrides, boundary=True)
        if self.problems:
            count = sum(len(nodes) for nodes in self.problems.values())
            groups = []
            for (op_type, reason), nodes in self.problems.items():
                shown = ", ".join(f"'{n}'" for n in nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
                groups.append(f"{op_type} ({reason}): {shown}")
            raise UnsupportedOperatorError(
                f"{self.label}: {count} node{'s' if count > 1 else ''} cannot be converted: " + "; ".join(groups)
                + " (custom_ops=true keeps them as custom operators)",
                operators=list(dict.fromkeys(op for op, _ in self.problems)),
            )
        self.model.signature_defs.append(SignatureDef(
            "serving_default", main, [(i.name, t) for i, t in zip(self._real_inputs(graph), main.inputs)],
            [(o.name, t) for o, t in zip(graph.output, main.outputs)]))
        for sg in self.model.subgraphs:
            layout.propagate(sg)
            remove_dead_operators(sg)  # e.g. shape arithmetic whose result import already knew
            sg.remove_unused_tensors()
            layout.restore_names(sg)
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
            elem = info.type.tensor_type.elem_type
            inferred = self.types.get(info.name, (None, None))[0]
            dtype = inferred if not elem and inferred is not None else \
                onnx_dtype(elem, f"{self.label}: input '{info.name}'")
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
                t.name = cx.unique(info.name + "_nchw")  # the output's name goes to the channels-last tensor
                perm = channels_last_perm(rank)
                out = cx.sg.add_tensor(Tensor(info.name, t.dtype, tuple(t.shape[p] for p in perm),
                                              tuple(sig[p] for p in perm) if t.shape_signature else None))
                t = cx.transpose(t, perm, out)
            outputs.append(t)
        cx.sg.outputs = outputs

    def _graph_output(self, cx: Context, name: str, all_outputs: list[str]) -> Tensor:
        """The tensor for graph output `name`: named after it, and made by an operator (an output that
        is an input, a constant or another output gets a copy)."""
        t = cx.tensor(name)
        made_here = t.producer is not None and t not in cx.sg.outputs
        if made_here and t.name != name:
            owner = next((x for x in cx.sg.tensors if x.name == name and x is not t), None)
            if owner is not None and owner not in cx.sg.outputs and owner not in cx.sg.inputs:
                owner.name = cx.unique(f"{name}_value")  # a helper tensor took the output's name first
                owner = None
            if owner is None:
                t.name = name
        if made_here:
            return t
        if t.is_constant and t.name == name:  # the output's name goes to the copy below
            t.name = cx.unique(name + "_value")
        out = cx.sg.add_tensor(Tensor(name, t.dtype, ()))
        out.shape, out.shape_signature, out.has_rank = _output_dims(t, cx.shape(name) if t.is_constant else None)
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
        emitted, bound = len(cx.sg.operators), set(cx.values) | set(cx.consts)
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
            self._complete_types(cx, node)
            if node.op_type in WIDENED and node.domain in ("", "ai.onnx") and _has_float16(cx, node):
                self._convert_in_float32(cx, node, convert)
            else:
                convert(cx, node)
            missing = [o for o in node.outputs if o and not cx.knows(o)]
            if missing:
                raise ConversionError(f"converter left output(s) {missing} undefined")
        except ConversionError as exc:  # Unsupported included
            for op in cx.sg.operators[emitted:]:  # what the converter emitted before giving up
                cx.sg.remove_operator(op)
            for name in (set(cx.values) | set(cx.consts)) - bound:
                cx.values.pop(name, None)
                cx.consts.pop(name, None)
            self._unconvertible(cx, node, str(exc))

    def _convert_in_float32(self, cx: Context, node: Node, convert: Callable[[Context, Node], None]) -> None:
        """Convert `node` on float32 copies of its float16 inputs, casting its outputs back to
        float16 (circle's kernels for these operators are float32; ONNX runtimes widen too)."""
        inputs = []
        for name in node.inputs:
            if not name or cx.dtype(name) != DType.FLOAT16:
                inputs.append(name)
                continue
            wide = f"{name}::f32"
            if not cx.knows(wide):
                value = cx.const(name)
                if value is not None:
                    cx.set_const(wide, value.astype(np.float32))
                else:
                    cx.emit("CAST", [cx.tensor(name)], [cx.output(wide, DType.FLOAT32, cx.shape(name))],
                            CastOptions(in_data_type=DType.FLOAT16, out_data_type=DType.FLOAT32))
            inputs.append(wide)
        outputs = [f"{o}::f32" if o else "" for o in node.outputs]
        for name, wide in zip(node.outputs, outputs):
            if name:
                known = self.types.get(name, (None, None))
                cx.declare(wide, DType.FLOAT32 if known[0] in (None, DType.FLOAT16) else known[0], known[1])
        proto = onnx.NodeProto()
        proto.CopyFrom(node.proto)
        del proto.input[:], proto.output[:]
        proto.input.extend(inputs)
        proto.output.extend(outputs)
        convert(cx, Node(proto, node.opset))
        for name, wide in zip(node.outputs, outputs):
            if not name:
                continue
            t = cx.tensor(wide)
            if t.dtype == DType.FLOAT32 and self.types.get(name, (DType.FLOAT16, None))[0] == DType.FLOAT16:
                cx.emit("CAST", [t], [cx.output(name, DType.FLOAT16)],
                        CastOptions(in_data_type=DType.FLOAT32, out_data_type=DType.FLOAT16))
            else:
                cx.values[name] = t

    def _complete_types(self, cx: Context, node: Node) -> None:
        """Fill in output shapes ONNX's whole-model inference left unknown, from what conversion
        knows now (shapes of converted inputs, values folded at import)."""
        if all(self.types.get(o, (None, None))[1] is not None for o in node.outputs if o):
            return
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.proto.attribute):
            return
        inputs, values = {}, {}
        for name in node.inputs:
            if name and cx.knows(name):
                inputs[name] = (cx.dtype(name), cx.shape(name))
                value = cx.const(name)
                if value is not None:
                    values[name] = value
        for name, (dtype, shape) in infer_node(node.proto, node.opset, inputs, values).items():
            old = self.types.get(name, (None, None))
            if old[1] is None and shape is not None:
                self.types[name] = (old[0] or dtype, shape)

    def _unconvertible(self, cx: Context, node: Node, reason: str) -> None:
        if self.options.custom_ops:
            self._custom(cx, node)
            return
        self.problems.setdefault((node.op_type, reason), []).append(node.name)
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


def _has_float16(cx: Context, node: Node) -> bool:
    return any(name and cx.knows(name) and cx.dtype(name) == DType.FLOAT16 for name in node.inputs)


def _value_shape(info: onnx.ValueInfoProto) -> Shape | None:
    t = info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else None for d in t.shape.dim]


def _output_dims(t: Tensor, known: Shape | None) -> tuple[tuple[int, ...], tuple[int, ...] | None, bool]:
    """(shape, shape signature, has rank) for a copy of `t`, or of a value of shape `known`."""
    if known is not None:
        dims = tuple(1 if d is None else int(d) for d in known)
        sig = tuple(-1 if d is None else int(d) for d in known) if None in known else None
        return dims, sig, True
    return t.shape, t.shape_signature, t.has_rank


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

