"""nnpackage's `metadata/MANIFEST` (JSON) and `metadata/*.cfg` (key=value lines).

The MANIFEST keys follow ONE's spec (nnpackage/spec/10_packaging_and_manifest.md):

    major-version, minor-version, patch-version   strings ("1", "3", "0")
    configs         file names inside metadata/ (ONE's runtime reads the first one)
    models          paths relative to the package root; the first is the default model
    model-types     "circle" or "tflite", one per model (optional from 1.3.1: from the extension)
    pkg-inputs      since 1.3.0: "MODEL:SUBGRAPH:IO" triples, the package's inputs in order
    pkg-outputs     the package's outputs in order
    model-connect   [{"from": "M:S:O", "to": ["M:S:I", ...]}]: an output feeding inputs

In a triple the third number is the position in the subgraph's inputs (or outputs), not a tensor
index: onert parses it into an `IOIndex` and looks up `getInputs().at(io)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from ..errors import InvalidModelError

#: What we write: the first version with pkg-inputs, pkg-outputs and model-connect. We always
#: write model-types, so 1.3.1 (which made them optional) adds nothing, and ONE's runtime
#: (onert 0.1.0 on PyPI) still needs them.
WRITE_VERSION = (1, 3, 0)
#: Model types we can read and run. ONE also knows "tvn" (a TRIX NPU binary).
MODEL_TYPES = ("circle", "tflite")
_EXTENSION_TYPES = {".circle": "circle", ".tflite": "tflite"}
_VERSION_KEYS = ("major-version", "minor-version", "patch-version")
_KNOWN_KEYS = (*_VERSION_KEYS, "configs", "models", "model-types", "pkg-inputs", "pkg-outputs", "model-connect")
_TRIPLE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*:\s*(\d+)\s*$")


class IODesc(NamedTuple):
    """One input or output of one subgraph of one model of a package ("M:S:I")."""

    model: int
    subgraph: int
    index: int

    def __str__(self) -> str:
        return f"{self.model}:{self.subgraph}:{self.index}"

    @classmethod
    def parse(cls, text: Any, where: str = "") -> IODesc:
        """Parse "M:S:I"; `where` names the place for the error message."""
        m = _TRIPLE.match(text) if isinstance(text, str) else None
        if m is None:
            raise InvalidModelError(f"{where}: {json.dumps(text)} is not MODEL:SUBGRAPH:INDEX (three numbers)")
        return cls(int(m[1]), int(m[2]), int(m[3]))


@dataclass
class Connection:
    """An entry of model-connect: one model output feeding one or more inputs."""

    source: IODesc
    targets: list[IODesc]

    def to_json(self) -> dict[str, Any]:
        return {"from": str(self.source), "to": [str(t) for t in self.targets]}


@dataclass
class Manifest:
    """The parsed `metadata/MANIFEST` of an nnpackage."""

    models: list[str]
    model_types: list[str]
    configs: list[str] = field(default_factory=list)
    pkg_inputs: list[IODesc] = field(default_factory=list)
    pkg_outputs: list[IODesc] = field(default_factory=list)
    model_connect: list[Connection] = field(default_factory=list)
    version: tuple[int, int, int] = WRITE_VERSION
    #: Keys this tool does not know, kept as they were.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def is_multi_model(self) -> bool:
        """True when the package wires several models together (pkg-inputs, pkg-outputs or
        model-connect). A package listing several models without them runs its first model."""
        return len(self.models) > 1 and bool(self.pkg_inputs or self.pkg_outputs or self.model_connect)

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | bytes, source: str = "MANIFEST") -> Manifest:
        """Parse MANIFEST text; every problem is an InvalidModelError naming `source`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidModelError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "MANIFEST") -> Manifest:
        if not isinstance(data, dict):
            raise InvalidModelError(f"{source}: expected a JSON object, found {type(data).__name__}")
        missing = [k for k in (*_VERSION_KEYS, "models") if k not in data]
        if missing:
            raise InvalidModelError(f"{source}: missing key(s) {', '.join(missing)}")
        version = tuple(_version_number(data[k], k, source) for k in _VERSION_KEYS)
        if version[0] != 1:
            raise InvalidModelError(f"{source}: major-version {version[0]} is not supported (expected 1)")
        models = _string_list(data["models"], "models", source)
        if not models:
            raise InvalidModelError(f"{source}: 'models' is empty")
        for i, path in enumerate(models):
            _check_relative(path, f"models[{i}]", source)
        if "model-types" in data:
            types = _string_list(data["model-types"], "model-types", source)
            if len(types) != len(models):
                raise InvalidModelError(
                    f"{source}: {len(models)} model(s) but {len(types)} model-types"
                )
        else:  # optional since 1.3.1: taken from the file extension, as ONE does
            types = [model_type_of(p, f"{source}: models[{i}] has no model-types entry and")
                     for i, p in enumerate(models)]
        for i, t in enumerate(types):
            if t not in MODEL_TYPES:
                raise InvalidModelError(
                    f"{source}: model-types[{i}] '{t}' for {models[i]} is not a known model type "
                    f"(expected {' or '.join(MODEL_TYPES)})"
                )
        configs = _string_list(data.get("configs", []), "configs", source)
        configs = [c for c in configs if c]  # ONE's model2nnpkg writes [""] when there is none
        for i, name in enumerate(configs):
            if "/" in name or "\\" in name or name in (".", ".."):
                raise InvalidModelError(f"{source}: configs[{i}] '{name}' must be a file name inside metadata/")
        pkg_inputs = [IODesc.parse(s, f"{source}: pkg-inputs[{i}]")
                      for i, s in enumerate(_list(data.get("pkg-inputs", []), "pkg-inputs", source))]
        pkg_outputs = [IODesc.parse(s, f"{source}: pkg-outputs[{i}]")
                       for i, s in enumerate(_list(data.get("pkg-outputs", []), "pkg-outputs", source))]
        connect = []
        for i, entry in enumerate(_list(data.get("model-connect", []), "model-connect", source)):
            where = f"{source}: model-connect[{i}]"
            if not isinstance(entry, dict) or "from" not in entry or "to" not in entry:
                raise InvalidModelError(f"{where}: expected an object with 'from' and 'to'")
            targets = entry["to"]
            if not isinstance(targets, list) or not targets:
                raise InvalidModelError(f"{where}: 'to' must be a non-empty list of MODEL:SUBGRAPH:INDEX")
            connect.append(Connection(
                IODesc.parse(entry["from"], f"{where}.from"),
                [IODesc.parse(t, f"{where}.to[{j}]") for j, t in enumerate(targets)],
            ))
        extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
        manifest = cls(models, types, configs, pkg_inputs, pkg_outputs, connect, version, extra)  # type: ignore[arg-type]
        manifest.check_structure(source)
        return manifest

    def check_structure(self, source: str = "MANIFEST") -> None:
        """What can be checked without the models: model indices in range, no input fed twice."""
        n = len(self.models)
        for label, desc, _ in self.descriptors():
            if desc.model >= n:
                raise InvalidModelError(
                    f"{source}: {label} {desc}: model {desc.model} does not exist (the package has {n} model(s))"
                )
        fed: dict[IODesc, str] = {}
        for i, d in enumerate(self.pkg_inputs):
            if d in fed:
                raise InvalidModelError(f"{source}: pkg-inputs[{i}] {d} is listed twice")
            fed[d] = f"pkg-inputs[{i}]"
        for i, c in enumerate(self.model_connect):
            for t in c.targets:
                if t in fed:
                    raise InvalidModelError(
                        f"{source}: model-connect[{i}] feeds input {t}, which {fed[t]} already feeds"
                    )
                if t.model == c.source.model:
                    raise InvalidModelError(
                        f"{source}: model-connect[{i}] {c.source} -> {t} connects model {t.model} to itself"
                    )
                fed[t] = f"model-connect[{i}]"

    def check_io(self, io_counts: Sequence[Sequence[tuple[int, int]]], source: str = "MANIFEST") -> None:
        """Check every triple against the models: `io_counts[m][s]` is (inputs, outputs) of
        subgraph s of model m."""
        for label, desc, is_input in self.descriptors():
            subgraphs = io_counts[desc.model]
            if desc.subgraph >= len(subgraphs):
                raise InvalidModelError(
                    f"{source}: {label} {desc}: model {desc.model} ({self.models[desc.model]}) has "
                    f"{len(subgraphs)} subgraph(s), no subgraph {desc.subgraph}"
                )
            count = subgraphs[desc.subgraph][0 if is_input else 1]
            if desc.index >= count:
                kind = "input" if is_input else "output"
                raise InvalidModelError(
                    f"{source}: {label} {desc}: subgraph {desc.subgraph} of model {desc.model} "
                    f"({self.models[desc.model]}) has {count} {kind}(s), no {kind} {desc.index}"
                )

    def descriptors(self) -> list[tuple[str, IODesc, bool]]:
        """(label, triple, whether it names an input) for every triple of the manifest."""
        out = [(f"pkg-inputs[{i}]", d, True) for i, d in enumerate(self.pkg_inputs)]
        out += [(f"pkg-outputs[{i}]", d, False) for i, d in enumerate(self.pkg_outputs)]
        for i, c in enumerate(self.model_connect):
            out.append((f"model-connect[{i}].from", c.source, False))
            out += [(f"model-connect[{i}].to[{j}]", t, True) for j, t in enumerate(c.targets)]
        return out

    # -- writing ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The MANIFEST as JSON data, keys in ONE's order; the multi-model keys only when used."""
        major, minor, patch = self.version
        data: dict[str, Any] = {
            "major-version": str(major),
            "minor-version": str(minor),
            "patch-version": str(patch),
            "configs": list(self.configs),
            "models": list(self.models),
            "model-types": list(self.model_types),
        }
        if self.pkg_inputs or self.pkg_outputs or self.model_connect:
            data["pkg-inputs"] = [str(d) for d in self.pkg_inputs]
            data["pkg-outputs"] = [str(d) for d in self.pkg_outputs]
            data["model-connect"] = [c.to_json() for c in self.model_connect]
        for key in sorted(self.extra):
            data[key] = self.extra[key]
        return data

    def to_json(self) -> str:
        """Deterministic MANIFEST text (2-space indent, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def model_type_of(path: str, context: str = "") -> str:
    """A model's type from its file extension (.circle, .tflite), as ONE's model2nnpkg does."""
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    found = _EXTENSION_TYPES.get(suffix)
    if found is None:
        lead = f"{context} " if context else f"{path}: "
        raise InvalidModelError(
            f"{lead}the extension '{suffix or '(none)'}' names no known model type (expected .circle or .tflite)"
        )
    return found


def parse_config(text: str, source: str = "config") -> dict[str, str]:
    """ONE's runtime configuration: `KEY=VALUE` lines, `#` starts a comment, blanks trimmed."""
    values: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidModelError(f"{source}:{n}: expected KEY=VALUE, found '{raw.strip()}'")
        values[key.strip()] = value.strip()
    return values


def _version_number(value: Any, key: str, source: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidModelError(f"{source}: '{key}' must be a number in a string such as \"1\", found {json.dumps(value)}")


def _list(value: Any, key: str, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidModelError(f"{source}: '{key}' must be a list, found {type(value).__name__}")
    return value


def _string_list(value: Any, key: str, source: str) -> list[str]:
    items = _list(value, key, source)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidModelError(f"{source}: {key}[{i}] must be a string, found {json.dumps(item)}")
    return items


def _check_relative(path: str, label: str, source: str) -> None:
    """A path inside the package: relative, no `..`, not empty."""
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise InvalidModelError(f"{source}: {label} '{path}' must be a path relative to the package root")
    if ".." in parts:
        raise InvalidModelError(f"{source}: {label} '{path}' leaves the package ('..')")
