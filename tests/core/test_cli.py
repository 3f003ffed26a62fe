"""The built-in commands on real models: import writes circle, inspect shows what is inside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import modelzoo
import one_core


def _one(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "one_core", *args], capture_output=True, text=True, timeout=300
    )


def test_import_then_inspect_json(tmp_path: Path) -> None:
    src = modelzoo.int8_per_channel_model()
    out = tmp_path / "q.circle"
    result = _one("import", str(src), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: 1 subgraph(s),")
    desc = json.loads(_one("inspect", str(out), "--json").stdout)

    model = one_core.load(src)
    assert [c["name"] for c in desc["operator_codes"]] == list(
        dict.fromkeys(op.name for op in model.main.operators)
    )
    sg = desc["subgraphs"][0]
    assert len(sg["operators"]) == len(model.main.operators)
    conv = next(op for op in sg["operators"] if op["type"] == "CONV_2D")
    assert conv["options"]["type"] == "Conv2DOptions" and conv["options"]["padding"] in ("SAME", "VALID")
    weights = sg["tensors"][conv["inputs"][1]]
    expected = model.main.tensors[conv["inputs"][1]].quantization
    np.testing.assert_array_equal(np.float32(weights["quantization"]["scale"]), expected.scale)
    assert weights["quantization"]["quantized_dimension"] == expected.quantized_dimension == 0
    assert weights["buffer_bytes"] == model.main.tensors[conv["inputs"][1]].nbytes
    assert desc["signature_defs"][0]["key"] == "serving_default"
    assert desc["metadata"]["min_runtime_version"][0].isdigit()


def test_inspect_text_reads_like_circledump() -> None:
    result = _one("inspect", str(modelzoo.control_flow_model()))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Operator codes:" in text and "] IF (code 118" in text and "] WHILE (code 119" in text
    assert "Subgraph #4 " in text and "IfOptions(then_subgraph_index=" in text
    assert "Signatures:\n  'serving_default' -> subgraph 0" in text
