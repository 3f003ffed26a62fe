"""The TensorFlow frontend's options: parsed from Python values or from `-X KEY=VALUE` strings.

Names follow ONE's one-import-tf (`input_arrays`, `input_shapes`, `output_arrays`, `v1`/`v2`,
`model_format`) and TensorFlow's converter (`signature_keys`, `tags`, `allow_custom_ops`) and
Keras (`safe_mode`, `custom_objects`) where those have one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from one_core.errors import InputError
from one_core.options import parse_bool as _bool
from one_core.options import parse_choice as _choice
from one_core.options import parse_names as _names
from one_core.options import parse_shape as _shape
from one_core.options import parse_shapes as _shapes

MODEL_FORMATS = ("graph_def", "saved_model", "keras_model")
CONVERTER_VERSIONS = ("v1", "v2")

#: option name -> one-line help (shown by `one import-tf --help` and docs/frontend-tf.md)
OPTION_HELP = {
    "model_format": "graph_def, saved_model or keras_model (default: from the file)",
    "converter_version": "v1 or v2: TensorFlow's TFLite converter 1.x or 2.x API "
                         "(default: v1 for a GraphDef, as ONE's one-import-tf; v2 otherwise)",
    "v1": "true: same as converter_version=v1",
    "v2": "true: same as converter_version=v2",
    "input_arrays": "input names, comma-separated (GraphDef: required; others: which inputs "
                    "input_shapes sets)",
    "input_shapes": "shapes, colon-separated, e.g. 1,224,224,3:1,10 (-1 keeps a dimension dynamic)",
    "output_arrays": "output names, comma-separated (GraphDef only; required there)",
    "signature_keys": "SavedModel / tf.Module signatures to convert, comma-separated (default: all)",
    "tags": "SavedModel MetaGraph tags, comma-separated (default: serve)",
    "allow_custom_ops": "false: refuse operators without a TFLite builtin instead of keeping "
                        "them as custom operators (default: true)",
    "select_tf_ops": "false: keep TF ops without a TFLite builtin as plain custom operators "
                     "named after the op, instead of Flex ops carrying their NodeDef (default: true)",
    "safe_mode": "false: let Keras load Lambda layers (runs Python bytecode from the file; "
                 "only for files you trust) (default: true)",
    "custom_objects": "Keras custom classes and functions: from Python a dict; as a string, "
                      "comma-separated Python modules or .py files to import first",
    "disable_batchmatmul_unfold": "true: keep BATCH_MATMUL unfolded (ONE's experimental option)",
    "verbose": "true: show TensorFlow's own log output (hidden by default)",
}


@dataclass
class Options:
    model_format: str | None = None
    converter_version: str | None = None
    input_arrays: list[str] | None = None
    input_shapes: list[list[int] | None] | None = None
    input_shapes_by_name: dict[str, list[int]] | None = None
    output_arrays: list[str] | None = None
    signature_keys: list[str] | None = None
    tags: list[str] | None = None
    allow_custom_ops: bool = True
    select_tf_ops: bool = True
    safe_mode: bool = True
    custom_objects: dict[str, Any] | None = None
    custom_object_modules: list[str] = field(default_factory=list)
    disable_batchmatmul_unfold: bool = False
    verbose: bool = False

    def shapes_for(self, names: Sequence[str], where: str) -> dict[str, list[int]]:
        """The fixed shapes by input name for inputs `names` (in their order), {} if none.

        Shapes given by name (input_arrays, or a dict) must name existing inputs; shapes given
        in order must be as many as the inputs."""
        if self.input_shapes is None and self.input_shapes_by_name is None:
            return {}
        if self.input_shapes_by_name is not None:
            by_name = dict(self.input_shapes_by_name)
        elif self.input_arrays is not None:
            by_name = dict(zip(self.input_arrays, self.input_shapes or []))
        else:
            shapes = self.input_shapes or []
            if len(shapes) != len(names):
                raise InputError(
                    f"{where}: input_shapes gives {len(shapes)} shape(s) for {len(names)} input(s) "
                    f"({', '.join(names)}); give one per input, or name them with input_arrays"
                )
            by_name = dict(zip(names, shapes))
        unknown = [n for n in by_name if _strip_port(n) not in names]
        if unknown:
            raise InputError(
                f"{where}: no input named {', '.join(repr(n) for n in unknown)} "
                f"(inputs: {', '.join(names) or 'none'})"
            )
        return {_strip_port(n): s for n, s in by_name.items() if s is not None}


def _strip_port(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def parse_options(options: Mapping[str, Any], label: str) -> Options:
    """Check and convert the keyword options of `load`; unknown names are refused."""
    unknown = sorted(set(options) - set(OPTION_HELP))
    if unknown:
        raise InputError(
            f"{label}: unknown option(s) {', '.join(unknown)} for the tf frontend "
            f"(known: {', '.join(OPTION_HELP)})"
        )
    o = Options()
    get = options.get
    if get("model_format") is not None:
        o.model_format = _choice("model_format", get("model_format"), MODEL_FORMATS, label)
    versions = []
    if get("converter_version") is not None:
        versions.append(_choice("converter_version", get("converter_version"), CONVERTER_VERSIONS, label))
    for flag in CONVERTER_VERSIONS:
        if get(flag) is not None and _bool(flag, get(flag), label):
            versions.append(flag)
    if len(set(versions)) > 1:
        raise InputError(f"{label}: converter versions v1 and v2 are both asked for; choose one")
    o.converter_version = versions[0] if versions else None
    o.input_arrays = _names("input_arrays", get("input_arrays"), label)
    o.output_arrays = _names("output_arrays", get("output_arrays"), label)
    o.signature_keys = _names("signature_keys", get("signature_keys"), label)
    o.tags = _names("tags", get("tags"), label)
    shapes = get("input_shapes")
    if shapes is not None:
        if isinstance(shapes, Mapping):
            o.input_shapes_by_name = {str(k): _shape(v, label) for k, v in shapes.items()}
            if o.input_arrays is not None:
                raise InputError(f"{label}: input_shapes given by name; leave out input_arrays")
        else:
            o.input_shapes = _shapes(shapes, label)
            if o.input_arrays is not None and len(o.input_arrays) != len(o.input_shapes):
                raise InputError(
                    f"{label}: input_shapes has {len(o.input_shapes)} shape(s) but input_arrays "
                    f"names {len(o.input_arrays)} input(s); they must have the same number of items"
                )
    for flag in ("allow_custom_ops", "select_tf_ops", "safe_mode", "disable_batchmatmul_unfold", "verbose"):
        if get(flag) is not None:
            setattr(o, flag, _bool(flag, get(flag), label))
    custom = get("custom_objects")
    if custom is not None:
        if isinstance(custom, Mapping):
            o.custom_objects = dict(custom)
        elif isinstance(custom, str):
            o.custom_object_modules = [m.strip() for m in custom.split(",") if m.strip()]
        else:
            raise InputError(f"{label}: custom_objects must be a dict or a comma-separated list of modules")
    return o
