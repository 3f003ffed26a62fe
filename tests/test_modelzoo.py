"""Every model of the zoo really holds the feature it exists for, and LiteRT runs it.

The files are parsed with the official ONE ``circle_schema`` bindings (circle is a superset of
the TFLite schema). The first run generates the models (about a minute, cached afterwards in
``$ONE_TEST_CACHE`` or ``~/.cache/one-toolchain/models``). ``ONE_TEST_SLOW=1`` also checks
ResNet50 (~100 MB, ~20 s to generate).
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from circle_schema.v0_10.circle.BuiltinOperator import BuiltinOperator
from circle_schema.v0_10.circle.CustomOptionsFormat import CustomOptionsFormat
from circle_schema.v0_10.circle.IfOptions import IfOptions
from circle_schema.v0_10.circle.Model import Model
from circle_schema.v0_10.circle.TensorType import TensorType
from circle_schema.v0_10.circle.WhileOptions import WhileOptions

try:  # tests/ may or may not become a package
    from . import modelzoo
except ImportError:
    import modelzoo

OPCODE_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
NOT_RUNNABLE = {"custom_op_model"}  # Flex ops need the TF Flex delegate


# --------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------


class Parsed:
    def __init__(self, path: Path):
        self.path = path
        self.data = path.read_bytes()
        self.model = Model.GetRootAs(self.data, 0)
        self.opcodes = []  # (name, custom code) per operator code
        for i in range(self.model.OperatorCodesLength()):
            oc = self.model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            self.opcodes.append((OPCODE_NAMES[code], oc.CustomCode()))

    @property
    def opcode_names(self) -> set[str]:
        return {name for name, _ in self.opcodes}

    def subgraphs(self):
        return [self.model.Subgraphs(i) for i in range(self.model.SubgraphsLength())]

    def operators(self):
        """(subgraph, operator, opcode name) for every operator of every subgraph."""
        for sg in self.subgraphs():
            for i in range(sg.OperatorsLength()):
                op = sg.Operators(i)
                yield sg, op, self.opcodes[op.OpcodeIndex()][0]

    def tensors(self):
        for sg in self.subgraphs():
            for i in range(sg.TensorsLength()):
                yield sg, sg.Tensors(i)

    def has_data(self, tensor) -> bool:
        buffer = self.model.Buffers(tensor.Buffer())
        return buffer.DataLength() > 0 or buffer.Size() > 0

    def metadata_names(self) -> set[str]:
        return {self.model.Metadata(i).Name().decode() for i in range(self.model.MetadataLength())}


def type_name(tensor) -> str:
    return TYPE_NAMES[tensor.Type()]


def inputs_of(sg, op):
    return [sg.Tensors(int(j)) if j >= 0 else None for j in op.InputsAsNumpy()]


def outputs_of(sg, op):
    return [sg.Tensors(int(j)) for j in op.OutputsAsNumpy()]


@functools.cache
def parsed(name: str) -> Parsed:
    return Parsed(getattr(modelzoo, name)())


# --------------------------------------------------------------------------------------
# LiteRT helpers
# --------------------------------------------------------------------------------------


def random_inputs(details: dict, rng) -> dict:
    """N(0,1) data, quantized with each input's parameters for integer inputs; small
    non-negative values for int32 inputs (loop counts)."""
    feeds = {}
    for name, detail in details.items():
        shape, dtype = tuple(detail["shape"]), np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.floating):
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype in (np.int8, np.int16):
            scale, zero_point = detail["quantization"]
            info = np.iinfo(dtype)
            q = np.round(rng.standard_normal(shape) / scale) + zero_point
            feeds[name] = np.clip(q, info.min, info.max).astype(dtype)
        elif dtype == np.int32:
            feeds[name] = rng.integers(0, 4, shape).astype(dtype)
        else:
            raise NotImplementedError(f"input {name}: {dtype}")
    return feeds


def run_signature(interpreter, key: str, feeds: dict) -> dict:
    return {k: np.array(v) for k, v in interpreter.get_signature_runner(key)(**feeds).items()}


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-30))


def interpreter_for(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


# --------------------------------------------------------------------------------------
# Module behaviour
# --------------------------------------------------------------------------------------


def test_import_is_cheap():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('mz', {str(modelzoo.__file__)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_models_lists_every_small_model():
    assert set(modelzoo.ALL_MODELS) == {
        "small_float_model", "mobilenet_v2", "control_flow_model", "custom_op_model",
        "int8_per_channel_model", "int16x8_model", "sparse_model", "multi_signature_model",
        "lstm_model", "fp16_model",
    }
    for name, generator in modelzoo.ALL_MODELS.items():
        assert generator is getattr(modelzoo, name)


def test_cache_key_has_name_params_versions_and_source_hash():
    key = modelzoo._cache_key("mobilenet_v2", {"input_size": 96})
    assert key.startswith("mobilenet_v2-input_size=96-tf")
    assert modelzoo._source_hash() in key
    assert key != modelzoo._cache_key("mobilenet_v2", {"input_size": 224})


def test_cache_hit_and_determinism(tmp_path, monkeypatch):
    reference = modelzoo.small_float_model()  # default cache
    monkeypatch.setenv("ONE_TEST_CACHE", str(tmp_path))
    path = modelzoo.small_float_model()
    assert path.parent == tmp_path and path.name == reference.name
    assert path.read_bytes() == reference.read_bytes()  # same bytes from a separate run
    mtime = path.stat().st_mtime_ns
    assert modelzoo.small_float_model() == path and path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left over


# --------------------------------------------------------------------------------------
# Features of every model
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(modelzoo.ALL_MODELS))
def test_metadata_entries(name):
    assert {"min_runtime_version", "CONVERSION_METADATA"} <= parsed(name).metadata_names()


@pytest.mark.parametrize("name", sorted(set(modelzoo.ALL_MODELS) - NOT_RUNNABLE))
def test_runs_on_litert_with_finite_input_dependent_outputs(name):
    interpreter = interpreter_for(parsed(name).path)
    signatures = interpreter.get_signature_list()
    assert signatures
    rng = np.random.default_rng(0)
    for key in signatures:
        details = interpreter.get_signature_runner(key).get_input_details()
        results = []
        for _ in range(2):
            interpreter.reset_all_variables()  # LSTM state
            outputs = run_signature(interpreter, key, random_inputs(details, rng))
            for out in outputs.values():
                assert np.isfinite(out.astype(np.float64)).all()
            results.append(outputs)
        for out in results[0]:
            assert relative_difference(results[0][out], results[1][out]) > 1e-2, (key, out)


def test_small_float_model():
    p = parsed("small_float_model")
    assert {"CONV_2D", "FULLY_CONNECTED"} <= p.opcode_names
    (sg,) = p.subgraphs()
    assert list(sg.Tensors(int(sg.Inputs(0))).ShapeAsNumpy()) == [1, 8, 8, 3]


def test_mobilenet_v2():
    p = parsed("mobilenet_v2")
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED", "SOFTMAX"} <= p.opcode_names
    (sg,) = p.subgraphs()
    assert list(sg.Tensors(int(sg.Inputs(0))).ShapeAsNumpy()) == [1, 224, 224, 3]
    assert list(sg.Tensors(int(sg.Outputs(0))).ShapeAsNumpy()) == [1, 1000]
    convs = sum(name in ("CONV_2D", "DEPTHWISE_CONV_2D") for _, _, name in p.operators())
    assert convs == 52


def test_control_flow_model():
    p = parsed("control_flow_model")
    assert {"IF", "WHILE"} <= p.opcode_names
    n_subgraphs = p.model.SubgraphsLength()
    assert n_subgraphs == 5
    for sg, op, name in p.operators():
        if name in ("IF", "WHILE"):
            table = op.BuiltinOptions()
            options = IfOptions() if name == "IF" else WhileOptions()
            options.Init(table.Bytes, table.Pos)
            if name == "IF":
                branches = (options.ThenSubgraphIndex(), options.ElseSubgraphIndex())
            else:
                branches = (options.CondSubgraphIndex(), options.BodySubgraphIndex())
            assert all(0 < b < n_subgraphs for b in branches)
    # The result depends on the loop count and on the IF branch.
    interpreter = interpreter_for(p.path)
    x = np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    out = [run_signature(interpreter, "serving_default", {"x": x, "n": np.int32(n)})["output_0"]
           for n in range(3)]
    assert relative_difference(out[0], out[1]) > 1e-2 and relative_difference(out[1], out[2]) > 1e-2
    positive = np.abs(x)
    negative = run_signature(interpreter, "serving_default", {"x": -positive, "n": np.int32(0)})
    np.testing.assert_allclose(negative["output_0"], -positive * 0.5 - 1.0, rtol=1e-6)


def test_custom_op_model():
    p = parsed("custom_op_model")
    customs = [(op, p.opcodes[op.OpcodeIndex()][1]) for _, op, name in p.operators()
               if name == "CUSTOM"]
    assert len(customs) == 1
    op, custom_code = customs[0]
    assert custom_code == b"FlexCumprod"
    assert op.CustomOptionsLength() > 0
    assert op.CustomOptionsFormat() == CustomOptionsFormat.FLEXBUFFERS
    assert b"Cumprod" in op.CustomOptionsAsNumpy().tobytes()  # the serialized NodeDef
    assert {"FULLY_CONNECTED", "ADD"} <= p.opcode_names


def check_per_channel_weights(p: Parsed, activation_type: str, bias_type: str):
    (sg,) = p.subgraphs()
    for index in list(sg.InputsAsNumpy()) + list(sg.OutputsAsNumpy()):
        assert type_name(sg.Tensors(int(index))) == activation_type
    seen = set()
    for sg, op, name in p.operators():
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        data, weights, bias = inputs_of(sg, op)[:3]
        assert type_name(data) == activation_type
        assert type_name(weights) == "INT8" and p.has_data(weights)
        q = weights.Quantization()
        dim = 3 if name == "DEPTHWISE_CONV_2D" else 0
        assert q.QuantizedDimension() == dim
        assert q.ScaleLength() == weights.Shape(dim) > 1
        assert np.all(q.ZeroPointAsNumpy() == 0)
        assert type_name(bias) == bias_type and bias.Quantization().ScaleLength() > 1
        seen.add(name)
    assert seen == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert {"ADD", "AVERAGE_POOL_2D", "MEAN"} <= p.opcode_names
    assert all(type_name(t) != "FLOAT32" for _, t in p.tensors())


def test_int8_per_channel_model():
    check_per_channel_weights(parsed("int8_per_channel_model"), "INT8", "INT32")


def test_int16x8_model():
    p = parsed("int16x8_model")
    check_per_channel_weights(p, "INT16", "INT64")
    assert sum(type_name(t) == "INT16" for _, t in p.tensors()) >= 8


def test_sparse_model():
    p = parsed("sparse_model")
    assert "DENSIFY" in p.opcode_names
    sparse = [t for _, t in p.tensors() if t.Sparsity() is not None]
    assert len(sparse) == 4
    for t in sparse:
        s = t.Sparsity()
        assert p.has_data(t) and s.TraversalOrderLength() > 0 and s.DimMetadataLength() > 0
    consumers = {}
    for sg, op, name in p.operators():
        for t in inputs_of(sg, op):
            if t is not None and t.Sparsity() is not None:
                consumers.setdefault(name, []).append(t)
    assert len(consumers["DENSIFY"]) == 3  # conv, depthwise conv, unstructured dense
    (block_sparse,) = consumers["FULLY_CONNECTED"]  # 1x4 blocks: sparse FC kernel
    assert block_sparse.Sparsity().BlockMapLength() == 1


def test_multi_signature_model():
    p = parsed("multi_signature_model")
    m = p.model
    assert m.SignatureDefsLength() == 2 and m.SubgraphsLength() == 2
    signatures = {}
    for i in range(m.SignatureDefsLength()):
        s = m.SignatureDefs(i)
        signatures[s.SignatureKey().decode()] = (
            {s.Inputs(j).Name().decode() for j in range(s.InputsLength())},
            {s.Outputs(j).Name().decode() for j in range(s.OutputsLength())},
            s.SubgraphIndex(),
        )
    assert signatures["add"][:2] == ({"x", "y"}, {"sum"})
    assert signatures["mul"][:2] == ({"a", "b"}, {"product", "difference"})
    assert signatures["add"][2] != signatures["mul"][2]
    interpreter = interpreter_for(p.path)
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal((1, 4)).astype(np.float32) for _ in range(2))
    out = run_signature(interpreter, "mul", {"a": a, "b": b})
    np.testing.assert_array_equal(out["difference"], a - b)
    offsets = [run_signature(interpreter, "add", {"x": x, "y": y})["sum"] - x - y
               for x, y in ((a, b), (b, a * 3))]
    np.testing.assert_allclose(offsets[0], offsets[1], atol=1e-5)


def test_lstm_model():
    p = parsed("lstm_model")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in p.opcode_names
    (sg, op), = [(sg, op) for sg, op, name in p.operators() if name == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    inputs = inputs_of(sg, op)
    assert len(inputs) == 24
    output_state, cell_state = inputs[18], inputs[19]
    assert output_state.IsVariable() and cell_state.IsVariable()
    assert not p.has_data(output_state) and not p.has_data(cell_state)
    assert [t.IsVariable() for _, t in p.tensors()].count(True) == 2
    # LiteRT keeps the state in the variable tensors between invocations.
    interpreter = interpreter_for(p.path)
    x = {"x": np.random.default_rng(3).standard_normal((1, 6, 8)).astype(np.float32)}
    first = run_signature(interpreter, "serving_default", x)["sequence"]
    second = run_signature(interpreter, "serving_default", x)["sequence"]
    interpreter.reset_all_variables()
    third = run_signature(interpreter, "serving_default", x)["sequence"]
    assert relative_difference(first, second) > 1e-3
    np.testing.assert_array_equal(first, third)


def test_fp16_model():
    p = parsed("fp16_model")
    dequantized = 0
    for sg, op, name in p.operators():
        if name == "DEQUANTIZE":
            (source,), (result,) = inputs_of(sg, op), outputs_of(sg, op)
            assert type_name(source) == "FLOAT16" and p.has_data(source)
            assert type_name(result) == "FLOAT32"
            dequantized += 1
    assert dequantized == 10  # 5 kernels + 5 biases
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= p.opcode_names


def test_resnet50():
    p = Parsed(modelzoo.resnet50())
    assert p.path.stat().st_size > 90e6
    assert {"CONV_2D", "ADD", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= p.opcode_names
    interpreter = interpreter_for(p.path)
    details = interpreter.get_signature_runner("serving_default").get_input_details()
    rng = np.random.default_rng(4)
    out = [run_signature(interpreter, "serving_default", random_inputs(details, rng))
           for _ in range(2)]
    (key,) = out[0]
    assert np.isfinite(out[0][key]).all()
    assert relative_difference(out[0][key], out[1][key]) > 1e-2
