"""Loading Keras files (.keras archives and legacy .h5) with errors that say what is missing."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from one_core.errors import InputError, InvalidModelError

from .options import Options
from .tfenv import converter_message, import_keras, quiet

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def is_keras_archive(path: Path) -> bool:
    """A Keras 3 `.keras` file: a zip holding config.json (and the weights)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except Exception:
        return False
    return "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names)


def is_keras_h5(path: Path) -> bool:
    """An HDF5 file with a Keras model config (what `model.save("x.h5")` writes)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "model_config" in f.attrs
    except Exception:
        return False


def read_config(path: Path) -> dict[str, Any] | None:
    """The model's Keras config, read without Keras (None if unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(ZIP_MAGIC):
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        if head.startswith(HDF5_MAGIC):
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs["model_config"]
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except Exception:
        return None
    return None


def custom_objects(options: Options, label: str) -> dict[str, Any]:
    """Custom objects from a dict (Python) and from modules or .py files imported first (their
    registered classes become known to Keras; their public names are passed as well)."""
    found: dict[str, Any] = {}
    for spec in options.custom_object_modules:
        module = _import_module(spec, label)
        found.update({k: v for k, v in vars(module).items() if not k.startswith("_") and callable(v)})
    found.update(options.custom_objects or {})
    return found


def _import_module(spec: str, label: str) -> Any:
    path = Path(spec)
    try:
        if spec.endswith(".py"):
            if not path.is_file():
                raise InputError(f"{label}: custom_objects file {spec} does not exist")
            name = f"_one_custom_objects_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
            sys.modules[name] = module
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
            return module
        return importlib.import_module(spec)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{label}: cannot import custom_objects module {spec}: {type(exc).__name__}: {exc}") from None


def load_keras_file(path: Path, options: Options, label: str) -> Any:
    keras = import_keras(options.verbose)
    objects = custom_objects(options, label)
    try:
        with quiet(options.verbose):
            return keras.models.load_model(path, custom_objects=objects or None, compile=False,
                                           safe_mode=options.safe_mode)
    except Exception as exc:
        raise _explain(path, exc, objects, label) from None


def _explain(path: Path, exc: Exception, objects: dict[str, Any], label: str) -> Exception:
    text = str(exc)
    config = read_config(path)
    if "safe_mode" in text and ("Lambda" in text or "lambda" in text):
        names = sorted(_lambda_layers(config)) if config else []
        which = f" {', '.join(repr(n) for n in names)}" if names else ""
        return InputError(
            f"{label}: Keras safe mode refuses to load the Lambda layer{'s' if len(names) > 1 else ''}{which}: "
            "its function is Python bytecode stored in the file, which could run arbitrary code; "
            "if you trust this file, load it with safe_mode=false (-X safe_mode=false)"
        )
    missing_hint = ("Could not locate" in text or "Unknown layer" in text or "Unknown object" in text
                    or "Unknown activation" in text or "custom_object_scope" in text)
    if missing_hint:
        names = _missing_objects(config, objects) if config else []
        if not names:
            import re

            m = re.search(r"(?:Could not locate (?:class|function)|Unknown \w+:?) '([^']+)'", text)
            names = [m.group(1)] if m else []
        what = ", ".join(names) if names else "objects this Keras installation does not know"
        return InputError(
            f"{label}: the model needs custom objects: {what}; pass them with custom_objects "
            "(a dict from Python, or -X custom_objects=MODULE_OR_FILE.py that defines or registers them)"
        )
    return InvalidModelError(f"{label}: Keras cannot load the model: {converter_message(exc)}")


def _walk(node: Any, in_layers: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every dict with a class_name; the flag says whether it is an entry of a `layers` list."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            yield node, in_layers
        for key, value in node.items():
            if key == "compile_config":
                continue
            if key == "layers" and isinstance(value, list):
                for item in value:
                    yield from _walk(item, True)
            else:
                yield from _walk(value, False)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, False)


def _lambda_layers(config: dict[str, Any]) -> list[str]:
    names = []
    for node, _ in _walk(config):
        if node["class_name"] == "Lambda":
            function = (node.get("config") or {}).get("function")
            if isinstance(function, dict) and function.get("class_name") == "__lambda__" or isinstance(function, list):
                names.append(str((node.get("config") or {}).get("name") or node.get("name") or "?"))
    return names


def _missing_objects(config: dict[str, Any], objects: dict[str, Any]) -> list[str]:
    """Names of the classes and functions in `config` that Keras cannot resolve."""
    keras = sys.modules.get("keras")
    if keras is None:
        return []
    missing: list[str] = []

    def known(name: str) -> bool:
        if name in objects:
            return True
        try:
            return keras.saving.get_registered_object(name) is not None
        except Exception:
            return False

    for node, in_layers in _walk(config):
        cls = node["class_name"]
        if cls.startswith("__"):
            continue
        module = node.get("module", "<legacy>")
        registered = node.get("registered_name")
        if module == "builtins" and cls == "function":  # a plain function, named in config
            fname = node.get("config")
            if isinstance(fname, str) and not known(fname) and not hasattr(keras.activations, fname):
                missing.append(f"{fname} (function)")
            continue
        if module == "<legacy>":  # .h5: only layers carry class names we can check
            if in_layers and not known(cls) and not hasattr(keras.layers, cls) and not hasattr(keras.models, cls):
                missing.append(cls)
            continue
        if module is None or not (module == "keras" or module.startswith("keras.")):
            name = registered or cls
            if not known(name) and not known(cls):
                missing.append(name)
    return list(dict.fromkeys(missing))
