"""The tflite -> circle frontend.

Circle is a superset of the TFLite schema, so a TFLite flatbuffer maps field for field onto the
circle IR. What this frontend adds is the check that the file really is TFLite: its identifier,
and no circle-only operator or tensor type (those negative codes mean something else, or
nothing, to TFLite tools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from one_core.circle.reader import TFLITE_IDENTIFIER, read_identifier, read_model
from one_core.errors import InputError, InvalidModelError
from one_core.ir import Model, is_circle_only
from one_core.plugin import CONTENT_MATCH, Frontend


class TfliteFrontend(Frontend):
    name = "tflite"
    description = "TensorFlow Lite flatbuffers (.tflite)"
    extensions = (".tflite",)

    def match(self, source: Any, head: bytes) -> int:
        if head[4:8] == TFLITE_IDENTIFIER:
            return CONTENT_MATCH
        return super().match(source, head)

    def load(self, source: Any, **options: Any) -> Model:
        if options:
            raise InputError(f"tflite frontend takes no options (got {', '.join(sorted(options))})")
        path = Path(source)
        if path.is_file() and read_identifier(path) not in (TFLITE_IDENTIFIER, b""):
            ident = read_identifier(path)
            raise InvalidModelError(
                f"{path}: file identifier {ident!r} is not TFLite's {TFLITE_IDENTIFIER!r}"
                + (" (this is a circle file; use the circle frontend)" if ident == b"CIR0" else "")
            )
        model = read_model(path)
        _reject_circle_only(model, path)
        return model


def _reject_circle_only(model: Model, path: Path) -> None:
    found = []
    for index, sg in enumerate(model.subgraphs):
        found += [f"operator {op.name} in subgraph {index}" for op in sg.operators if is_circle_only(op.name)]
        found += [f"type {t.dtype.name} of tensor '{t.name}'" for t in sg.tensors if t.dtype.is_circle_only]
    if found:
        raise InvalidModelError(f"{path}: a TFLite file cannot hold circle-only " + ", ".join(dict.fromkeys(found)))
