"""From each kind of TensorFlow source to TFLite flatbuffer bytes, through TensorFlow's converter.

Every converter is set up the same way (`_configure`): float, no optimizations (quantization is
the quantizer's job), TFLite builtins plus TF select ops (kept as custom "Flex" operators carrying
their NodeDef) and custom operators allowed; what to do about those is decided afterwards, on
the converted model, so an error can list all of them at once.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from one_core.errors import ConversionError, InputError, InvalidModelError, OneError

from . import graphdef
from .kerasfile import load_keras_file
from .options import Options
from .tfenv import conversion_error, import_tf, quiet

#: How long a signature key or input name may be, and which characters a TF name may hold.
_TF_NAME = re.compile(r"[^A-Za-z0-9_.\-/]")


def _configure(tf: Any, converter: Any, options: Options) -> Any:
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if options.select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    converter.allow_custom_ops = True
    converter.optimizations = []
    if options.disable_batchmatmul_unfold:
        converter._experimental_disable_batchmatmul_unfold = True
    return converter


def _run(tf: Any, make: Callable[[], Any], options: Options, label: str) -> bytes:
    """Build the converter (inside the quiet block: some constructors trace or print) and run it."""
    try:
        with quiet(options.verbose):
            converter = _configure(tf, make(), options)
            return bytes(converter.convert())
    except OneError:
        raise
    except Exception as exc:
        raise conversion_error(label, exc) from None


# ----------------------------------------------------------------------------------------------
# Keras models (live, .keras, .h5)
# ----------------------------------------------------------------------------------------------


def keras_file(path: Path, options: Options, label: str) -> bytes:
    _refuse(options, label, "a Keras model")
    if options.converter_version == "v1":
        raise InputError(f"{label}: converter v1 cannot read Keras 3 files; leave out v1 (v2 is the default)")
    model = load_keras_file(path, options, label)
    return keras_model(model, options, label)


def keras_model(model: Any, options: Options, label: str) -> bytes:
    tf = import_tf(options.verbose)
    _refuse(options, label, "a Keras model")
    inputs = _keras_inputs(model)
    if inputs is None:  # a subclassed model never called: let TensorFlow find its signature
        if options.input_shapes or options.input_shapes_by_name:
            raise InputError(f"{label}: the Keras model has no known inputs (build or call it once) "
                             "so input_shapes cannot be applied")
        return _run(tf, lambda: tf.lite.TFLiteConverter.from_keras_model(model), options, label)
    names = _unique([_tf_name(_keras_input_name(t) or f"input_{i}") for i, t in enumerate(inputs)])
    fixed = options.shapes_for(names, label)
    specs = []
    for name, t in zip(names, inputs):
        shape = _merge_shape(list(t.shape), fixed.get(name), name, label)
        specs.append(tf.TensorSpec(shape, t.dtype, name=name))
    try:
        structure = model.input
    except Exception:
        structure = inputs if len(inputs) > 1 else inputs[0]
    output_names = list(getattr(model, "output_names", None) or [])

    def serve(*args: Any) -> Any:
        packed = tf.nest.pack_sequence_as(structure, list(args)) if _nested(structure) else args[0]
        result = model(packed, training=False)
        if isinstance(result, dict) and not any(_nested(v) for v in result.values()):
            return {_tf_name(str(k)): v for k, v in result.items()}  # the model names its outputs
        flat = tf.nest.flatten(result)
        keys = output_names if len(output_names) == len(flat) and len(set(output_names)) == len(flat) \
            else [f"output_{i}" for i in range(len(flat))]
        return dict(zip(keys, flat))

    keras = sys.modules.get("keras")
    export = getattr(keras, "export", None) if keras is not None else None
    if export is None or not isinstance(model, keras.Model):  # Keras 2 (tf_keras)
        def make_v2() -> Any:
            function = tf.function(serve, input_signature=specs, autograph=False)
            return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], model)

        return _run(tf, make_v2, options, label)

    # What TensorFlow's from_keras_model does for Keras 3, with our endpoint: named outputs and
    # the fixed shapes. The SavedModel is written to a temporary directory, always removed.
    with tempfile.TemporaryDirectory(prefix="one-tf-") as tmp:
        def make() -> Any:
            archive = export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serving_default", serve, specs)  # Keras traces it without autograph
            archive.write_out(tmp, verbose=False)
            return _saved_model_converter(tf, tmp, ["serve"], ["serving_default"])

        return _run(tf, make, options, label)


def _saved_model_converter(tf: Any, directory: str, tags: list[str], keys: list[str]) -> Any:
    """The converter `from_saved_model` returns, without its first Python load of the model
    (it loads it twice, once only to check the keys we already know): as fast as
    `from_keras_model`. Falls back to `from_saved_model` if TensorFlow's internals differ."""
    try:
        from tensorflow.lite.python.lite import TFLiteSavedModelConverterV2

        converter = TFLiteSavedModelConverterV2(directory, set(tags), list(keys))
        if converter.saved_model_dir:
            return converter
    except Exception:
        pass
    return tf.lite.TFLiteConverter.from_saved_model(directory, signature_keys=keys, tags=set(tags))


