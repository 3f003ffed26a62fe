"""The IR's invariants: use-lists, rewiring, verify(), the opcode table, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import one_core
from one_core.errors import InvalidModelError, OneError
from one_core.ir import DType, Operator, Tensor, decode_opcode, diff_models, encode_opcode, verify
from one_core.ir.operators import OPCODES
from one_core.ir.options import FullyConnectedOptionsWeightsFormat, InstanceNormOptions

from irbuild import quantized_tensor, tiny_mlp


def test_use_lists_follow_rewiring() -> None:
    m = tiny_mlp()
    sg = m.main
    fc, add = sg.operators
    h = sg.tensor_by_name("h")
    assert h.producer is fc and h.consumers == [add]
    h2 = sg.add_tensor(Tensor("h2", DType.FLOAT32, (1, 3)))
    relu = sg.add_operator(Operator("RELU", [h], [h2]), index=1)
    add.set_input(0, h2)
    assert h.consumers == [relu] and h2.consumers == [add] and h2.producer is relu
    verify(m)


def test_replace_all_uses_updates_outputs_and_signatures() -> None:
    m = tiny_mlp()
    sg = m.main
    y = sg.tensor_by_name("y")
    y2 = sg.add_tensor(Tensor("y2", DType.FLOAT32, (1, 3)))
    sg.add_operator(Operator("RELU", [y], [y2]))
    consumer = sg.operators[-1]
    new = sg.add_tensor(Tensor("y_new", DType.FLOAT32, (1, 3)))
    sg.operators[1].set_outputs([new])
    sg.replace_all_uses(y, new)
    assert consumer.inputs == (new,)
    assert sg.outputs == [new]
    assert m.signature_defs[0].outputs == [("y", new)]
    assert y.consumers == [] and y.producer is None
    assert sg.remove_unused_tensors() == 1
    verify(m)


def test_remove_operator_detaches_it() -> None:
    m = tiny_mlp()
    add = m.main.operators[1]
    m.main.remove_operator(add)
    assert add.inputs == () and m.main.tensor_by_name("h").consumers == []


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda sg: sg.operators.reverse(), "is produced by a later operator"),
        (lambda sg: sg.operators[1].set_outputs([sg.tensor_by_name("h")]), "produced twice"),
        (lambda sg: sg.tensors.remove(sg.tensor_by_name("c")), "'c' is not a tensor of the subgraph"),
        (lambda sg: setattr(sg.tensor_by_name("w"), "shape", (4, 4)), "12 constant elements for shape [4, 4]"),
        (lambda sg: setattr(sg.tensor_by_name("x"), "shape", (1, -4)), "negative dimension"),
        (lambda sg: setattr(sg.tensor_by_name("x"), "shape_signature", (-1, 4, 1)), "differ in rank"),
    ],
)
def test_verify_names_what_is_broken(break_it, message: str) -> None:
    m = tiny_mlp()
    break_it(m.main)
    with pytest.raises(InvalidModelError, match="subgraph 0 \\('main'\\)") as info:
        verify(m)
    assert message in str(info.value)


def test_verify_checks_subgraph_references() -> None:
    from one_core.ir.options import IfOptions

    m = tiny_mlp()
    sg = m.main
    cond = sg.add_tensor(Tensor("cond", DType.BOOL, (), data=np.array(True)))
    out = sg.add_tensor(Tensor("if_out", DType.FLOAT32, (1, 3)))
    sg.add_operator(Operator("IF", [cond, sg.tensor_by_name("y")], [out],
                             IfOptions(then_subgraph_index=1, else_subgraph_index=7)))
    with pytest.raises(InvalidModelError, match="then_subgraph_index 1 outside the model's 1 subgraphs"):
        verify(m)


def test_verify_checks_per_channel_quantization() -> None:
    m = tiny_mlp()
    t = m.main.add_tensor(quantized_tensor())
    verify(m)
    t.quantization.quantized_dimension = 1
    with pytest.raises(InvalidModelError, match="3 scales for dimension 1 of size 4"):
        verify(m)


def test_constants_are_read_only_until_asked(tmp_path) -> None:
    path = tmp_path / "m.circle"
    one_core.save(tiny_mlp(), path)
    m = one_core.load(path)
    w = m.main.tensor_by_name("w")
    assert not w.data.flags.writeable
    with pytest.raises(ValueError):
        w.data[0, 0] = 1.0
    w.writable_data()[0, 0] = 42.0
    assert w.data[0, 0] == 42.0
    assert one_core.load(path).main.tensor_by_name("w").data[0, 0] != 42.0


@pytest.mark.parametrize("name", sorted(OPCODES))
def test_opcode_encoding_round_trips(name: str) -> None:
    code = OPCODES[name]
    deprecated, builtin = encode_opcode(code)
    assert -128 <= deprecated <= 127
    assert decode_opcode(deprecated, builtin) == code


def test_opcode_decoding_rules() -> None:
    assert decode_opcode(3, 0) == 3  # files from before builtin_code: CONV_2D
    assert decode_opcode(0, 150) == 150  # writers that only fill builtin_code: GELU
    assert decode_opcode(-2, 0) == -2  # old circle files: INSTANCE_NORM in the byte only
    assert decode_opcode(127, 150) == 150
    assert encode_opcode(-2) == (-2, -2) and encode_opcode(150) == (127, 150)
    with pytest.raises(InvalidModelError, match="disagree"):
        decode_opcode(3, 4)
    with pytest.raises(InvalidModelError, match="needs builtin_code >= 127"):
        decode_opcode(127, 3)


def test_dtypes_map_to_numpy() -> None:
    assert DType.FLOAT32.numpy == np.float32 and DType.INT8.numpy == np.int8
    assert DType.STRING.numpy is None and DType.INT4.numpy is None
    assert DType.from_numpy(np.int16) is DType.INT16
    assert DType.UINT4.is_circle_only and not DType.INT4.is_circle_only
    with pytest.raises(ValueError):
        DType.from_numpy(np.dtype("U3"))


def test_circle_only_operator_is_refused_for_tflite(tmp_path) -> None:
    m = tiny_mlp()
    sg = m.main
    gamma = sg.add_tensor(Tensor("gamma", DType.FLOAT32, (3,), data=np.ones(3, np.float32)))
    beta = sg.add_tensor(Tensor("beta", DType.FLOAT32, (3,), data=np.zeros(3, np.float32)))
    z = sg.add_tensor(Tensor("z", DType.FLOAT32, (1, 3)))
    sg.add_operator(Operator("INSTANCE_NORM", [sg.outputs[0], gamma, beta], [z], InstanceNormOptions(epsilon=float(np.float32(1e-5)))))
    sg.outputs = [z]
    one_core.save(m, tmp_path / "m.circle")
    with pytest.raises(OneError, match="cannot be written as TFLite, it uses circle-only operator INSTANCE_NORM"):
        one_core.save(m, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()
    assert diff_models(m, one_core.load(tmp_path / "m.circle")) == []


def test_circle_only_weights_format_is_refused_for_tflite(tmp_path) -> None:
    m = tiny_mlp()
    fc = next(op for op in m.main.operators if op.name == "FULLY_CONNECTED")
    fc.options.weights_format = FullyConnectedOptionsWeightsFormat.SHUFFLED16x1FLOAT32
    one_core.save(m, tmp_path / "m.circle")
    with pytest.raises(OneError, match="circle-only weights format SHUFFLED16x1FLOAT32 of FULLY_CONNECTED"):
        one_core.save(m, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()
