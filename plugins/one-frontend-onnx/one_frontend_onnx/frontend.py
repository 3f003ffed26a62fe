"""The onnx -> circle frontend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx

from one_core.errors import InputError
from one_core.ir import Model
from one_core.plugin import EXTENSION_MATCH, NO_MATCH, Frontend

from .converter import GraphConverter
from .loading import check_model, read_model
from .options import parse_options


class OnnxFrontend(Frontend):
    name = "onnx"
    description = "ONNX models (.onnx), converted directly (no TensorFlow), channels-last inside"
    extensions = (".onnx",)

    def match(self, source: Any, head: bytes) -> int:
        if isinstance(source, onnx.ModelProto):
            return EXTENSION_MATCH
        return super().match(source, head) if isinstance(source, (str, os.PathLike)) else NO_MATCH

    def load(self, source: Any, **options: Any) -> Model:
        if isinstance(source, onnx.ModelProto):
            label, folder, proto = "ONNX model", None, source
            check_model(proto, label)
        else:
            path = Path(source)
            if not path.is_file():
                raise InputError(f"{path}: an ONNX model is a file")
            label, folder, proto = str(path), path.parent, read_model(path)
        return GraphConverter(proto, label, folder, parse_options(options, label)).convert()
