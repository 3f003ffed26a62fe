"""Prepared subgraphs: a schedule of kernel calls over value slots, freed after their last use.

Preparing does the work once: a kernel is chosen and set up for every operator (weights
re-laid out, multipliers computed), constants are placed in their slots, and the last reader of
every activation is found so its array is dropped as soon as nothing needs it. Running is a
loop over the steps. Shapes come from the inputs at run time, so a new input shape needs no
new preparation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from one_core.errors import UnsupportedOperatorError
from one_core.ir import Model, Operator

from . import fusion
from .kernels.base import KernelFactory, KernelFn, OpContext


@dataclass
class Step:
    """One operator call: which slots it reads and writes, and which it frees after."""

    op: Operator
    fn: KernelFn
    inputs: list[int]
    outputs: list[int]
    free: list[int]
    #: What profiles call this step (an operator type, or fused types joined by '+').
    label: str = ""


class Program:
    """A prepared subgraph."""

    def __init__(self, model: Model, index: int, steps: list[Step], initial: list[Any]) -> None:
        sg = model.subgraphs[index]
        self.index = index
        self.subgraph = sg
        self.steps = steps
        self._initial = initial
        slot = {id(t): i for i, t in enumerate(sg.tensors)}
        self.input_slots = [slot[id(t)] for t in sg.inputs]
        self.output_slots = [slot[id(t)] for t in sg.outputs]
        self.profile: dict[int, float] | None = None

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        values = list(self._initial)
        for s, x in zip(self.input_slots, inputs):
            values[s] = x
        profile = self.profile
        for i, step in enumerate(self.steps):
            args = [values[s] if s >= 0 else None for s in step.inputs]
            if profile is None:
                outs = step.fn(args)
            else:
                start = time.perf_counter()
                outs = step.fn(args)
                profile[i] = profile.get(i, 0.0) + time.perf_counter() - start
            for s, o in zip(step.outputs, outs):
                values[s] = o
            for s in step.free:
                values[s] = None
        return [values[s] for s in self.output_slots]


class ModelProgram:
    """All subgraphs of a model prepared with one set of kernels and shared state."""

    def __init__(self, model: Model, kernels: dict[str, KernelFactory], custom: dict[str, KernelFactory]) -> None:
        self.model = model
        self.state: dict[str, Any] = {}
        self.programs: list[Program | None] = [None] * len(model.subgraphs)
        missing = _missing_kernels(model, kernels, custom)
        if missing:
            raise UnsupportedOperatorError(
                f"no kernel for {len(missing)} operator type(s): {', '.join(missing)}", missing
            )
        self._kernels = kernels
        self._custom = custom
        for i in range(len(model.subgraphs)):
            self.program(i)

    def program(self, index: int) -> Program:
        found = self.programs[index]
        if found is None:
            found = self.programs[index] = self._prepare(index)
        return found

    def run_subgraph(self, index: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.program(index).run(inputs)

    def _prepare(self, index: int) -> Program:
        sg = self.model.subgraphs[index]
        slot = {id(t): i for i, t in enumerate(sg.tensors)}
        initial: list[Any] = [None] * len(sg.tensors)
        for i, t in enumerate(sg.tensors):
            if t.is_variable:  # state that persists across runs; TFLite starts it at zero
                initial[i] = np.array(t.data, copy=True) if t.data is not None else np.zeros(t.shape, t.dtype.numpy)
            elif t.data is not None:
                initial[i] = t.data
        folded: dict[int, np.ndarray] = {}
        keep = {slot[id(t)] for t in sg.outputs}
        keep.update(i for i, t in enumerate(sg.tensors) if t.data is not None or t.is_variable)
        last_use: dict[int, int] = {}
        steps: list[Step] = []
        swish = fusion.swish_pairs(sg)
        fused_away = {id(mul) for mul in swish.values()}
        for op in sg.operators:
            if id(op) in fused_away:
                continue
            if id(op) in swish:
                mul = swish[id(op)]
                ins, outs = [slot[id(op.inputs[0])]], [slot[id(mul.outputs[0])]]
                for s in ins + outs:
                    last_use[s] = len(steps)
                steps.append(Step(mul, fusion.swish, ins, outs, [], "LOGISTIC+MUL"))
                continue
            ctx = OpContext(op, self.run_subgraph, self.state, folded)
            fn = self._factory(op)(ctx)
            ins = [-1 if t is None else slot[id(t)] for t in op.inputs]
            outs = [slot[id(t)] for t in op.outputs]
            if _foldable(op, sg.tensors, ins, folded):
                # Every input is known now: compute once (dequantized or densified weights,
                # shape arithmetic on constants) and treat the results as constants.
                for t, value in zip(op.outputs, fn([None if s < 0 else initial[s] for s in ins])):
                    value = np.asarray(value)
                    value.flags.writeable = False
                    initial[slot[id(t)]] = folded[id(t)] = value
                    keep.add(slot[id(t)])
                continue
            for s in ins + outs:
                if s >= 0:
                    last_use[s] = len(steps)
            steps.append(Step(op, fn, ins, outs, [], op.type))
        for s, n in last_use.items():
            if s not in keep:
                steps[n].free.append(s)
        return Program(self.model, index, steps, initial)

    def _factory(self, op: Operator) -> KernelFactory:
        if op.name == "CUSTOM":
            return self._custom[op.custom_code or ""]
        return self._kernels[op.name]


#: Operators never computed at prepare time: control flow, state, randomness, custom code.
_NOT_FOLDABLE = {
    "IF", "WHILE", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CUSTOM",
    "RANDOM_STANDARD_NORMAL", "RANDOM_UNIFORM", "MULTINOMIAL",
}


def _foldable(op: Operator, tensors: list[Any], ins: list[int], folded: dict[int, np.ndarray]) -> bool:
    if op.name in _NOT_FOLDABLE or not any(s >= 0 for s in ins):
        return False
    for s in ins:
        if s < 0:
            continue
        t = tensors[s]
        if t.is_variable or (t.data is None and id(t) not in folded):
            return False
    return True


def _missing_kernels(model: Model, kernels: dict[str, KernelFactory], custom: dict[str, KernelFactory]) -> list[str]:
    missing: dict[str, None] = {}
    for _, op in model.operators():
        known = (op.custom_code or "") in custom if op.name == "CUSTOM" else op.name in kernels
        if not known:
            missing[op.type if op.name != "CUSTOM" else f"CUSTOM({op.custom_code})"] = None
    return list(missing)