def _keras_inputs(model: Any) -> list[Any] | None:
    try:
        inputs = model.inputs
    except Exception:
        return None
    return list(inputs) if inputs else None


def _keras_input_name(tensor: Any) -> str:
    """The name of the InputLayer that makes `tensor` (what Keras saves and reloads), else the
    tensor's own name (an automatic 'keras_tensor_N' for applications)."""
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None)
    return str(getattr(layer, "name", None) or getattr(tensor, "name", "") or "")


def _nested(structure: Any) -> bool:
    return isinstance(structure, (list, tuple, dict))


# ----------------------------------------------------------------------------------------------
# SavedModel
# ----------------------------------------------------------------------------------------------


def saved_model(path: Path, options: Options, label: str) -> bytes | tuple[bytes, list[str]]:
    tf = import_tf(options.verbose)
    tags = options.tags or ["serve"]
    signatures = _saved_model_signatures(tf, path, tags, label)
    keys = options.signature_keys or [k for k in signatures]
    unknown = [k for k in keys if k not in signatures]
    if unknown:
        raise InputError(
            f"{label}: no signature {', '.join(repr(k) for k in unknown)} in the SavedModel "
            f"(signatures: {', '.join(signatures) or 'none'})"
        )
    if not keys:
        raise InvalidModelError(f"{label}: the SavedModel has no signatures to convert (tags {','.join(tags)})")
    if options.converter_version == "v1":
        return _saved_model_v1(tf, path, tags, keys, signatures, options, label)
    _refuse(options, label, "a SavedModel with converter v2")
    per_key = {k: options.shapes_for(signatures[k], f"{label} (signature {k})") for k in keys}
    if not any(per_key.values()):
        explicit = options.signature_keys is not None
        return _run(tf, lambda: tf.lite.TFLiteConverter.from_saved_model(
            str(path), signature_keys=keys if explicit else None, tags=set(tags)), options, label)

    def make() -> Any:  # fixed shapes: wrap each signature in a function with those shapes
        loaded = tf.saved_model.load(str(path), tags=tags)
        if options.signature_keys is None and _keras_export(loaded, keys):
            keys[:] = ["serving_default"]
        functions = []
        for key in keys:
            fn = loaded.signatures[key]
            spec = fn.structured_input_signature[1]
            names = sorted(spec)
            specs = [tf.TensorSpec(_merge_shape(list(spec[n].shape), per_key[key].get(n), n, label),
                                   spec[n].dtype, name=n) for n in names]
            functions.append(_wrap_call(tf, fn, names, specs, key, keywords=True))
        make.loaded = loaded  # type: ignore[attr-defined]  # keep the variables alive
        return tf.lite.TFLiteConverter.from_concrete_functions(functions, loaded)

    return _run(tf, make, options, label), keys  # one function becomes 'serving_default': rename


