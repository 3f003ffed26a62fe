"""Control flow: If as circle IF (or the taken branch inlined when the condition is known at
import), Loop and Scan as circle WHILE.

Bodies become subgraphs of their own; the outer values a body reads (its context's `captures`)
are appended to its inputs, and the operator passes them. A WHILE body must give back every
loop variable, so loop-invariant ones (captures, a run-time trip count, the sequences a Scan
reads) are copied through. Scan outputs grow by one slice per iteration with CONCATENATION,
from an empty initial value, which gives exactly ONNX's stacked result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx

from one_core.ir import DType, Subgraph, Tensor
from one_core.ir.options import (
    ConcatenationOptions,
    ExpandDimsOptions,
    GatherOptions,
    IfOptions,
    PackOptions,
    ReshapeOptions,
    ShapeOptions,
    WhileOptions,
)

from ..context import Context, Node, Shape, Unsupported
from ..loading import tensor_array
from . import converts
from .common import Emitter, Value, axis_of, int32_const, value_shape


ValueType = tuple[DType, Shape | None]


@converts("If")
def if_(cx: Context, node: Node) -> None:
    branches = [node.attr("then_branch"), node.attr("else_branch")]
    cond = cx.const(node.input(0))
    if cond is not None:
        _inline(cx, node, branches[0] if bool(np.asarray(cond).reshape(-1)[0]) else branches[1])
        return
    converted = [cx.graph.subgraph(g, cx, f"{node.name}_{label}") for g, label in zip(branches, ("then", "else"))]
    for (index, _), graph in zip(converted, branches):
        _check_body(cx, index, graph)
    captures = list(dict.fromkeys(name for _, body in converted for name in body.captures))
    for index, body in converted:  # both branches take every capture, in the same order
        cx.graph.model.subgraphs[index].inputs = [body.tensor(name) for name in captures]
    then_outputs = cx.graph.model.subgraphs[converted[0][0]].outputs
    outputs = [cx.output(name, t.dtype) for name, t in zip(node.outputs, then_outputs)]
    cx.emit("IF", [cx.tensor(node.input(0)), *[cx.tensor(name) for name in captures]], outputs,
            IfOptions(then_subgraph_index=converted[0][0], else_subgraph_index=converted[1][0]))


def _inline(cx: Context, node: Node, graph: onnx.GraphProto) -> None:
    """Convert the nodes of `graph` into the current subgraph, its outputs becoming the node's."""
    for init in graph.initializer:
        cx.set_const(init.name, tensor_array(init, cx.graph.folder, cx.graph.label))
    for proto in graph.node:
        cx.graph.convert_node(cx, Node(proto, cx.graph.opsets.get(proto.domain or "", 1)))
    for name, info in zip(node.outputs, graph.output):
        value = cx.const(info.name)
        if value is not None:
            cx.set_const(name, value)
        else:
            cx.values[name] = cx.tensor(info.name)


