"""The steps of a build: what each of ONE's onecc drivers (one-import-tf, one-optimize, one-pack,
...) does here, and which keys of its cfg section it honours.

Steps reach frontends, passes and the packager only through the core's APIs and registries."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import load, optimize, save
from ..errors import InputError
from ..ir.model import Model
from ..options import parse_bool
from ..passes.outputs import change_outputs, parse_output_names
from ..plugin.manager import get_plugins

Warn = Callable[[str], None]

#: ONE's circle2circle options (one-optimize keys, `onelib/constant.py`), whether implemented
#: here or not: a key among them that is switched on but has no pass here cannot be honoured.
ONE_OPTIMIZE_OPTIONS = frozenset("""
    O1 common_subexpression_elimination convert_nchw_to_nhwc decompose_hardswish decompose_softmax
    dynamic_batch_to_single_batch expand_broadcast_const fold_add_v2 fold_cast fold_densify
    fold_dequantize fold_dwconv fold_fully_connected fold_gather fold_sparse_to_dense
    forward_reshape_to_unaryop forward_transpose_op fuse_activation_function fuse_add_with_conv
    fuse_add_with_fully_connected fuse_add_with_tconv fuse_batchnorm_with_conv fuse_batchnorm_with_dwconv
    fuse_batchnorm_with_tconv fuse_bcq fuse_gelu fuse_horizontal_fc_layers fuse_instnorm fuse_mean_with_mean
    fuse_preactivation_batchnorm fuse_prelu fuse_slice_with_tconv fuse_transpose_with_mean
    make_batchnorm_gamma_positive nchw_to_nhwc_input_shape nchw_to_nhwc_output_shape remove_fakequant
    remove_quantdequant remove_redundant_quantize remove_redundant_reshape remove_redundant_transpose
    remove_unnecessary_add remove_unnecessary_reshape remove_unnecessary_slice remove_unnecessary_split
    remove_unnecessary_strided_slice replace_cw_mul_add_with_depthwise_conv replace_non_const_fc_with_batch_matmul
    replace_sub_with_add replace_with_fc_gelu_fc resolve_customop_add resolve_customop_batchmatmul
    resolve_customop_matmul resolve_customop_max_pool_with_argmax resolve_customop_splitv
    shuffle_weight_to_16x1float32 substitute_pack_to_reshape substitute_padv2_to_pad substitute_splitv_to_split
    substitute_squeeze_to_reshape substitute_strided_slice_to_reshape substitute_transpose_to_reshape
    transform_min_max_to_relu6 transform_min_relu_to_relu6 unroll_unidirseqlstm
""".split())


@dataclass
class StepSpec:
    """One step as a cfg section or a workflow step wrote it."""

    driver: str  # ONE's driver name, which is also the name of its cfg section
    options: dict[str, str]  # the keys and values as written
    origin: str  # where it was written: "model.cfg [one-optimize]", "flow.json WF/STEP"
    env: dict[str, str] = field(default_factory=dict)  # the [Environment] of its cfg


@dataclass
class Strictness:
    """What to do with keys and sections that cannot be honoured: an error, or with `lenient`
    a warning through `warn` and the key ignored."""

    lenient: bool
    warn: Warn

    def problem(self, message: str, consequence: str = "ignored") -> None:
        if not self.lenient:
            raise InputError(message)
        self.warn(f"{message}; {consequence}")


def path_of(value: str) -> Path:
    """A path as ONE's drivers read it: `~` expanded, relative to the current directory."""
    return Path(os.path.expanduser(value))


def unknown_key(key: str, known: Iterable[str], what: str = "key") -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
    return f"unknown {what} '{key}'" + (f" (did you mean {close[0]}?)" if close else "")


def _switched_off(value: str) -> bool:
    try:
        return not parse_bool("", value, "")
    except InputError:
        return False


