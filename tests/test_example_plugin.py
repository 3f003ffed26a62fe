"""The example third-party plugin (examples/one-frontend-npz), installed as a user would.

The distribution is pip-installed into a private folder that only the `one` subprocesses see
(through PYTHONPATH); the test process itself never imports it. The imported model is checked
as a graph, then run with the LiteRT interpreter against the same MLP computed with numpy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import one_core
from one_core.ir.options import ActivationFunctionType, FullyConnectedOptions

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "one-frontend-npz"
PLUGIN, FRONTEND, DISTRIBUTION = "npz", "npz-mlp", "one-frontend-npz"
SIZES = [16, 32, 24, 5]  # in_features, two hidden layers, out_features


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed with pip into a folder of its own."""
    root = tmp_path_factory.mktemp("npz-plugin")
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in examples/.
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    source = shutil.copytree(EXAMPLE, root / "src", ignore=ignore)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    assert (target / "one_frontend_npz" / "frontend.py").is_file()
    return target


def one(
    site: Path, *args: str, cwd: Path, disable: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `one` command in a subprocess that sees the installed example."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env.pop("ONE_DISABLE_PLUGINS", None)
    if disable is not None:
        env["ONE_DISABLE_PLUGINS"] = disable
    return subprocess.run(
        [sys.executable, "-c", "from one_core.cli import main; main()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def make_mlp(seed: int = 0) -> dict[str, np.ndarray]:
    """He-scaled random weights, stored [in, out] as the plugin expects."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:])):
        w = rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)
        arrays[f"w{i}"] = w.astype(np.float32)
        arrays[f"b{i}"] = rng.standard_normal(n_out).astype(np.float32) * 0.1
    return arrays


def mlp_reference(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    n = len(arrays) // 2
    h = x.astype(np.float64)
    for i in range(n):
        h = h @ arrays[f"w{i}"].astype(np.float64) + arrays[f"b{i}"]
        if i < n - 1:
            h = np.maximum(h, 0)
    return h


def plugin_rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {row["plugin"]: row for row in json.loads(result.stdout)}


def test_plugins_lists_the_example(site: Path, tmp_path: Path) -> None:
    rows = plugin_rows(one(site, "plugins", "--json", cwd=tmp_path))
    assert PLUGIN in rows, rows
    row = rows[PLUGIN]
    assert row["distribution"] == DISTRIBUTION
    assert row["version"] == "0.1.0"
    assert row["provides"] == {"frontend": [FRONTEND]}
    assert "error" not in row


@pytest.mark.parametrize("disable", [PLUGIN, DISTRIBUTION, f"someother, {PLUGIN}"])
def test_disable_plugins_hides_the_example(site: Path, tmp_path: Path, disable: str) -> None:
    rows = plugin_rows(one(site, "plugins", "--json", cwd=tmp_path, disable=disable))
    assert PLUGIN not in rows
    assert "one-core" in rows
    np.savez(tmp_path / "model.npz", **make_mlp())
    result = one(site, "import", "model.npz", "-o", "model.circle", cwd=tmp_path, disable=disable)
    assert result.returncode == 1
    assert result.stderr.startswith("error: model.npz: no installed frontend accepts this model")
    assert not (tmp_path / "model.circle").exists()


def test_import_graph_and_numerics(site: Path, tmp_path: Path) -> None:
    arrays = make_mlp()
    np.savez(tmp_path / "model.npz", **arrays)
    result = one(site, "import", "model.npz", "-o", "model.circle", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "model.circle: 1 subgraph(s), 3 operators"

    model = one_core.load(tmp_path / "model.circle")
    one_core.verify(model)
    sg = model.main
    assert [op.name for op in sg.operators] == ["FULLY_CONNECTED"] * 3
    assert [t.shape for t in sg.inputs] == [(1, SIZES[0])]
    assert [t.shape for t in sg.outputs] == [(1, SIZES[-1])]
    assert all(t.dtype == one_core.DType.FLOAT32 for t in sg.tensors)
    for i, op in enumerate(sg.operators):
        x, w, b = op.inputs
        (y,) = op.outputs
        assert x.shape == (1, SIZES[i]) and x.data is None
        assert w.shape == (SIZES[i + 1], SIZES[i])  # FULLY_CONNECTED keeps weights [out, in]
        np.testing.assert_array_equal(w.data, arrays[f"w{i}"].T)
        assert b.shape == (SIZES[i + 1],)
        np.testing.assert_array_equal(b.data, arrays[f"b{i}"])
        assert y.shape == (1, SIZES[i + 1])
        relu = ActivationFunctionType.RELU if i < 2 else ActivationFunctionType.NONE
        assert op.options == FullyConnectedOptions(fused_activation_function=relu)
        if i:
            assert x is sg.operators[i - 1].outputs[0]

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    one_core.save(model, tmp_path / "model.tflite")
    interpreter = Interpreter(
        model_path=str(tmp_path / "model.tflite"),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
    )
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rng = np.random.default_rng(1)
    outputs = []
    for _ in range(8):
        x = rng.standard_normal((1, SIZES[0])).astype(np.float32)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        got = interpreter.get_tensor(out["index"])
        expected = mlp_reference(arrays, x)
        scale = np.abs(expected).max()
        assert scale > 0.1  # the model does depend on its input: the comparison means something
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)
        outputs.append(got)
    assert np.abs(outputs[0] - outputs[1]).max() > 0.1


def test_batch_option(site: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "model.npz", **make_mlp())
    result = one(site, "import", "model.npz", "-o", "model.circle", "-X", "batch=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    model = one_core.load(tmp_path / "model.circle")
    assert model.main.inputs[0].shape == (4, SIZES[0])
    assert model.main.outputs[0].shape == (4, SIZES[-1])

    result = one(site, "import", "model.npz", "-o", "bad.circle", "-X", "batch=0", cwd=tmp_path)
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert result.stderr.startswith("error: npz-mlp: option batch='0'")


def test_unrelated_npz_is_not_claimed(site: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", x=np.zeros(3), y=np.ones(2))
    result = one(site, "import", "data.npz", "-o", "data.circle", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: data.npz: no installed frontend accepts this model")
    assert "npz-mlp (.npz)" in result.stderr


def test_malformed_mlp_is_a_model_error(site: Path, tmp_path: Path) -> None:
    arrays = make_mlp()
    arrays["w1"] = arrays["w1"][:-1]  # 31 inputs after a 32-wide layer
    np.savez(tmp_path / "model.npz", **arrays)
    result = one(site, "import", "model.npz", "-o", "model.circle", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: model.npz: w1 takes 31 inputs but layer 0 gives 32\n"
