"""The pass infrastructure of the core: PassManager (fixed point, bound, debug verification,
report), choosing passes by name and level, dead code elimination, `one_core.optimize`."""

from __future__ import annotations

import numpy as np
import pytest

import one_core
from one_core.errors import InputError, InvalidModelError, OneError
from one_core.ir import DType, Model, Operator, Subgraph, Tensor, verify
from one_core.ir.options import AddOptions
from one_core.passes import (
    OperatorPass,
    Pass,
    PassManager,
    RemoveDeadOperatorsPass,
    operator_counts,
    remove_dead_operators,
    select_passes,
)
from one_core.passes.rewrite import bypass


def _chain(n: int = 4) -> Model:
    """x -> RELU -> RELU -> ... (n times) -> y."""
    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (2, 3)))
    sg.inputs = [x]
    for i in range(n):
        y = sg.add_tensor(Tensor(f"r{i}", DType.FLOAT32, (2, 3)))
        sg.add_operator(Operator("RELU", [x], [y]))
        x = y
    sg.outputs = [x]
    verify(model)
    return model


class DropOneRelu(OperatorPass):
    """Removes one RELU of a RELU pair per call (RELU is idempotent)."""

    name = "drop_one_relu"
    description = "test pass"
    levels = frozenset({"O1"})
    operators = frozenset({"RELU"})

    def run_subgraph(self, sg: Subgraph) -> bool:  # one rewrite per call
        for op in sg.operators:
            if op.type == "RELU" and self.rewrite(sg, op):
                return True
        return False

    def rewrite(self, sg: Subgraph, op: Operator) -> bool:
        prev = op.input(0).producer
        if prev is None or prev.type != "RELU":
            return False
        return bypass(sg, op, op.input(0), op.outputs[0])


class Flip(Pass):
    """Renames every RELU to RELU6 or back: never converges."""

    levels = frozenset()

    def __init__(self, name: str, src: str, dst: str) -> None:
        self.name, self.src, self.dst = name, src, dst

    def run(self, model: Model) -> bool:
        changed = False
        for _, op in model.operators():
            if op.name == self.src:
                op.name = self.dst
                changed = True
        return changed


class Breaks(Pass):
    """Makes the first operator read a tensor of no subgraph."""

    name = "breaks"

    def run(self, model: Model) -> bool:
        op = model.main.operators[0]
        if op.input(0).name == "stranger":
            return False
        op.set_input(0, Tensor("stranger", DType.FLOAT32, (2, 3)))
        return True


def test_fixed_point_and_report() -> None:
    model = _chain(4)
    report = PassManager([DropOneRelu()]).run(model)
    assert operator_counts(model) == {"RELU": 1}
    assert report.before == {"RELU": 4} and report.after == {"RELU": 1}
    stats = report.passes[0]
    assert stats.name == "drop_one_relu" and stats.changes == 3 and stats.removed == {"RELU": 3}
    assert stats.operators_removed == 3
    assert report.rounds == 4  # three rounds that change, one that finds nothing
    assert model.main.outputs[0].name == "r3"  # the output keeps its name
    text = report.render()
    assert "operators: 4 -> 1" in text and "drop_one_relu  3x" in text and "-3 RELU" in text
    assert report.as_dict()["by_type"] == {"RELU": [4, 1]}


def test_non_convergence_is_an_error_naming_the_passes() -> None:
    passes = [Flip("to_relu6", "RELU", "RELU6"), Flip("to_relu", "RELU6", "RELU")]
    with pytest.raises(OneError, match="did not converge after 5 rounds; passes still changing the model: "
                                       "to_relu6, to_relu"):
        PassManager(passes, max_rounds=5).run(_chain(2))


def test_debug_verifies_after_every_pass() -> None:
    with pytest.raises(InvalidModelError, match="after pass 'breaks': .*'stranger' is not a tensor"):
        PassManager([Breaks()], debug=True).run(_chain(2))
    with pytest.raises(InvalidModelError, match="after optimization: .*'stranger'"):
        PassManager([Breaks()], debug=False).run(_chain(2))


def test_debug_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ONE_PASS_DEBUG", "1")
    assert PassManager([]).debug is True
    monkeypatch.setenv("ONE_PASS_DEBUG", "0")
    assert PassManager([]).debug is False


def test_a_failing_pass_is_named() -> None:
    class Crash(Pass):
        name = "crash"

        def run(self, model: Model) -> bool:
            raise KeyError("oops")

    with pytest.raises(OneError, match="pass 'crash' failed: KeyError"):
        PassManager([Crash()]).run(_chain(1))


