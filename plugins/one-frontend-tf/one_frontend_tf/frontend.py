"""The TensorFlow frontend: what ONE's one-import-tf does (tf2tfliteV2, then tflite2circle).

TensorFlow's own TFLite converter turns the source into a TFLite flatbuffer in memory; the bytes
go through the tflite frontend (found in the plugin registry) into the circle IR. Operators
without a TFLite builtin stay custom operators, with a warning listing them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from one_core.errors import ConversionError, InputError, OneError, UnsupportedOperatorError
from one_core.ir import Model
from one_core.plugin import CONTENT_MATCH, EXTENSION_MATCH, NO_MATCH, Frontend
from one_core.plugin.manager import get_plugins

from . import convert
from .kerasfile import HDF5_MAGIC, ZIP_MAGIC, is_keras_archive, is_keras_h5
from .options import Options, parse_options

KERAS_EXTENSIONS = (".keras", ".h5", ".hdf5")
GRAPHDEF_EXTENSIONS = (".pb", ".pbtxt")


class CustomOperatorWarning(UserWarning):
    """Some operators have no TFLite builtin and were kept as custom operators."""


class TfFrontend(Frontend):
    name = "tf"
    description = ("TensorFlow: SavedModel directories, Keras .keras/.h5 files, frozen GraphDef .pb, "
                   "live keras.Model, tf.Module and (concrete) tf.functions")
    extensions = KERAS_EXTENSIONS + GRAPHDEF_EXTENSIONS

    def match(self, source: Any, head: bytes) -> int:
        try:
            return self._match(source, head)
        except Exception:  # match runs for every model anyone loads: never raise
            return NO_MATCH

    def _match(self, source: Any, head: bytes) -> int:
        if not isinstance(source, (str, os.PathLike)):
            return CONTENT_MATCH if source_kind(source) else NO_MATCH
        path = Path(source)
        if path.is_dir():
            if is_saved_model_dir(path):
                return CONTENT_MATCH
            if (path / "metadata" / "MANIFEST").is_file():  # an nnpackage: not ours
                return NO_MATCH
            return EXTENSION_MATCH  # the only frontend taking directories: say what is wrong
        suffix = path.suffix.lower()
        if path.name == "saved_model.pb":
            return CONTENT_MATCH
        if head.startswith(ZIP_MAGIC):
            return CONTENT_MATCH if suffix == ".keras" or is_keras_archive(path) else NO_MATCH
        if head.startswith(HDF5_MAGIC):  # ONE's .h5 tensor files are HDF5 too: only Keras models
            return CONTENT_MATCH if is_keras_h5(path) else NO_MATCH
        if suffix in self.extensions:
            return EXTENSION_MATCH
        return NO_MATCH

    def load(self, source: Any, **options: Any) -> Model:
        label = _label(source)
        opts = parse_options(options, label)
        converted = _convert(source, opts, label)
        data, keys = converted if isinstance(converted, tuple) else (converted, None)
        model = _read_tflite(data, label)
        del data, converted
        if keys and len(keys) == 1 and len(model.signature_defs) == 1:
            model.signature_defs[0].key = keys[0]  # TensorFlow names a lone signature serving_default
        _check_custom_operators(model, opts, label)
        model.source = label
        return model


def is_saved_model_dir(path: Path) -> bool:
    return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def source_kind(obj: Any) -> str | None:
    """'keras', 'module', 'function' or None for a live object, judged by its classes' names
    (TensorFlow is not imported just to answer)."""
    if isinstance(obj, (list, tuple)):
        return "function" if obj and all(source_kind(o) == "function" for o in obj) else None
    names = [(c.__module__, c.__name__) for c in type(obj).__mro__]
    if any(m.split(".")[0] in ("keras", "tf_keras") and n in ("Model", "Functional", "Sequential") for m, n in names):
        return "keras"
    if any(m.startswith("tensorflow") and n in ("ConcreteFunction", "PolymorphicFunction") for m, n in names):
        return "function"
    if any(m.startswith("tensorflow") and n == "AutoTrackable" for m, n in names):
        return "module"
    return None


def _convert(source: Any, opts: Options, label: str) -> bytes | tuple[bytes, list[str]]:
    """The TFLite bytes, and the signature keys wanted when TensorFlow may rename them."""
    if not isinstance(source, (str, os.PathLike)):
        kind = source_kind(source)
        if opts.model_format is not None:
            raise InputError(f"{label}: model_format applies to files and directories, not to live objects")
        if kind == "keras":
            return convert.keras_model(source, opts, label)
        if kind == "module":
            return convert.module(source, opts, label)
        if kind == "function":
            fns = list(source) if isinstance(source, (list, tuple)) else [source]
            return convert.functions(fns, opts, label)
        raise InputError(f"{label}: not a TensorFlow or Keras object")
    path = Path(source)
    if not path.exists():
        raise InputError(f"{label}: no such file or directory")
    fmt = opts.model_format or _format_of(path, label)
    if fmt == "saved_model":
        directory = path.parent if path.is_file() and path.name in ("saved_model.pb", "saved_model.pbtxt") else path
        if not directory.is_dir() or not is_saved_model_dir(directory):
            what = "a directory" if path.is_dir() else "a file"
            raise InputError(f"{label}: not a SavedModel directory ({what} without saved_model.pb or saved_model.pbtxt)")
        return convert.saved_model(directory, opts, label)
    if path.is_dir():
        raise InputError(f"{label}: model_format={fmt} needs a file, this is a directory")
    if fmt == "keras_model":
        return convert.keras_file(path, opts, label)
    return convert.graph_def(path, opts, label)


def _format_of(path: Path, label: str) -> str:
    if path.is_dir():
        if is_saved_model_dir(path):
            return "saved_model"
        listing = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))[:6]
        raise InputError(
            f"{label}: not a SavedModel directory (no saved_model.pb or saved_model.pbtxt; "
            f"it holds: {', '.join(listing) or 'nothing'})"
        )
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        return "saved_model"
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        if not is_keras_archive(path):
            raise InputError(f"{label}: a zip archive but not a Keras model (no config.json and model.weights.h5)")
        return "keras_model"
    if head.startswith(HDF5_MAGIC):
        if not is_keras_h5(path):
            raise InputError(f"{label}: an HDF5 file without a Keras model (no model_config attribute)")
        return "keras_model"
    if path.suffix.lower() in KERAS_EXTENSIONS:
        raise InputError(f"{label}: not a Keras file (neither a .keras zip archive nor HDF5)")
    return "graph_def"


def _read_tflite(data: bytes, label: str) -> Model:
    """The converter's bytes into the IR through the tflite frontend and the core reader.

    The reader memory-maps a file: the bytes go to a temporary file that is removed as soon as
    it is read. Constants stay views of the mapping, which outlives the file's name (POSIX);
    where an open file cannot be removed (Windows) the constants are copied first."""
    try:
        tflite = get_plugins().frontends.get("tflite")
    except OneError:
        raise ConversionError(f"{label}: the tf frontend needs the tflite frontend (install one-frontend-tflite)") from None
    fd, tmp = tempfile.mkstemp(prefix="one-tf-", suffix=".tflite")
    model: Model | None = None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            model = tflite.load(tmp)
        except UnsupportedOperatorError as exc:
            raise UnsupportedOperatorError(str(exc).replace(tmp, label), exc.operators) from None
        except OneError as exc:
            raise type(exc)(str(exc).replace(tmp, label)) from None
    finally:
        try:
            os.unlink(tmp)
        except PermissionError:  # still mapped (Windows): copy the constants, then remove
            if model is not None:
                _detach_constants(model)
            import gc

            gc.collect()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        except FileNotFoundError:
            pass
    return model


def _detach_constants(model: Model) -> None:
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.data is not None:
                t.data = t.data.copy()


def custom_operators(model: Model) -> list[str]:
    """Custom codes of the model's custom operators, in order of appearance (with repeats)."""
    return [op.custom_code or "?" for sg in model.subgraphs for op in sg.operators if op.name == "CUSTOM"]


