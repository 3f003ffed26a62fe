"""Running the models of an nnpackage together, on any backend.

A single-model package (or one listing several models without pkg-inputs, pkg-outputs and
model-connect: ONE's "the first model is the default") runs its first model as it is. A
multi-model package runs every model on the backend, in an order where each model's inputs are
ready, feeding each input from the package input or the model output that model-connect names;
the package's inputs and outputs are pkg-inputs and pkg-outputs, in order, named after their
tensors (a name two of them share gets `@M:S:I` appended).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, InvalidModelError, OneError
from ..inputs import order_inputs
from ..ir.model import Model
from ..ir.tensor import Tensor
from ..plugin.interfaces import Executable
from .manifest import IODesc, Manifest


@dataclass(frozen=True)
class IOInfo:
    """An input or output of a package: name, shape (-1 where dynamic), numpy dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


@dataclass(frozen=True)
class Wiring:
    """Where every input of every model comes from, and the order to run the models in.

    `feeds[m][i]` is ("pkg", k) for the package's k-th input or ("model", IODesc of an output)."""

    order: list[int]
    feeds: list[list[tuple[str, Any]]]
    inputs: list[IODesc]
    outputs: list[IODesc]


def plan_wiring(manifest: Manifest, models: Sequence[Model], source: str) -> Wiring:
    """Check a multi-model package's wiring against its models and plan the run.

    Only subgraph 0 of each model can be wired (ONE's runtime also takes the primary subgraph);
    every input must be fed exactly once, connected tensors must agree in type and shape, and
    the models must not form a cycle."""
    where = f"{source}: metadata/MANIFEST"
    for label, desc, _ in manifest.descriptors():
        if desc.subgraph != 0:
            raise InvalidModelError(
                f"{where}: {label} {desc}: only subgraph 0 of a model can be a package input, output or "
                f"connection"
            )
    if not manifest.pkg_outputs:
        raise InvalidModelError(f"{where}: pkg-outputs is empty, so the package would have no outputs")
    feeds: list[list[tuple[str, Any] | None]] = [[None] * len(m.main.inputs) for m in models]
    for k, d in enumerate(manifest.pkg_inputs):
        feeds[d.model][d.index] = ("pkg", k)
    after: list[set[int]] = [set() for _ in models]  # models that must run before each model
    for c in manifest.model_connect:
        out_t = models[c.source.model].main.outputs[c.source.index]
        for t in c.targets:
            in_t = models[t.model].main.inputs[t.index]
            _check_compatible(out_t, in_t, c.source, t, where)
            feeds[t.model][t.index] = ("model", c.source)
            after[t.model].add(c.source.model)
    for m, model_feeds in enumerate(feeds):
        for i, feed in enumerate(model_feeds):
            if feed is None:
                name = models[m].main.inputs[i].name
                raise InvalidModelError(
                    f"{where}: input {m}:0:{i} ('{name}') of model {m} ({manifest.models[m]}) is fed by "
                    f"neither pkg-inputs nor model-connect"
                )
    order: list[int] = []
    done: set[int] = set()
    while len(order) < len(models):
        ready = [m for m in range(len(models)) if m not in done and after[m] <= done]
        if not ready:
            stuck = sorted(set(range(len(models))) - done)
            raise InvalidModelError(f"{where}: model-connect forms a cycle among models {stuck}")
        order.append(ready[0])
        done.add(ready[0])
    return Wiring(order, feeds, list(manifest.pkg_inputs), list(manifest.pkg_outputs))  # type: ignore[arg-type]


def package_io_names(manifest: Manifest, models: Sequence[Model]) -> tuple[list[str], list[str]]:
    """The names of a package's inputs and outputs (see the module's description)."""
    if not manifest.is_multi_model:
        return [t.name for t in models[0].main.inputs], [t.name for t in models[0].main.outputs]
    ins = [(models[d.model].main.inputs[d.index].name, d) for d in manifest.pkg_inputs]
    outs = [(models[d.model].main.outputs[d.index].name, d) for d in manifest.pkg_outputs]
    return _unique(ins), _unique(outs)