class WhileLoop:
    """A circle WHILE made from an ONNX body: the loop variables as (value before the loop, body
    input, body output) triples, and a condition subgraph over the same variables."""

    def __init__(self, cx: Context, node: Node, body: onnx.GraphProto, types: Sequence[ValueType]) -> None:
        """`types`: of the body's inputs, for those it leaves untyped (ONNX allows it)."""
        self.cx, self.node = cx, node
        self.index, self.body = cx.graph.subgraph(_typed(body, types), cx, f"{node.name}_body")
        self.sg = _check_body(cx, self.index, body)
        self.onnx_inputs = list(self.sg.inputs[:len(body.input)])
        self.onnx_outputs = list(self.sg.outputs)
        self.inits: list[Value] = []
        self.insides: list[Tensor] = []
        self.results: list[Tensor] = []

    def carry(self, init: Value | None, inside: Tensor, result: Value | None = None) -> int:
        """Add a loop variable (its initial value may be set per emission); without `result` it
        goes through the body unchanged. Returns its position."""
        self.inits.append(init)  # type: ignore[arg-type]
        self.insides.append(inside)
        self.results.append(result if isinstance(result, Tensor) else _copy(self.body, inside))
        return len(self.inits) - 1

    def new_input(self, hint: str, dtype: DType, shape: Sequence[int | None] | None) -> Tensor:
        return self.body.new_tensor(f"{self.node.name}_{hint}", dtype, shape)

    def counter(self, dtype: DType) -> Tensor:
        """A loop variable counting iterations from 0."""
        e = Emitter(self.body, f"{self.node.name}_next")
        inside = self.new_input("iteration", dtype, [])
        self.carry(np.zeros((), dtype.numpy), inside, e.add(inside, 1))
        return inside

    def stack(self, element: Tensor, axis: int, reverse: bool) -> int:
        """A loop variable stacking `element` (a body value) of every iteration along `axis`;
        returns its position."""
        shape = value_shape(element)
        if element.shape == () and not element.has_rank or None in shape:
            raise Unsupported(f"the shape of scan output '{element.name}' must be known at import")
        axis = axis_of(self.node, axis, len(shape) + 1)
        inside = self.new_input(f"{element.name}_stacked", element.dtype, [*shape[:axis], None, *shape[axis:]])
        e = Emitter(self.body, f"{element.name}_stacked")
        one = e.op("EXPAND_DIMS", [element, np.array(axis, np.int32)], element.dtype,
                   [*shape[:axis], 1, *shape[axis:]], ExpandDimsOptions())
        parts = [one, inside] if reverse else [inside, one]
        grown = e.op("CONCATENATION", parts, element.dtype, value_shape(inside), ConcatenationOptions(axis=axis))
        return self.carry(np.zeros([*shape[:axis], 0, *shape[axis:]], element.dtype.numpy), inside, grown)

    def build(self, condition: Callable[[Context, list[Tensor]], Tensor]) -> WhileOptions:
        """Finish the body (captures become loop variables too) and make the condition subgraph,
        `condition` computing its boolean from its inputs."""
        for name in self.body.captures:
            self.carry(self.cx.tensor(name), self.body.values[name])
        self.sg.inputs, self.sg.outputs = list(self.insides), list(self.results)
        cond_sg = self.cx.graph.model.add_subgraph(Subgraph(f"{self.node.name}_cond"))
        ccx = Context(self.cx.graph, cond_sg)
        cond_sg.inputs = [ccx.new_tensor(t.name, t.dtype, _known_shape(t)) for t in self.insides]
        cond_sg.outputs = [condition(ccx, cond_sg.inputs)]
        return WhileOptions(cond_subgraph_index=self.cx.graph.model.subgraphs.index(cond_sg),
                            body_subgraph_index=self.index)

    def emit(self, options: WhileOptions, inits: Sequence[Value], outputs: dict[int, Tensor]) -> list[Tensor]:
        """The WHILE operator from `inits`; `outputs` gives the tensors of some variables' final
        values (the others get new ones). Returns every final value."""
        e = Emitter(self.cx, f"{self.node.name}_final")
        finals = [outputs[i] if i in outputs else self.cx.temp(e.hint, t.dtype, _known_shape(t))
                  for i, t in enumerate(self.insides)]
        self.cx.emit("WHILE", [e.tensor(v) for v in inits], finals, options)
        return finals


@converts("Loop")
def loop(cx: Context, node: Node) -> None:
    """Variables: iteration, condition, the loop-carried values, the scan outputs, the trip count
    when it is computed at run time, captures."""
    trip, cond = node.input(0), node.input(1)
    if not trip and not cond:
        raise Unsupported("a Loop with neither a trip count nor a condition does not end")
    carried = [(cx.dtype(name), cx.shape(name)) for name in node.inputs[2:]]
    w = WhileLoop(cx, node, node.attr("body"), [(DType.INT64, []), (DType.BOOL, []), *carried])
    iteration, cond_in, *carried_in = w.onnx_inputs
    cond_out, *body_outputs = w.onnx_outputs
    count = len(carried_in)
    w.carry(np.zeros((), np.int64), iteration, Emitter(w.body, f"{node.name}_next").add(iteration, 1))
    w.carry(cx.tensor(cond) if cond else np.array(True), cond_in, cond_out)
    at = [w.carry(cx.tensor(name), inside, result) for name, inside, result in zip(node.inputs[2:], carried_in,
                                                                                    body_outputs)]
    at += [w.stack(element, 0, False) for element in body_outputs[count:]]
    limit = cx.const(trip)
    if trip and limit is None:
        position = w.carry(cx.tensor(trip), w.new_input("trip_count", cx.dtype(trip), cx.shape(trip)))

    def condition(ccx: Context, ins: list[Tensor]) -> Tensor:
        ce = Emitter(ccx, f"{node.name}_cond")
        test: Value | None = ins[1] if cond else None
        if trip:
            below = ce.binary("LESS", ins[0], ins[position] if limit is None else np.asarray(limit).reshape(()))
            test = below if test is None else ce.binary("LOGICAL_AND", below, test)
        return _copy(ccx, test) if test is ins[1] else test  # type: ignore[return-value,arg-type]

    options = w.build(condition)
    w.emit(options, w.inits, {i: cx.output(name, w.insides[i].dtype) for i, name in zip(at, node.outputs) if name})