def _check_custom_operators(model: Model, opts: Options, label: str) -> None:
    found = custom_operators(model)
    if not found:
        return
    counts: dict[str, int] = {}
    for code in found:
        counts[code] = counts.get(code, 0) + 1
    listing = ", ".join(f"{c} (x{n})" if n > 1 else c for c, n in counts.items())
    if not opts.allow_custom_ops:
        raise UnsupportedOperatorError(
            f"{label}: {len(counts)} operator type(s) have no TFLite builtin: {listing} "
            "(allow_custom_ops=true keeps them as custom operators)",
            list(counts),
        )
    flex = [c for c in counts if c.startswith("Flex")]
    note = "; Flex* operators are TF select ops carrying their NodeDef" if flex else ""
    warnings.warn(
        CustomOperatorWarning(
            f"{label}: {len(found)} operator(s) without a TFLite builtin kept as custom operators: "
            f"{listing}{note}; a backend needs kernels for them"
        ),
        stacklevel=4,
    )


def _label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    kind = source_kind(source)
    name = getattr(source, "name", None)
    if kind == "keras" and isinstance(name, str) and name:
        return f"<keras model '{name}'>"
    if isinstance(source, (list, tuple)):
        return f"<{len(source)} functions>"
    return f"<{type(source).__name__} object>"