def test_select_passes_by_level_and_name() -> None:
    drop, flip = DropOneRelu(), Flip("flip", "X", "Y")
    registry = {"drop_one_relu": drop, "flip": flip}
    assert select_passes("O1", registry=registry) == [drop]
    assert select_passes("-o1", ["--flip"], registry=registry) == [drop, flip]
    assert select_passes(None, ["flip", "drop-one-relu"], registry=registry) == [drop, flip]  # registry order
    with pytest.raises(InputError, match=r"unknown pass 'drop_one_rel'; did you mean drop_one_relu\?"):
        select_passes(None, ["drop_one_rel"], registry=registry)
    with pytest.raises(InputError, match="unknown pass 'zzz'; `one passes` lists them"):
        select_passes(None, ["zzz"], registry=registry)
    with pytest.raises(InputError, match=r"unknown optimization level 'O3' \(known: O1\)"):
        select_passes("O3", registry=registry)


def test_optimize_api_with_pass_objects_and_report() -> None:
    model = _chain(3)
    same, report = one_core.optimize(model, passes=[DropOneRelu()], report=True)
    assert same is model and operator_counts(model) == {"RELU": 1}
    assert report.changed


def _dead_model() -> Model:
    model = Model()
    sg = model.add_subgraph(Subgraph("main"))
    x = sg.add_tensor(Tensor("x", DType.FLOAT32, (2, 3)))
    used = sg.add_tensor(Tensor("used", DType.FLOAT32, (2, 3)))
    dead1 = sg.add_tensor(Tensor("dead1", DType.FLOAT32, (2, 3)))
    dead2 = sg.add_tensor(Tensor("dead2", DType.FLOAT32, (2, 3)))
    c = sg.add_tensor(Tensor("c", DType.FLOAT32, (3,), data=np.ones(3, np.float32)))
    orphan = sg.add_tensor(Tensor("orphan", DType.FLOAT32, (3,), data=np.ones(3, np.float32)))
    state = sg.add_tensor(Tensor("state", DType.FLOAT32, (2, 3), data=np.zeros((2, 3), np.float32),
                                 is_variable=True))
    upd = sg.add_tensor(Tensor("upd", DType.FLOAT32, (2, 3)))
    side = sg.add_tensor(Tensor("side", DType.FLOAT32, (2, 3)))
    sg.add_operator(Operator("ADD", [x, c], [used], AddOptions()))
    sg.add_operator(Operator("EXP", [x], [dead1]))
    sg.add_operator(Operator("ADD", [dead1, c], [dead2], AddOptions()))
    sg.add_operator(Operator("ADD", [x, state], [upd], AddOptions()))  # reads a variable: kept
    sg.add_operator(Operator("CUSTOM", [x], [side], custom_code="Unknown"))  # unknown effects: kept
    sg.inputs, sg.outputs = [x], [used]
    del orphan
    verify(model)
    return model


def test_remove_dead_operators() -> None:
    model = _dead_model()
    assert remove_dead_operators(model.main) == 2
    assert [op.type for op in model.main.operators] == ["ADD", "ADD", "Unknown"]
    assert RemoveDeadOperatorsPass().run(model) is True  # unused tensors go: dead1, dead2, orphan
    assert {t.name for t in model.main.tensors} == {"x", "used", "c", "state", "upd", "side"}
    assert RemoveDeadOperatorsPass().run(model) is False
    verify(model)


def test_the_manager_always_removes_dead_code() -> None:
    model = _dead_model()
    report = PassManager([DropOneRelu()]).run(model)
    assert operator_counts(model) == {"ADD": 2, "Unknown": 1}
    assert report.passes[-1].name == "remove_dead_operators" and report.passes[-1].removed == {"EXP": 1, "ADD": 1}


def test_signature_outputs_are_not_dead() -> None:
    from one_core.ir import SignatureDef

    model = _dead_model()
    dead2 = model.main.tensor_by_name("dead2")
    model.signature_defs.append(SignatureDef("sig", model.main, [("x", model.main.inputs[0])], [("d", dead2)]))
    assert remove_dead_operators(model.main) == 0


def test_core_pass_is_registered_through_the_hook() -> None:
    from one_core.plugin import get_plugins

    registry = get_plugins().passes
    assert registry.owner("remove_dead_operators") == "one-core"
    assert "O1" in registry.get("remove_dead_operators").levels