def _keras_export(loaded: Any, keys: list[str]) -> bool:
    """A `model.export()` SavedModel: its 'serve' and 'serving_default' signatures are the same
    function, and TensorFlow's from_saved_model converts only 'serving_default'."""
    return (len(keys) > 1 and "serving_default" in keys and hasattr(loaded, "serve")
            and not hasattr(loaded, "_default_save_signature"))


def _saved_model_signatures(tf: Any, path: Path, tags: list[str], label: str) -> dict[str, list[str]]:
    """Signature key -> input names (sorted, as the converter lists them), read from the
    SavedModel's protobuf without loading the model."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        if (path / "saved_model.pb").is_file():
            proto.ParseFromString((path / "saved_model.pb").read_bytes())
        else:
            text_format.Merge((path / "saved_model.pbtxt").read_text(), proto)
    except Exception as exc:
        raise InvalidModelError(f"{label}: cannot parse the SavedModel's protobuf ({type(exc).__name__}: {exc})") from None
    tag_sets = [sorted(mg.meta_info_def.tags) for mg in proto.meta_graphs]
    for mg in proto.meta_graphs:
        if set(mg.meta_info_def.tags) == set(tags):
            return {k: sorted(mg.signature_def[k].inputs) for k in sorted(mg.signature_def) if not k.startswith("__")}
    raise InputError(
        f"{label}: no MetaGraph with tags {','.join(tags)} in the SavedModel "
        f"(tag sets: {'; '.join(','.join(t) for t in tag_sets) or 'none'}); choose with tags=..."
    )


def _saved_model_v1(tf: Any, path: Path, tags: list[str], keys: list[str], signatures: dict[str, list[str]],
                    options: Options, label: str) -> bytes:
    if len(keys) > 1 and options.signature_keys is None and "serving_default" in keys:
        keys = ["serving_default"]  # converter v1's own default
    if len(keys) != 1:
        raise InputError(f"{label}: converter v1 converts one signature; choose it with signature_keys "
                         f"(signatures: {', '.join(signatures)})")
    shapes = None
    if options.input_shapes is not None or options.input_shapes_by_name is not None:
        shapes = options.shapes_for(options.input_arrays or signatures[keys[0]], label)
    return _run(tf, lambda: tf.compat.v1.lite.TFLiteConverter.from_saved_model(
        str(path), input_arrays=options.input_arrays, input_shapes=_none_dims(shapes),
        output_arrays=options.output_arrays, tag_set=set(tags), signature_key=keys[0]), options, label)


# ----------------------------------------------------------------------------------------------
# Frozen GraphDef
# ----------------------------------------------------------------------------------------------


def graph_def(path: Path, options: Options, label: str) -> bytes:
    tf = import_tf(options.verbose)
    if options.signature_keys or options.tags:
        raise InputError(f"{label}: signature_keys and tags apply to SavedModels, not to a GraphDef")
    gd = graphdef.read_graph_def(tf, path, label)
    inputs, outputs = graphdef.check_arrays(gd, options, label)
    shapes = options.shapes_for([graphdef._node_name(a) for a in inputs], label)
    for name, dims in graphdef.placeholder_shapes(gd, list(shapes)).items():
        _merge_shape(dims, shapes[name], name, label)  # only dynamic dimensions may be fixed
    unknown = graphdef.unknown_input_shapes(gd, inputs, shapes)
    if unknown:
        raise InputError(f"{label}: input {', '.join(repr(u) for u in unknown)} has no known shape; "
                         "give it with input_shapes (e.g. 1,224,224,3)")
    with quiet(options.verbose):
        graphdef.register_unknown_ops(gd)
    if options.converter_version in (None, "v1"):  # ONE's one-import-tf default
        return _run(tf, lambda: tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            str(path), inputs, outputs, _none_dims(shapes) or None), options, label)

    def make() -> Any:  # converter 2.x, as ONE's tf2tfliteV2 --v2 does it
        def imports() -> None:
            tf.compat.v1.import_graph_def(gd, name="")

        wrapped = tf.compat.v1.wrap_function(imports, [])
        graph = wrapped.graph
        port = lambda a: a if ":" in a else a + ":0"  # noqa: E731
        function = wrapped.prune([graph.as_graph_element(port(a)) for a in inputs],
                                 [graph.as_graph_element(port(a)) for a in outputs])
        for tensor, name in zip(function.inputs, inputs):
            shape = shapes.get(graphdef._node_name(name))
            if shape is not None:
                tensor.set_shape([None if d < 0 else d for d in shape])
        return tf.lite.TFLiteConverter.from_concrete_functions([function])

    return _run(tf, make, options, label)


# ----------------------------------------------------------------------------------------------
# tf.Module, tf.function, concrete functions
# ----------------------------------------------------------------------------------------------


def module(obj: Any, options: Options, label: str) -> tuple[bytes, list[str]]:
    import_tf(options.verbose)
    _refuse(options, label, "a tf.Module")
    signatures = getattr(obj, "signatures", None)
    found: dict[str, Any] = {}
    if signatures is not None and len(signatures):  # a loaded SavedModel
        found = {k: signatures[k] for k in signatures}
    else:
        for cls in reversed(type(obj).__mro__):
            for name, value in vars(cls).items():
                if _is_tf_function(value):
                    found[name] = None
        for name, value in vars(obj).items():
            if _is_tf_function(value):
                found[name] = None
        found = {name: getattr(obj, name) for name in found}
        found = {name: fn for name, fn in found.items() if getattr(fn, "input_signature", None) is not None}
    keys = options.signature_keys or sorted(found)
    unknown = [k for k in keys if k not in found]
    if unknown:
        raise InputError(f"{label}: no tf.function {', '.join(repr(k) for k in unknown)} with an input_signature "
                         f"(found: {', '.join(sorted(found)) or 'none'})")
    if not keys:
        raise InputError(f"{label}: the tf.Module has no tf.function with an input_signature to convert")
    data = functions([found[k] for k in keys], options, label, trackable=obj, keys=keys)
    return data, ["serving_default" if k == "__call__" else k for k in keys]


def functions(fns: Sequence[Any], options: Options, label: str, trackable: Any = None,
              keys: Sequence[str] | None = None) -> bytes:
    tf = import_tf(options.verbose)
    _refuse(options, label, "a function")

    def make() -> Any:
        concrete = []
        for i, fn in enumerate(fns):
            key = keys[i] if keys else None
            concrete.append(_concrete(tf, fn, options, label, key))
        return tf.lite.TFLiteConverter.from_concrete_functions(concrete, trackable)

    return _run(tf, make, options, label)


def _concrete(tf: Any, fn: Any, options: Options, label: str, key: str | None) -> Any:
    """A concrete function for `fn`, with the fixed input shapes applied."""
    if isinstance(fn, tf.types.experimental.ConcreteFunction):
        args, kwargs = fn.structured_input_signature
        if kwargs and not args:  # a signature function (keyword arguments)
            names = sorted(kwargs)
            specs = [kwargs[n] for n in names]
            keywords = True
        else:
            specs = list(tf.nest.flatten(args))
            names = [_tf_name(s.name or f"input_{i}") for i, s in enumerate(specs)]
            keywords = False
        fixed = options.shapes_for(names, label)
        if not fixed:
            return fn
        new_specs = [tf.TensorSpec(_merge_shape(list(s.shape), fixed.get(n), n, label), s.dtype, name=n)
                     for n, s in zip(names, specs)]
        return _wrap_call(tf, fn, names, new_specs, key or _fn_name(fn), keywords=keywords)
    signature = getattr(fn, "input_signature", None)
    if signature is None:
        raise InputError(f"{label}: tf.function {_fn_name(fn)!r} has no input_signature; give it one, "
                         "or pass fn.get_concrete_function(...)")
    specs = list(tf.nest.flatten(signature))
    names = [_tf_name(s.name or f"input_{i}") for i, s in enumerate(specs)]
    fixed = options.shapes_for(names, label)
    if not fixed:
        return fn.get_concrete_function()
    new_specs = [tf.TensorSpec(_merge_shape(list(s.shape), fixed.get(n), n, label), s.dtype, name=s.name)
                 for n, s in zip(names, specs)]
    python = getattr(fn, "python_function", None)
    if python is not None and len(tf.nest.flatten(signature)) == len(signature):
        # retrace the Python code with the fixed shapes: every shape inside becomes static
        return tf.function(python, input_signature=new_specs).get_concrete_function()
    return _wrap_call(tf, fn, names, new_specs, key or _fn_name(fn), keywords=False)


def _wrap_call(tf: Any, fn: Any, names: list[str], specs: list[Any], key: str, keywords: bool) -> Any:
    """A concrete function of fixed-shape inputs that calls `fn` (whose own shapes may be
    dynamic); the converter inlines the call and propagates the shapes."""
    def call(*args: Any) -> Any:
        return fn(**dict(zip(names, args))) if keywords else fn(*args)

    call.__name__ = _tf_name(key).replace("-", "_").replace(".", "_").replace("/", "_") or "call"
    return tf.function(call, input_signature=specs, autograph=False).get_concrete_function()


def _is_tf_function(value: Any) -> bool:
    return any(c.__name__ == "PolymorphicFunction" and c.__module__.startswith("tensorflow")
               for c in type(value).__mro__)


def _fn_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or getattr(fn, "name", None) or "function")


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _refuse(options: Options, label: str, what: str) -> None:
    """output_arrays prunes a graph: only a GraphDef (or converter v1) has one to prune."""
    if options.output_arrays:
        raise InputError(f"{label}: output_arrays applies to a GraphDef (or a SavedModel with converter v1), "
                         f"not to {what}")
    if options.input_arrays and options.input_shapes is None:
        raise InputError(f"{label}: for {what}, input_arrays only says which inputs input_shapes sets; "
                         "give input_shapes too")


def _merge_shape(shape: list[Any], fixed: list[int] | None, name: str, label: str) -> list[int | None]:
    dims = [None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in shape]
    if fixed is None:
        return dims
    if len(fixed) != len(dims):
        raise InputError(f"{label}: input_shapes gives input {name!r} rank {len(fixed)}, but it has rank "
                         f"{len(dims)} (shape {_shape_text(dims)})")
    out: list[int | None] = []
    for have, want in zip(dims, fixed):
        if want < 0:
            out.append(have)
        elif have is not None and have != want:
            raise InputError(f"{label}: input_shapes gives input {name!r} shape {_shape_text(fixed)}, but its "
                             f"shape is {_shape_text(dims)}; only dynamic dimensions can be fixed")
        else:
            out.append(want)
    return out


def _shape_text(dims: Sequence[Any]) -> str:
    return "[" + ",".join("?" if d is None or d < 0 else str(d) for d in dims) + "]"


def _none_dims(shapes: dict[str, list[int]] | None) -> dict[str, list[int | None]] | None:
    if not shapes:
        return None
    return {k: [None if d < 0 else d for d in v] for k, v in shapes.items()}


def _tf_name(name: str) -> str:
    name = name.split(":")[0]
    return _TF_NAME.sub("_", name)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


__all__ = ["ConversionError", "graph_def", "keras_file", "keras_model", "module", "functions", "saved_model"]