class Driver:
    """A step kind. `required` keys must be given; `keys` are the others it honours; `flags`
    (among `keys`) take true or false."""

    name = ""
    required: tuple[str, ...] = ("input_path", "output_path")
    keys: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    #: keys of ONE's driver that cannot be honoured here, with the reason
    unsupported: Mapping[str, str] = {}
    #: whether the step creates the directory of its output (else that directory must exist)
    makes_directories = False

    def unavailable(self) -> str | None:
        """Why this step cannot run here (None: it can)."""
        return None

    def problem(self, key: str, value: str) -> str | None:
        """What is wrong with `key` (None: it is honoured)."""
        if key in self.required or key in self.keys:
            return None
        if key in self.unsupported:
            return f"{key} cannot be honoured: {self.unsupported[key]}"
        return unknown_key(key, self.known())

    def known(self) -> list[str]:
        """The keys a misspelt key is compared with."""
        return [*self.required, *sorted(self.keys)]

    def validate(self, spec: StepSpec, strictness: Strictness) -> dict[str, str]:
        """The keys of `spec` this step honours; empty values count as not given, as in ONE."""
        kept = {}
        for key, value in spec.options.items():
            value = value.strip()
            if not value:
                continue
            problem = self.problem(key, value)
            if problem is None:
                kept[key] = value
            else:
                strictness.problem(f"{spec.origin}: {problem}")
        missing = [k for k in self.required if k not in kept]
        if missing:
            raise InputError(f"{spec.origin}: {', '.join(missing)} missing")
        for key in filter(self.is_flag, kept):
            parse_bool(key, kept[key], spec.origin)
        return kept

    def is_flag(self, key: str) -> bool:
        """Whether `key` takes true or false."""
        return key in self.flags

    def inputs(self, options: Mapping[str, str]) -> list[Path]:
        return [path_of(options["input_path"])]

    def outputs(self, options: Mapping[str, str]) -> list[Path]:
        return [path_of(options["output_path"])]

    def run(self, options: Mapping[str, str], level: str | None) -> str:
        """Do the step; return a one-line summary. `level` is the build's -O level."""
        raise NotImplementedError


class Unavailable(Driver):
    """A driver of ONE with no counterpart here (yet)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def unavailable(self) -> str | None:
        return f"{self.name} is not available: {self.reason}"


class ImportDriver(Driver):
    """one-import-*: load `input_path` with one frontend and write circle to `output_path`.

    `options` maps cfg keys to the frontend's option names; `flags` without an entry there are
    accepted and change nothing (the frontend already does what they ask)."""

    def __init__(self, name: str, frontend: str, distribution: str, options: Mapping[str, str] | None = None,
                 flags: Iterable[str] = (), unsupported: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.frontend = frontend
        self.distribution = distribution
        self.options = dict(options or {})
        self.flags = frozenset(flags)
        self.keys = frozenset(self.options) | self.flags
        self.unsupported = dict(unsupported or {})

    def unavailable(self) -> str | None:
        if self.frontend in get_plugins().frontends:
            return None
        return f"{self.name} is not available: no '{self.frontend}' frontend is installed " \
               f"(install {self.distribution})"

    def run(self, options: Mapping[str, str], level: str | None) -> str:
        frontend_options = {self.options[k]: v for k, v in options.items() if k in self.options}
        model = load(path_of(options["input_path"]), frontend=self.frontend, **frontend_options)
        output = save(model, path_of(options["output_path"]))
        n_ops = sum(len(sg.operators) for sg in model.subgraphs)
        return f"{output}: {len(model.subgraphs)} subgraph(s), {n_ops} operators" + self.extra(model, options)

    def extra(self, model: Model, options: Mapping[str, str]) -> str:
        """Anything written besides the output, for the summary."""
        return ""


class TfImportDriver(ImportDriver):
    """one-import-tf; `save_intermediate=True` also writes the model TensorFlow's TFLite
    converter produced as OUTPUT's name with .tflite, where ONE keeps its intermediate file."""

    def extra(self, model: Model, options: Mapping[str, str]) -> str:
        output = path_of(options["output_path"])
        intermediate = output.with_suffix(".tflite")
        if intermediate == output or not parse_bool("save_intermediate", options.get("save_intermediate", "0"), ""):
            return ""
        save(model, intermediate)
        return f" (intermediate {intermediate})"


class OptimizeDriver(Driver):
    """one-optimize: the passes switched on (ONE's names) and `O1=True` or the build's -O level.
    With no pass at all the model is written unchanged, as circle2circle does without options."""

    name = "one-optimize"
    keys = frozenset({"O1", "change_outputs"})

    def problem(self, key: str, value: str) -> str | None:
        if key in self.keys or key in get_plugins().passes:
            return None
        if key in ONE_OPTIMIZE_OPTIONS or key == "generate_profile_data":
            if _switched_off(value):
                return None
            why = "no profile data is generated here" if key == "generate_profile_data" else \
                "there is no such pass here (`one passes` lists them)"
            return f"{key}={value} cannot be honoured: {why}"
        return super().problem(key, value)

    def known(self) -> list[str]:
        return [*super().known(), *sorted(ONE_OPTIMIZE_OPTIONS), *get_plugins().passes.names()]

    def is_flag(self, key: str) -> bool:
        # every other key it honours switches a pass (or O1); change_outputs names tensors
        return key not in self.required and key != "change_outputs"


    def run(self, options: Mapping[str, str], level: str | None) -> str:
        passes = [k for k, v in options.items() if k in get_plugins().passes and parse_bool(k, v, self.name)]
        if parse_bool("O1", options.get("O1", "false"), self.name):
            level = "O1"
        model = load(path_of(options["input_path"]))
        output = path_of(options["output_path"])
        if options.get("change_outputs"):
            change_outputs(model, parse_output_names(options["change_outputs"]))
        if not level and not passes:
            save(model, output)
            changed = "outputs changed" if options.get("change_outputs") else "written unchanged"
            return f"{output}: no pass switched on, {changed}"
        model, report = optimize(model, level=level, passes=passes, report=True)
        save(model, output)
        what = ", ".join(filter(None, [level, f"{len(passes)} pass(es)" if passes else ""]))
        return (f"{output}: {sum(report.before.values())} -> {sum(report.after.values())} operators "
                f"({what}, {report.rounds} round(s))")