@converts("Scan")
def scan(cx: Context, node: Node) -> None:
    """Opset 9+: variables are an int32 iteration, the states, the scan outputs, the scanned
    sequences, captures; an iteration first gathers its element of every sequence. Opset 8 (a
    batch axis first, outputs always forward) runs one such WHILE per batch entry."""
    batched = node.opset < 9
    if batched and node.input(0):
        raise Unsupported("sequence_lens of an opset-8 Scan")
    names = node.inputs[1:] if batched else node.inputs
    m = int(node.attr("num_scan_inputs"))
    states, sequences = names[:len(names) - m], names[len(names) - m:]
    first = int(batched)  # the axis after the batch axis, when there is one
    ranks = [cx.need_rank(node, s) for s in sequences]
    in_axes = [first] * m if batched else [axis_of(node, a, r)
                                            for a, r in zip(node.attr("scan_input_axes", [0] * m), ranks)]
    in_dirs = node.attr("directions" if batched else "scan_input_directions", [0] * m)
    known = {cx.shape(s)[a] for s, a in zip(sequences, in_axes)} - {None}  # type: ignore[index]
    if len(known) > 1:
        raise Unsupported(f"scanned sequences of different lengths {sorted(known)}")
    batches: Sequence[int | None] = [None]
    if batched:
        size = cx.shape(sequences[0])[0]  # type: ignore[index]
        if size is None:
            raise Unsupported("the batch size of an opset-8 Scan must be known at import")
        batches = range(size)
    types = [(cx.dtype(name), None if cx.shape(name) is None else cx.shape(name)[first:]) for name in states]
    for name, axis in zip(sequences, in_axes):
        shape = cx.shape(name)
        types.append((cx.dtype(name), shape[first:axis] + shape[axis + 1:]))  # type: ignore[index,operator]
    w = WhileLoop(cx, node, node.attr("body"), types)
    n_out = len(w.onnx_outputs) - len(states)
    iteration = w.counter(DType.INT32)
    length_at = None if known else w.carry(_length(cx, sequences[0], in_axes[0]),
                                           w.new_input("length", DType.INT32, []))
    steps = known.pop() if known else w.insides[length_at]  # type: ignore[index]
    n_states = len(states)
    at = [w.carry(None, inside, result) for inside, result in zip(w.onnx_inputs[:n_states], w.onnx_outputs)]
    out_at = at + [w.stack(element, axis, bool(reverse)) for element, axis, reverse in zip(
        w.onnx_outputs[n_states:], node.attr("scan_output_axes", [0] * n_out),
        node.attr("scan_output_directions", [0] * n_out))]
    at += _gather_elements(w, iteration, w.onnx_inputs[n_states:], sequences, in_axes, in_dirs, steps, first)

    def condition(ccx: Context, ins: list[Tensor]) -> Tensor:
        bound = steps if length_at is None else ins[length_at]
        return Emitter(ccx, f"{node.name}_cond").binary("LESS", ins[0], bound)  # type: ignore[return-value]

    options = w.build(condition)
    results = []
    for b in batches:
        inits = list(w.inits)
        for position, name in zip(at, states + sequences):
            inits[position] = cx.tensor(name) if b is None else _take(cx, name, b)
        outputs = {} if batched else {i: cx.output(name, w.insides[i].dtype)
                                      for i, name in zip(out_at, node.outputs) if name}
        results.append(w.emit(options, inits, outputs))
    for i, name in zip(out_at, node.outputs if batched else []):
        if name:
            finals = [r[i] for r in results]
            cx.emit("PACK", finals, [cx.output(name, finals[0].dtype)], PackOptions(values_count=len(finals), axis=0))


