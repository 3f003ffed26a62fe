"""The ONNX frontend's options, from Python values or `-X KEY=VALUE` strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from one_core.errors import InputError
from one_core.options import parse_bool, parse_choice, parse_shape, parse_shapes

#: option name -> one-line help (docs/frontend-onnx.md lists the same)
OPTION_HELP = {
    "input_shapes": "shapes of the inputs, colon-separated in input order, e.g. 1,3,224,224:1,10 "
                    "(or a dict by name from Python); fixes dynamic dimensions (-1 keeps one dynamic)",
    "custom_ops": "true: operators without a circle equivalent become custom operators instead of an error",
    "io_layout": "onnx (default): inputs and outputs keep ONNX's layout; nhwc: rank 3-5 inputs and outputs, "
                 "channels-first in the ONNX model, are presented channels-last",
}
IO_LAYOUTS = ("onnx", "nhwc")


@dataclass
class ImportOptions:
    input_shapes: list[list[int] | None] | None = None
    input_shapes_by_name: dict[str, list[int]] | None = None
    custom_ops: bool = False
    io_layout: str = "onnx"

    def input_shapes_for(self, names: Sequence[str], label: str) -> dict[str, list[int | None]] | None:
        """Fixed shapes by input name (-1 kept as None: still dynamic)."""
        if self.input_shapes_by_name is not None:
            unknown = sorted(set(self.input_shapes_by_name) - set(names))
            if unknown:
                raise InputError(f"{label}: input_shapes names {', '.join(unknown)}, which are not inputs "
                                 f"(inputs: {', '.join(names)})")
            pairs = self.input_shapes_by_name.items()
        elif self.input_shapes is not None:
            if len(self.input_shapes) != len(names):
                raise InputError(f"{label}: input_shapes gives {len(self.input_shapes)} shape(s) for "
                                 f"{len(names)} input(s) ({', '.join(names)})")
            pairs = zip(names, self.input_shapes)
        else:
            return None
        return {n: [None if d < 0 else d for d in s] for n, s in pairs if s is not None}


def parse_options(options: Mapping[str, Any], label: str) -> ImportOptions:
    unknown = sorted(set(options) - set(OPTION_HELP))
    if unknown:
        raise InputError(f"{label}: unknown option(s) {', '.join(unknown)} for the onnx frontend "
                         f"(known: {', '.join(OPTION_HELP)})")
    o = ImportOptions()
    shapes = options.get("input_shapes")
    if isinstance(shapes, Mapping):
        o.input_shapes_by_name = {str(k): parse_shape(v, label) for k, v in shapes.items()}
    elif shapes is not None:
        o.input_shapes = parse_shapes(shapes, label)
    if options.get("custom_ops") is not None:
        o.custom_ops = parse_bool("custom_ops", options["custom_ops"], label)
    if options.get("io_layout") is not None:
        o.io_layout = parse_choice("io_layout", options["io_layout"], IO_LAYOUTS, label)
    return o
