"""`one init`: a starter onecc cfg for a model: the import step its kind needs, one-optimize
with the O1 passes switched on one by one, and one-pack; `one build -C` runs it as written
(a GraphDef needs its input and output names filled in first)."""

from __future__ import annotations

import os
from pathlib import Path

from ..circle.writer import atomic_write
from ..errors import InputError
from ..passes.manager import available_passes
from .cfg import ORDER

#: The import step by model kind (extension, or "saved_model"): section and extra lines; a key
#: left empty ("input_arrays=") must be filled in before the cfg builds.
_GRAPH_DEF = ["model_format=graph_def", "converter_version=v1",
              "; required for a GraphDef: the input names, comma-separated", "input_arrays=",
              "; optional: their shapes, colon-separated, e.g. input_shapes=1,224,224,3:1,10",
              "; required for a GraphDef: the output names, comma-separated", "output_arrays="]
_KERAS = ["model_format=keras_model", "converter_version=v2"]
_IMPORTS: dict[str, tuple[str, list[str]]] = {
    ".tflite": ("one-import-tflite", []),
    ".onnx": ("one-import-onnx", [("; input_shapes=1,3,224,224 fixes dynamic dimensions, io_layout=nhwc makes "
                                   "inputs and outputs channels-last")]),
    ".pb": ("one-import-tf", _GRAPH_DEF),
    ".pbtxt": ("one-import-tf", _GRAPH_DEF),
    ".keras": ("one-import-tf", _KERAS),
    ".h5": ("one-import-tf", _KERAS),
    ".hdf5": ("one-import-tf", _KERAS),
    "saved_model": ("one-import-tf", ["model_format=saved_model", "converter_version=v2"]),
    ".circle": ("", []),
}
_OTHERS = ("one-quantize", "one-codegen")  # listed switched off, to show where they go


def starter_cfg(model: Path, cfg_name: str = "FILE") -> tuple[str, list[str]]:
    """The cfg text for `model` (to be saved as `cfg_name`) and what must be filled in before it
    builds (empty: nothing)."""
    model = Path(model)
    if model.name == "saved_model.pb":
        model = model.parent
    kind = "saved_model" if model.is_dir() and (model / "saved_model.pb").is_file() else model.suffix.lower()
    if kind not in _IMPORTS or model.is_dir() != (kind == "saved_model"):
        raise InputError(f"{model}: cannot tell the model's kind (expected .tflite, .onnx, .pb, .keras, .h5, "
                         ".circle or a SavedModel directory)")
    section, extra = _IMPORTS[kind]
    name = model.name if kind == "saved_model" else model.stem
    circle = model if kind == ".circle" else model.parent / f"{name}.circle"
    optimized = model.parent / f"{name}.opt.circle"
    steps = [s for s in ORDER if s in (section, "one-optimize", "one-pack", *_OTHERS)]
    lines = [f"; Written by `one init` for {model}. Run it with `one build -C {cfg_name}` from the directory",
             "; one init ran in: paths are relative to the current directory, as in ONE's onecc.",
             "[onecc]", *(f"{s}={s not in _OTHERS}" for s in steps), ""]
    if section:
        lines += [f"[{section}]", f"input_path={model}", f"output_path={circle}", *extra, ""]
    lines += ["[one-optimize]", f"input_path={circle}", f"output_path={optimized}", *_o1_lines(), "",
              "[one-pack]", f"input_path={optimized}", f"output_path={model.parent / f'{name}_pack'}"]
    todo = [line[:-1] for line in extra if line.endswith("=") and not line.startswith(";")]
    notes = [f"fill in {' and '.join(todo)} in [{section}] before one build"] if todo else []
    return "\n".join(lines) + "\n", notes


def write_starter_cfg(model: str | os.PathLike[str], output: str | os.PathLike[str], *,
                      force: bool = False) -> list[str]:
    """Write the starter cfg of `model` to `output` (atomically; an existing file only with
    `force`) and return what must be filled in before it builds."""
    model, output = Path(model), Path(output)
    if not model.exists():
        raise InputError(f"{model}: no such file or directory")
    text, notes = starter_cfg(model, str(output))
    if output.exists() and not force:
        raise InputError(f"{output}: exists (--force replaces it)")
    atomic_write(output, [text.encode("utf-8")])
    return notes


def _o1_lines() -> list[str]:
    """The O1 passes as `name=True`, each after its description (dead code goes in any case)."""
    passes = [(n, p) for n, p in available_passes().items() if "O1" in p.levels and n != "remove_dead_operators"]
    if not passes:
        return ["; no optimization pass is installed (install one-passes)"]
    lines = ["; the O1 group (`one passes`), pass by pass: set one to False to leave it out"]
    for name, p in passes:
        lines += [f"; {p.description}", f"{name}=True"]
    return lines