def _gather_elements(w: WhileLoop, iteration: Tensor, elements: list[Tensor], sequences: list[str],
                     axes: list[int], directions: list[int], steps: int | Tensor, first: int) -> list[int]:
    """Make the body's scan-input elements by gathering them, at the start of the body, from whole
    sequences carried through the loop; returns the positions of those sequences."""
    body = w.body
    start = len(w.sg.operators)
    e = Emitter(body, f"{w.node.name}_index")
    last = np.int32(steps - 1) if isinstance(steps, int) else e.sub(steps, 1)
    backward = e.sub(last, iteration) if any(directions) else None
    positions = []
    for element, name, axis, reverse in zip(elements, sequences, axes, directions):
        inside = w.new_input(name, w.cx.dtype(name), w.cx.shape(name)[first:])  # type: ignore[index]
        positions.append(w.carry(None, inside))
        body.emit("GATHER", [inside, backward if reverse else iteration], [element],
                  GatherOptions(axis=axis - first, batch_dims=0))
    w.sg.operators[:] = w.sg.operators[start:] + w.sg.operators[:start]
    return positions


def _typed(body: onnx.GraphProto, types: Sequence[ValueType]) -> onnx.GraphProto:
    """body, with `types` given to the inputs it leaves untyped."""
    missing = [i for i, info in enumerate(body.input) if not info.type.tensor_type.elem_type]
    if not missing:
        return body
    typed = onnx.GraphProto()
    typed.CopyFrom(body)
    for i in missing:
        dtype, shape = types[i]
        typed.input[i].CopyFrom(onnx.helper.make_tensor_value_info(
            body.input[i].name, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype.numpy)), shape))
    return typed


def _check_body(cx: Context, index: int, graph: onnx.GraphProto) -> Subgraph:
    """The converted subgraph `index`; Unsupported when some node of it could not be converted."""
    sg = cx.graph.model.subgraphs[index]
    if len(sg.outputs) != len(graph.output):
        raise Unsupported(f"subgraph '{graph.name}' cannot be converted")
    return sg


def _length(cx: Context, name: str, axis: int) -> Tensor:
    """Dimension `axis` of `name`, computed at run time (int32 scalar)."""
    e = Emitter(cx, f"{name}_length")
    dims = e.op("SHAPE", [cx.tensor(name)], DType.INT32, [cx.rank(name)], ShapeOptions(out_type=DType.INT32))
    return e.op("GATHER", [dims, np.array(axis, np.int32)], DType.INT32, [], GatherOptions(axis=0))


def _take(cx: Context, name: str, index: int) -> Tensor:
    """Batch entry `index` of `name` (its first axis dropped)."""
    shape = cx.shape(name)
    out = cx.temp(f"{name}_{index}", cx.dtype(name), shape[1:] if shape else None)
    cx.emit("GATHER", [cx.tensor(name), int32_const(cx, index, "index")], [out], GatherOptions(axis=0))
    return out


def _known_shape(t: Tensor) -> list[int | None] | None:
    return value_shape(t) if t.shape or t.has_rank else None


def _copy(cx: Context, t: Tensor) -> Tensor:
    """A new tensor holding t (a subgraph output may not be one of its inputs)."""
    shape = _known_shape(t)
    out = cx.temp(t.name + "_copy", t.dtype, shape)
    if shape is not None and None not in shape:
        cx.emit("RESHAPE", [t, int32_const(cx, shape, "shape")], [out], ReshapeOptions(new_shape=list(shape)))
        return out
    dims = cx.temp(t.name + "_shape", DType.INT32, [len(shape)] if shape is not None else None)
    cx.emit("SHAPE", [t], [dims], ShapeOptions(out_type=DType.INT32))
    cx.emit("RESHAPE", [t, dims], [out], ReshapeOptions())
    return out
