"""Constant data beyond a flatbuffer's 2 GiB: stored after it with Buffer offset/size."""

from __future__ import annotations

import numpy as np

import one_core
from one_core.circle.writer import write_model
from one_core.ir import DType, Operator, Tensor, diff_models

from irbuild import reference_tiny_mlp, tiny_mlp


def test_external_data_layout_runs_on_litert(tmp_path) -> None:
    """The same layout as >2 GiB models, forced on a small one, is understood by LiteRT."""
    from ai_edge_litert.interpreter import Interpreter
    from circle_schema.v0_10.circle.Model import Model as OfficialModel

    model = tiny_mlp()
    path = tmp_path / "m.tflite"
    write_model(model, path, external_data_threshold=0)
    data = path.read_bytes()
    official = OfficialModel.GetRootAs(data, 0)
    external = [official.Buffers(i) for i in range(official.BuffersLength()) if official.Buffers(i).Offset() > 1]
    assert len(external) == 3  # w, b, c
    assert all(b.DataLength() == 0 and b.Offset() % 16 == 0 for b in external)
    assert diff_models(model, one_core.load(path)) == []

    x = np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32)
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, reference_tiny_mlp(model, x), rtol=1e-6, atol=1e-6)


def test_model_over_two_gib_round_trips(tmp_path) -> None:
    rows, cols = 2**20 + 2, 2048  # 2 GiB + 4 KiB of int8; dimensions must fit int32
    size = rows * cols
    backing = np.memmap(tmp_path / "weights.bin", dtype=np.int8, mode="w+", shape=(size,))
    marks = {0: 11, 2**31 - 1: 22, 2**31: 33, size - 1: 44}
    for pos, value in marks.items():
        backing[pos] = value
    backing.flush()
    model = tiny_mlp()
    sg = model.main
    weights = np.memmap(tmp_path / "weights.bin", dtype=np.int8, mode="r", shape=(rows, cols))
    big = sg.add_tensor(Tensor("big", DType.INT8, (rows, cols), data=weights))
    idx = sg.add_tensor(Tensor("idx", DType.INT32, (1,), data=np.array([rows - 1], np.int32)))
    out = sg.add_tensor(Tensor("picked", DType.INT8, (1, cols)))
    sg.add_operator(Operator("GATHER", [big, idx], [out]))
    sg.outputs.append(out)

    path = tmp_path / "big.circle"
    one_core.save(model, path)
    assert path.stat().st_size > size
    back = one_core.load(path)
    data = back.main.tensor_by_name("big").data.reshape(-1)
    assert data.size == size and not data.flags.writeable
    assert {pos: int(data[pos]) for pos in marks} == marks
    np.testing.assert_array_equal(back.main.tensor_by_name("w").data, sg.tensor_by_name("w").data)
    assert back.main.operators[-1].name == "GATHER"