class PackDriver(Driver):
    """one-pack: the nnpackage `output_path/<input's stem>`, as ONE's one-pack writes it."""

    name = "one-pack"
    makes_directories = True

    def outputs(self, options: Mapping[str, str]) -> list[Path]:
        return [path_of(options["output_path"]) / path_of(options["input_path"]).stem]

    def run(self, options: Mapping[str, str], level: str | None) -> str:
        packager = get_plugins().packagers.get("nnpackage")
        path = packager.pack([path_of(options["input_path"])], path_of(options["output_path"]))
        return f"{path}: nnpackage"


class CodegenDriver(Driver):
    """one-codegen: `backend` names an installed backend that generates code (here `c`), and
    `command` holds its generator's arguments, as onecc hands them to BACKEND-compile (for `c`:
    those of `one codegen`, e.g. `-o out/net --name net model.opt.circle`)."""

    name = "one-codegen"
    required = ("backend", "command")
    unsupported = {"backends": "one backend per build here: give backend and command",
                   "target": "target configurations are not supported"}
    makes_directories = True

    def _backend(self, options: Mapping[str, str]) -> Any:
        name = options["backend"]
        backend = get_plugins().backends.get(name) if name in get_plugins().backends else None
        if backend is None or not hasattr(backend, "codegen"):
            able = [n for n in get_plugins().backends.names() if hasattr(get_plugins().backends.get(n), "codegen")]
            raise InputError(f"backend '{name}' does not generate code "
                             f"(code generators installed: {', '.join(able) or 'none'})")
        return backend

    def inputs(self, options: Mapping[str, str]) -> list[Path]:
        return self._backend(options).codegen_paths(shlex.split(options["command"]))[0]

    def outputs(self, options: Mapping[str, str]) -> list[Path]:
        return self._backend(options).codegen_paths(shlex.split(options["command"]))[1]

    def run(self, options: Mapping[str, str], level: str | None) -> str:
        return self._backend(options).codegen(shlex.split(options["command"]))


_TF_OPTIONS = {k: k for k in ("model_format", "converter_version", "input_arrays", "input_shapes",
                              "output_arrays", "signature_keys", "tags", "allow_custom_ops",
                              "select_tf_ops", "safe_mode", "custom_objects")}

#: Every driver onecc knows, by name (which is also its cfg section's name), in the order onecc
#: runs them (`CfgRunner`): the import drivers, then optimize, quantize, pack, codegen, ...
DRIVERS: dict[str, Driver] = {d.name: d for d in (
    Unavailable("one-import-bcq", "no frontend here reads BCQ models"),
    ImportDriver("one-import-onnx", "onnx", "one-frontend-onnx",
                 {k: k for k in ("input_shapes", "custom_ops", "io_layout")},
                 flags=("unroll_rnn", "unroll_lstm", "keep_io_order", "disable_ext", "save_intermediate",
                        "experimental_disable_batchmatmul_unfold"),
                 unsupported={**dict.fromkeys(("input_arrays", "output_arrays"),
                                              "the onnx frontend keeps the model's inputs and outputs"),
                              **dict.fromkeys(("model_format", "converter_version"),
                                              "it configures ONE's TensorFlow step, which is not used here")}),
    Unavailable("one-import-pytorch", "no PyTorch frontend is installed (export the model to ONNX "
                                      "and use one-import-onnx)"),
    TfImportDriver("one-import-tf", "tf", "one-frontend-tf",
                   {**_TF_OPTIONS, "experimental_disable_batchmatmul_unfold": "disable_batchmatmul_unfold"},
                   flags=("save_intermediate",)),
    ImportDriver("one-import-tflite", "tflite", "one-frontend-tflite"),
    OptimizeDriver(),
    Unavailable("one-quantize", "no quantizer is installed (install one-quantizer)"),
    PackDriver(),
    CodegenDriver(),
    Unavailable("one-profile", "no profiling backend is installed (`one run --profile` times "
                               "operators on the CPU runtime)"),
    Unavailable("one-partition", "model partitioning is not implemented"),
    Unavailable("one-infer", "no inference driver is installed (`one run` runs models and packages)"),
)}


def driver_for(name: str) -> Driver:
    """The driver of cfg section `name`: a plugin's (`one_register_build_steps`), else the core's."""
    steps = get_plugins().build_steps
    return steps.get(name) if name in steps else DRIVERS[name]
