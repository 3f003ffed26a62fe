"""The npz-mlp frontend: a multilayer perceptron saved with numpy.savez, as a circle Model.

The file holds arrays w0, b0, w1, b1, ...; layer i computes `x @ w_i + b_i`, so w_i is stored
[in, out] (numpy's and Keras' Dense layout) and b_i is [out]. Every layer but the last is
followed by ReLU. Each layer becomes one FULLY_CONNECTED operator with its ReLU fused; circle
(like TFLite) stores FULLY_CONNECTED weights [out, in], so w_i is transposed on the way.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from one_core.errors import InputError, InvalidModelError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor, verify
from one_core.ir.options import ActivationFunctionType, FullyConnectedOptions
from one_core.plugin import CONTENT_MATCH, NO_MATCH, Frontend

_ZIP_MAGIC = b"PK\x03\x04"
_MEMBER = re.compile(r"[wb]\d+\.npy")


class NpzMlpFrontend(Frontend):
    name = "npz-mlp"
    description = "multilayer perceptrons saved with numpy.savez (w0, b0, w1, b1, ...)"
    extensions = (".npz",)

    def match(self, source: Any, head: bytes) -> int:
        # The extension alone would claim any .npz file: also look at the archive's members.
        if super().match(source, head) == NO_MATCH or not head.startswith(_ZIP_MAGIC):
            return NO_MATCH
        try:
            with zipfile.ZipFile(source) as archive:
                names = archive.namelist()
        except Exception:  # match runs on every file anyone loads: never raise
            return NO_MATCH
        if "w0.npy" in names and all(_MEMBER.fullmatch(n) for n in names):
            return CONTENT_MATCH
        return NO_MATCH

    def load(self, source: Any, *, batch: int | str = 1, **options: Any) -> Model:
        if options:
            unknown = ", ".join(sorted(options))
            raise InputError(f"npz-mlp: unknown option(s) {unknown} (known: batch)")
        if not str(batch).isdigit() or int(batch) < 1:
            raise InputError(f"npz-mlp: option batch={batch!r}: expected a positive integer")
        path = Path(source)
        return _build(_read_layers(path), int(batch), path.name)


def _read_layers(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (w, b) pairs of the file, checked: names, ranks and chained sizes."""
    if not zipfile.is_zipfile(path):
        raise InvalidModelError(f"{path}: not an .npz archive (numpy.savez writes zip files)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zipfile, zlib and numpy raise many kinds on a damaged file
        raise InvalidModelError(f"{path}: cannot read the arrays ({exc})") from None
    n = sum(name.startswith("w") for name in arrays)
    expected = [f"{p}{i}" for i in range(n) for p in "wb"]
    if n == 0 or sorted(arrays) != sorted(expected):
        raise InvalidModelError(
            f"{path}: expected arrays {', '.join(expected or ['w0', 'b0'])}, "
            f"found {', '.join(arrays) or 'none'}"
        )
    layers = []
    for i in range(n):
        w, b = arrays[f"w{i}"], arrays[f"b{i}"]
        numbers = w.dtype.kind in "fiu" and b.dtype.kind in "fiu"
        if not numbers or w.ndim != 2 or b.shape != w.shape[1:]:
            raise InvalidModelError(
                f"{path}: w{i} {list(w.shape)} {w.dtype} and b{i} {list(b.shape)} {b.dtype}: "
                "expected numbers shaped [in, out] and [out]"
            )
        if layers and w.shape[0] != layers[-1][0].shape[1]:
            raise InvalidModelError(
                f"{path}: w{i} takes {w.shape[0]} inputs but layer {i - 1} "
                f"gives {layers[-1][0].shape[1]}"
            )
        layers.append((w, b))
    return layers


def _build(layers: list[tuple[np.ndarray, np.ndarray]], batch: int, label: str) -> Model:
    model = Model(description=f"MLP from {label} (one-frontend-npz)")
    sg = model.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("input", DType.FLOAT32, (batch, layers[0][0].shape[0])))
    sg.inputs = [x]
    for i, (w, b) in enumerate(layers):
        last = i == len(layers) - 1
        n_out = w.shape[1]
        w_t = np.ascontiguousarray(w.T, np.float32)  # [in, out] -> FULLY_CONNECTED's [out, in]
        weights = sg.add_tensor(Tensor(f"dense_{i}/weights", DType.FLOAT32, w_t.shape, data=w_t))
        bias = sg.add_tensor(
            Tensor(f"dense_{i}/bias", DType.FLOAT32, (n_out,), data=b.astype(np.float32))
        )
        y = sg.add_tensor(
            Tensor("output" if last else f"dense_{i}/relu", DType.FLOAT32, (batch, n_out))
        )
        relu = ActivationFunctionType.NONE if last else ActivationFunctionType.RELU
        options = FullyConnectedOptions(fused_activation_function=relu)
        sg.add_operator(Operator("FULLY_CONNECTED", [x, weights, bias], [y], options))
        x = y
    sg.outputs = [x]
    verify(model)  # a frontend hands over only models that keep the IR's invariants
    return model
