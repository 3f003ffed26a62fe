"""Mixed-precision configuration: ONE's `--quant_config` JSON.

    {"default_quantization_dtype": "int8", "default_granularity": "channel",
     "layers": [{"name": "conv1", "dtype": "int16", "granularity": "channel"},
                {"names": ["a", "b"], "alternate": {"tf2.19": "a_v2"}, "dtype": "uint8", "granularity": "layer"}]}

A layer is named by an output tensor of its operator (ONE names a node after its output).
`alternate` holds other names of the same layers (another converter version's spelling): a
name that is not in the model is looked up among them; a layer found under none is an error."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from one_core.errors import InputError
from one_core.ir import Model, Operator

DTYPES = ("int8", "uint8", "int16")
GRANULARITIES = ("layer", "channel")


@dataclass(frozen=True)
class LayerParams:
    """The dtype and weight granularity of one layer (or the defaults)."""

    dtype: str
    granularity: str


@dataclass(frozen=True)
class LayerRule:
    """Layers named `names` (or, when absent from the model, any of `alternates`) take `params`."""

    names: tuple[str, ...]
    alternates: tuple[str, ...]
    params: LayerParams


@dataclass(frozen=True)
class QuantConfig:
    """Defaults (None: not set by the file) and per-layer rules."""

    default_dtype: str | None = None
    default_granularity: str | None = None
    layers: tuple[LayerRule, ...] = field(default_factory=tuple)


ConfigSource = Union[str, os.PathLike, Mapping[str, Any], QuantConfig]


def read_config(source: ConfigSource) -> QuantConfig:
    """Parse a configuration from a JSON file, a dict of the same keys, or return it as it is."""
    if isinstance(source, QuantConfig):
        return source
    where = "quantization config"
    if isinstance(source, (str, os.PathLike)):
        where = str(source)
        try:
            source = json.loads(Path(source).read_text())
        except OSError as e:
            raise InputError(f"{where}: cannot read: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: not JSON: {e}") from None
    if not isinstance(source, Mapping):
        raise InputError(f"{where}: expected a JSON object")
    default_dtype = _choice(source.get("default_quantization_dtype"), DTYPES, f"{where}: default_quantization_dtype")
    default_granularity = _choice(source.get("default_granularity"), GRANULARITIES, f"{where}: default_granularity")
    layers = source.get("layers", [])
    if not isinstance(layers, list):
        raise InputError(f"{where}: 'layers' must be a list")
    return QuantConfig(default_dtype, default_granularity,
                       tuple(_rule(entry, f"{where}: layers[{i}]") for i, entry in enumerate(layers)))


def _rule(entry: Any, where: str) -> LayerRule:
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: expected an object")
    names = ([entry["name"]] if "name" in entry else []) + list(entry.get("names", []))
    alternates = entry.get("alternate", {})
    if not names or not all(isinstance(n, str) for n in names):
        raise InputError(f"{where}: needs 'name' or 'names' (strings)")
    if not isinstance(alternates, Mapping) or not all(isinstance(n, str) for n in alternates.values()):
        raise InputError(f"{where}: 'alternate' must map labels to layer names")
    dtype = _choice(entry.get("dtype"), DTYPES, f"{where}: dtype", required=True)
    granularity = _choice(entry.get("granularity"), GRANULARITIES, f"{where}: granularity", required=True)
    assert dtype is not None and granularity is not None
    return LayerRule(tuple(names), tuple(alternates.values()), LayerParams(dtype, granularity))


def _choice(value: Any, allowed: tuple[str, ...], where: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if value not in allowed:
        raise InputError(f"{where} {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def layer_params(model: Model, config: QuantConfig, default: LayerParams) -> dict[int, LayerParams]:
    """Each main-graph operator's parameters by `id(op)`: its rule's, else `default`."""
    by_name: dict[str, Operator] = {}
    for op in model.main.operators:
        for t in op.outputs:
            by_name.setdefault(t.name, op)
    chosen = {id(op): default for op in model.main.operators}
    for rule in config.layers:
        for name in rule.names:
            op = by_name.get(name) or next((by_name[a] for a in rule.alternates if a in by_name), None)
            if op is None:
                raise InputError(f"quantization config: layer '{name}' is not an operator output of the model")
            chosen[id(op)] = rule.params
    return chosen
