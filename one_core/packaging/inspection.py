"""What `one inspect PKG` shows: the MANIFEST, configs, test data, the package's inputs and
outputs, and for every model the same description `one inspect MODEL` gives."""

from __future__ import annotations

from typing import Any

from ..inspection import describe, render_text
from ..ir.tensor import Tensor
from .package import Package


def describe_package(package: Package) -> dict[str, Any]:
    """The package as JSON-ready data."""
    manifest = package.manifest
    models = package.models()
    in_names, out_names = package.io_names()
    if manifest.is_multi_model:
        in_tensors = [models[d.model].main.inputs[d.index] for d in manifest.pkg_inputs]
        out_tensors = [models[d.model].main.outputs[d.index] for d in manifest.pkg_outputs]
        in_refs = [str(d) for d in manifest.pkg_inputs]
        out_refs = [str(d) for d in manifest.pkg_outputs]
    else:
        in_tensors, out_tensors = list(models[0].main.inputs), list(models[0].main.outputs)
        in_refs = [f"0:0:{i}" for i in range(len(in_tensors))]
        out_refs = [f"0:0:{i}" for i in range(len(out_tensors))]
    return {
        "package": package.label,
        "manifest": manifest.to_dict(),
        "manifest_version": manifest.version_string,
        "configs": package.configs,
        "test_data": {
            "input": "metadata/tc/input.h5" if package.test_inputs else None,
            "expected": "metadata/tc/expected.h5" if package.test_expected else None,
        },
        "inputs": [_io(n, r, t) for n, r, t in zip(in_names, in_refs, in_tensors)],
        "outputs": [_io(n, r, t) for n, r, t in zip(out_names, out_refs, out_tensors)],
        "models": [
            {"index": i, "path": path, "type": kind, "model": describe(model)}
            for i, (path, kind, model) in enumerate(zip(manifest.models, manifest.model_types, models))
        ],
    }


def render_package_text(desc: dict[str, Any]) -> str:
    """The package description as text for people."""
    m = desc["manifest"]
    lines = [f"Package: {desc['package']}", f"  MANIFEST {desc['manifest_version']}"]
    for i, (path, kind) in enumerate(zip(m["models"], m["model-types"])):
        default = "  (default)" if i == 0 and len(m["models"]) > 1 and "pkg-inputs" not in m else ""
        lines.append(f"  model {i}: {path} ({kind}){default}")
    for name, values in desc["configs"].items():
        body = ", ".join(f"{k}={v}" for k, v in values.items()) or "empty"
        lines.append(f"  config metadata/{name}: {body}")
    for kind in ("inputs", "outputs"):
        for io in desc[kind]:
            lines.append(f"  {kind[:-1]} {io['ref']} '{io['name']}': {io['dtype']} {io['shape']}")
    for c in m.get("model-connect", []):
        lines.append(f"  connect {c['from']} -> {', '.join(c['to'])}")
    tc = [v for v in desc["test_data"].values() if v]
    lines.append(f"  test data: {', '.join(tc) if tc else 'none'}")
    for model in desc["models"]:
        lines += ["", f"=== model {model['index']}: {model['path']} ({model['type']}) ===",
                  render_text(model["model"])]
    return "\n".join(lines)


def _io(name: str, ref: str, t: Tensor) -> dict[str, Any]:
    shape = t.shape_signature if t.shape_signature is not None and len(t.shape_signature) == len(t.shape) else t.shape
    return {"name": name, "ref": ref, "dtype": t.dtype.name, "shape": list(shape)}
