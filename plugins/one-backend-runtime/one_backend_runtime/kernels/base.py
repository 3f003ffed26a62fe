"""What a kernel is, and the registry that finds one for each operator.

A kernel is a factory called once per operator when a model is prepared. It receives an
OpContext (the IR operator, its tensors with their types, quantization and constant data) and
returns the function the executor calls on every run: input arrays in (None for an omitted
optional input), output arrays out. Work that does not depend on the inputs' values (weight
re-layout, quantization multipliers) belongs in the factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from one_core.ir import Operator, Tensor

#: What a kernel factory returns: called on every run.
KernelFn = Callable[[Sequence[np.ndarray | None]], list[np.ndarray]]


@dataclass
class OpContext:
    """Everything a kernel factory may look at."""

    op: Operator
    #: Runs subgraph `index` of the model on a list of arrays (for IF, WHILE, CALL_ONCE).
    run_subgraph: Callable[[int, list[np.ndarray]], list[np.ndarray]]
    #: State shared by the operators of one prepared model (resource variables, ...).
    model_state: dict[str, Any] = field(default_factory=dict)
    #: Values computed at prepare time for tensors whose producers have only constant inputs.
    folded: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def inputs(self) -> tuple[Tensor | None, ...]:
        return self.op.inputs

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return self.op.outputs

    @property
    def options(self) -> Any:
        return self.op.options

    def constant(self, index: int) -> np.ndarray | None:
        """The value of input `index` when it is known before running: constant data (decoded
        when stored sparse), or computed at prepare time from constants (a DEQUANTIZE of
        float16 weights, a DENSIFY); None otherwise."""
        from .gather_scatter import dense_constant

        t = self.op.input(index)
        if t is None:
            return None
        found = self.folded.get(id(t))
        return found if found is not None else dense_constant(t)


KernelFactory = Callable[[OpContext], KernelFn]

_BUILTIN: dict[str, KernelFactory] = {}


def kernel(*names: str) -> Callable[[KernelFactory], KernelFactory]:
    """Register a built-in kernel factory for the named operators (builtin names)."""

    def register(factory: KernelFactory) -> KernelFactory:
        for name in names:
            if name in _BUILTIN:
                raise ValueError(f"built-in kernel for {name} defined twice")
            _BUILTIN[name] = factory
        return factory

    return register


def builtin_kernels() -> dict[str, KernelFactory]:
    """Every built-in kernel, by operator name. Importing the modules of this package runs
    their @kernel registrations."""
    import importlib
    import pkgutil

    from .. import kernels

    for module in pkgutil.iter_modules(kernels.__path__):
        importlib.import_module(f"{kernels.__name__}.{module.name}")
    return dict(_BUILTIN)


def apply_activation(x: np.ndarray, activation: int) -> np.ndarray:
    """A fused activation on a float result (ActivationFunctionType codes), in place when
    possible."""
    if activation == 0:
        return x
    if activation == 1:
        return np.maximum(x, 0, out=x if x.flags.writeable else None)
    if activation == 3:
        return np.clip(x, 0, 6, out=x if x.flags.writeable else None)
    if activation == 2:
        return np.clip(x, -1, 1, out=x if x.flags.writeable else None)
    if activation == 4:
        return np.tanh(x)
    if activation == 5:
        return np.sign(x).astype(x.dtype)
    raise ValueError(f"unknown fused activation {activation}")
