"""ONE's --change_outputs: other tensors become the outputs; what only the old ones needed goes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from irbuild import tiny_mlp

import one_core
from one_core.errors import InputError


def test_change_outputs_api_and_cli(tmp_path) -> None:
    path = tmp_path / "mlp.circle"
    one_core.save(tiny_mlp(), path)
    model = one_core.optimize(one_core.load(path), passes=["fuse_add_with_fully_connected"], change_outputs="h")
    assert [t.name for t in model.main.outputs] == ["h"]
    assert [name for name, _ in model.signature_defs[0].outputs] == ["h"]
    assert [op.name for op in model.main.operators] == ["FULLY_CONNECTED"]  # the ADD only fed 'y'
    x = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    full = tiny_mlp()
    w, b = (full.main.tensor_by_name(n).data for n in ("w", "b"))
    got = one_core.Session(model).run([x])["h"]
    np.testing.assert_allclose(got, np.maximum(x @ w.T + b, 0), rtol=1e-6)

    out = tmp_path / "h.circle"
    result = subprocess.run([sys.executable, "-m", "one_core", "optimize", str(path), "-o", str(out),
                             "--change_outputs", "h,y", "-O1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [t.name for t in one_core.load(out).main.outputs] == ["h", "y"]


@pytest.mark.parametrize("names,message", [("nope", "no tensor named 'nope'"), ("w", "'w' is a constant"),
                                           (",", "comma-separated tensor names")])
def test_change_outputs_errors(names: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        one_core.optimize(tiny_mlp(), change_outputs=names)