class PackageExecutable(Executable):
    """A package prepared for running: `prepare(model)` makes each model's Executable (the
    Session passes its backend's `prepare`)."""

    def __init__(self, manifest: Manifest, models: Sequence[Model], prepare: Callable[[Model], Executable],
                 source: str = "package") -> None:
        self.manifest = manifest
        self.models = list(models)
        self.source = source
        if not manifest.is_multi_model:
            self._single: Executable | None = prepare(self.models[0])
            self._exes: list[Executable] = [self._single]
            return
        self._single = None
        self.wiring = plan_wiring(manifest, self.models, source)
        self._exes = [prepare(m) for m in self.models]
        in_names, out_names = package_io_names(manifest, self.models)
        self._inputs = [_info(name, self._exes[d.model].inputs[d.index]) for name, d in zip(in_names, manifest.pkg_inputs)]
        self._outputs = [_info(name, self._exes[d.model].outputs[d.index]) for name, d in zip(out_names, manifest.pkg_outputs)]

    @property
    def executables(self) -> list[Executable]:
        """One per model (only the first for a single-model package)."""
        return list(self._exes)

    @property
    def inputs(self) -> Sequence[Any]:
        return self._single.inputs if self._single is not None else self._inputs

    @property
    def outputs(self) -> Sequence[Any]:
        return self._single.outputs if self._single is not None else self._outputs

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        if self._single is not None:
            return self._single.run(inputs)
        given = self._ordered(inputs)
        produced: dict[IODesc, np.ndarray] = {}
        for m in self.wiring.order:
            exe = self._exes[m]
            args = [given[ref] if kind == "pkg" else produced[ref] for kind, ref in self.wiring.feeds[m]]
            try:
                result = exe.run(args)
            except InputError as exc:
                raise InputError(f"{self.source}: model {m} ({self.manifest.models[m]}): {exc}") from None
            for j, info in enumerate(exe.outputs):
                produced[IODesc(m, 0, j)] = np.asarray(result[info.name])
        return {info.name: produced[d] for info, d in zip(self._outputs, self.wiring.outputs)}

    def set_profiling(self, enabled: bool) -> None:
        for exe in self._exes:
            exe.set_profiling(enabled)

    def operator_times(self) -> list[tuple[str, str, float]]:
        rows = []
        for exe in self._exes:
            rows += exe.operator_times()
        return rows

    def _ordered(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
        return order_inputs([i.name for i in self._inputs], inputs, "package")

def _check_compatible(out_t: Tensor, in_t: Tensor, src: IODesc, dst: IODesc, where: str) -> None:
    a, b = _signature(out_t), _signature(in_t)
    same_shape = len(a) == len(b) and all(x == y or x < 0 or y < 0 for x, y in zip(a, b))
    if out_t.dtype != in_t.dtype or not same_shape:
        raise InvalidModelError(
            f"{where}: model-connect {src} -> {dst}: output '{out_t.name}' is {out_t.dtype.name} {list(a)} "
            f"but input '{in_t.name}' takes {in_t.dtype.name} {list(b)}"
        )


def _signature(t: Tensor) -> tuple[int, ...]:
    if t.shape_signature is not None and len(t.shape_signature) == len(t.shape):
        return tuple(t.shape_signature)
    return tuple(t.shape)


def _unique(named: list[tuple[str, IODesc]]) -> list[str]:
    counts: dict[str, int] = {}
    for name, _ in named:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{name}@{d}" for name, d in named]


def _info(name: str, info: Any) -> IOInfo:
    try:
        return IOInfo(name, tuple(int(d) for d in info.shape), np.dtype(info.dtype))
    except (AttributeError, TypeError) as exc:
        raise OneError(f"the backend describes its inputs and outputs without shape and dtype ({exc})") from None
