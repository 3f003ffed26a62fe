"""Control flow and resource variables: IF, WHILE, CALL_ONCE, VAR_HANDLE, READ_VARIABLE,
ASSIGN_VARIABLE. Branches and loop bodies are other subgraphs of the model, run through the
context; variables live in the state shared by one prepared model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from one_core.errors import InvalidModelError

from .base import KernelFn, OpContext, kernel

_VARIABLES = "resource_variables"


@kernel("IF")
def if_(ctx: OpContext) -> KernelFn:
    then_index = ctx.options.then_subgraph_index
    else_index = ctx.options.else_subgraph_index

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        branch = then_index if bool(np.asarray(inputs[0]).reshape(-1)[0]) else else_index
        return ctx.run_subgraph(branch, list(inputs[1:]))

    return run


@kernel("WHILE")
def while_(ctx: OpContext) -> KernelFn:
    cond_index = ctx.options.cond_subgraph_index
    body_index = ctx.options.body_subgraph_index

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        values = list(inputs)
        while bool(np.asarray(ctx.run_subgraph(cond_index, values)[0]).reshape(-1)[0]):
            values = ctx.run_subgraph(body_index, values)
        return values

    return run


@kernel("CALL_ONCE")
def call_once(ctx: OpContext) -> KernelFn:
    index = ctx.options.init_subgraph_index
    done_key = f"call_once_done_{index}"

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        if not ctx.model_state.get(done_key):
            ctx.run_subgraph(index, [])
            ctx.model_state[done_key] = True
        return []

    return run


@kernel("VAR_HANDLE")
def var_handle(ctx: OpContext) -> KernelFn:
    key = np.array(f"{ctx.options.container or ''}/{ctx.options.shared_name or ''}", dtype=object)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [key]

    return run


@kernel("READ_VARIABLE")
def read_variable(ctx: OpContext) -> KernelFn:
    name = ctx.outputs[0].name

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        key = str(inputs[0])
        try:
            return [ctx.model_state[_VARIABLES][key]]
        except KeyError:
            raise InvalidModelError(f"READ_VARIABLE '{name}': variable '{key}' was never assigned") from None

    return run


@kernel("ASSIGN_VARIABLE")
def assign_variable(ctx: OpContext) -> KernelFn:
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        ctx.model_state.setdefault(_VARIABLES, {})[str(inputs[0])] = np.array(inputs[1], copy=True)
        return []

    return run
