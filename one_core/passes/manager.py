"""Running passes to a fixed point, with a report of what each one changed."""

from __future__ import annotations

import difflib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import outputs
from ..errors import InputError, InvalidModelError, OneError
from ..ir.model import Model
from ..ir.verify import verify
from .base import Pass
from .dce import RemoveDeadOperatorsPass, remove_dead_operators

#: Rounds (every pass once) before the PassManager gives up on reaching a fixed point.
DEFAULT_MAX_ROUNDS = 16
#: Environment variable: when set to 1, verify the model after every pass that changed it.
DEBUG_ENV = "ONE_PASS_DEBUG"


def operator_counts(model: Model) -> Counter[str]:
    """Operators of every subgraph by type."""
    return Counter(op.type for _, op in model.operators())


@dataclass
class PassStats:
    """What one pass did over a whole optimization."""

    name: str
    calls: int = 0
    changes: int = 0  # calls that returned True
    removed: Counter[str] = field(default_factory=Counter)  # operators by type, net
    added: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def operators_removed(self) -> int:
        return sum(self.removed.values()) - sum(self.added.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "pass": self.name, "calls": self.calls, "changes": self.changes,
            "removed": dict(self.removed), "added": dict(self.added),
            "operators_removed": self.operators_removed, "seconds": round(self.seconds, 6),
        }


@dataclass
class OptimizeReport:
    """The outcome of `PassManager.run`: operators before and after, per pass statistics."""

    before: Counter[str]
    after: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    passes: list[PassStats] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(p.changes for p in self.passes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operators_before": sum(self.before.values()),
            "operators_after": sum(self.after.values()),
            "by_type": {
                t: [self.before.get(t, 0), self.after.get(t, 0)]
                for t in sorted(set(self.before) | set(self.after))
            },
            "rounds": self.rounds,
            "seconds": round(self.seconds, 6),
            "passes": [p.as_dict() for p in self.passes],
        }

    def render(self) -> str:
        """A readable table: operators per type before and after, then each pass that did
        something (net operators removed, calls that changed the model, time)."""
        total = f"{sum(self.before.values())} -> {sum(self.after.values())}"
        lines = [f"operators: {total} ({self.rounds} round(s), {self.seconds * 1000:.1f} ms)"]
        types = sorted(set(self.before) | set(self.after))
        width = max([len(t) for t in types] + [4])
        for t in types:
            b, a = self.before.get(t, 0), self.after.get(t, 0)
            mark = "" if a == b else f"  ({a - b:+d})"
            lines.append(f"  {t:<{width}}  {b:>5} -> {a:<5}{mark}".rstrip())
        active = [p for p in self.passes if p.changes]
        if active:
            lines.append("passes that changed the model:")
            w = max(len(p.name) for p in active)
            for p in active:
                detail = ", ".join(f"-{n} {t}" for t, n in sorted(p.removed.items()))
                extra = ", ".join(f"+{n} {t}" for t, n in sorted(p.added.items()))
                what = "; ".join(s for s in (detail, extra) if s) or "rewrote in place"
                lines.append(f"  {p.name:<{w}}  {p.changes}x  {p.seconds * 1000:7.1f} ms  {what}")
        return "\n".join(lines)


class PassManager:
    """Runs passes in order, round after round, until a whole round changes nothing.

    - Passes run in the order given; after each round dead operators are removed.
    - `max_rounds` bounds the work: a set of passes that keeps rewriting (two passes undoing
      each other) raises OneError naming the passes still changing the model.
    - `debug` (or `ONE_PASS_DEBUG=1`) verifies the model after every pass that changed it,
      so a broken rewrite is caught at the pass that made it; the model is verified once at
      the end in any case.
    """

    def __init__(self, passes: Sequence[Pass], *, max_rounds: int = DEFAULT_MAX_ROUNDS,
                 debug: bool | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.passes = list(passes)
        self.max_rounds = max_rounds
        self.debug = os.environ.get(DEBUG_ENV, "") == "1" if debug is None else debug
        self.progress = progress
        self._cleanup = RemoveDeadOperatorsPass()

    @staticmethod
    def _clean(model: Model) -> bool:
        """Dead operators go (a change), then unused tensors (not counted: it enables
        nothing)."""
        removed = sum(remove_dead_operators(sg) for sg in model.subgraphs)
        for sg in model.subgraphs:
            sg.remove_unused_tensors()
        return removed > 0

    def run(self, model: Model) -> OptimizeReport:
        start = time.perf_counter()
        report = OptimizeReport(before=operator_counts(model))
        stats = {p.name: PassStats(p.name) for p in self.passes}
        cleanup = stats.setdefault(self._cleanup.name, PassStats(self._cleanup.name))
        schedule = [p for p in self.passes if p.name != self._cleanup.name] + [self._cleanup]
        counts = report.before
        for round_no in range(1, self.max_rounds + 1):
            report.rounds = round_no
            changed_now: list[str] = []
            for p in schedule:
                st = stats[p.name] if p is not self._cleanup else cleanup
                if self.progress is not None:
                    self.progress(f"round {round_no}: {p.name}")
                t0 = time.perf_counter()
                try:
                    changed = bool(p.run(model)) if p is not self._cleanup else self._clean(model)
                except OneError:
                    raise
                except Exception as exc:  # a bug in a pass: say which one
                    raise OneError(f"pass '{p.name}' failed: {type(exc).__name__}: {exc}") from exc
                st.seconds += time.perf_counter() - t0
                st.calls += 1
                if not changed:
                    continue
                st.changes += 1
                changed_now.append(p.name)
                new_counts = operator_counts(model)
                st.removed.update(counts - new_counts)
                st.added.update(new_counts - counts)
                counts = new_counts
                if self.debug:
                    try:
                        verify(model)
                    except InvalidModelError as exc:
                        raise InvalidModelError(f"after pass '{p.name}': {exc}") from exc
            if not changed_now:
                break
        else:
            raise OneError(
                f"optimization did not converge after {self.max_rounds} rounds; passes still "
                f"changing the model: {', '.join(dict.fromkeys(changed_now))}"
            )
        try:
            verify(model)
        except InvalidModelError as exc:
            raise InvalidModelError(f"after optimization: {exc}") from exc
        report.after = counts
        report.passes = [stats[p.name] for p in schedule]  # in run order: the cleanup last
        report.seconds = time.perf_counter() - start
        return report


# ----------------------------------------------------------------------------------------
# Choosing passes by name and level
# ----------------------------------------------------------------------------------------


def available_passes() -> dict[str, Pass]:
    """Every registered pass by name, in registration order (the order they run in)."""
    from ..plugin.manager import get_plugins

    return dict(get_plugins().passes.items())


def normalize_name(name: str) -> str:
    """Pass names are snake_case; flags may use dashes (`--fuse-batchnorm-with-conv`)."""
    return name.strip().lstrip("-").replace("-", "_")


def unknown_pass_error(name: str, known: Iterable[str]) -> InputError:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `one passes` lists them"
    return InputError(f"unknown pass '{name}'{hint}")


def select_passes(level: str | None = None, passes: Iterable[str | Pass] = (),
                  registry: dict[str, Pass] | None = None) -> list[Pass]:
    """The passes of `level` (such as "O1") plus the named ones (or Pass objects), each once,
    in registration order (Pass objects not registered come last, in the order given)."""
    registry = available_passes() if registry is None else registry
    chosen: dict[str, Pass] = {}
    extra: dict[str, Pass] = {}
    if level is not None:
        lv = level.strip().lstrip("-").upper()
        members = {n for n, p in registry.items() if lv in {x.upper() for x in p.levels}}
        if not members:
            levels = sorted({x for p in registry.values() for x in p.levels})
            raise InputError(
                f"unknown optimization level '{level}' (known: {', '.join(levels) or 'none'})"
            )
        chosen.update((n, registry[n]) for n in members)
    for item in passes:
        if isinstance(item, Pass):
            if item.name in registry and registry[item.name] is item:
                chosen[item.name] = item
            else:
                extra[item.name or repr(item)] = item
            continue
        name = normalize_name(item)
        if name not in registry:
            raise unknown_pass_error(name, registry)
        chosen[name] = registry[name]
    ordered = [p for n, p in registry.items() if n in chosen]
    return ordered + list(extra.values())


def optimize(model: Model, level: str | None = None, passes: Iterable[str | Pass] | None = None,
             *, debug: bool | None = None, max_rounds: int = DEFAULT_MAX_ROUNDS,
             report: bool = False, change_outputs: str | Sequence[str] | None = None) -> Any:
    """Optimize `model` in place and return it (or `(model, OptimizeReport)` with
    `report=True`).

    `level="O1"` runs the O1 group (see `one passes`); `passes=[...]` names passes (ONE's
    circle2circle option names, dashes or underscores, or Pass objects). Both together run
    the union. With neither, the level is O1. `change_outputs` ("a,b" or a list) first makes
    those tensors the model's outputs, as ONE's `--change_outputs` does."""
    if change_outputs is not None:
        outputs.change_outputs(model, outputs.parse_output_names(change_outputs))
    if isinstance(passes, (str, Pass)):
        passes = [passes]
    if level is None and not passes:
        level = "O1"
    chosen = select_passes(level, passes or ())
    if not chosen:
        raise InputError("no pass to run: give a level (such as O1) or pass names")
    result = PassManager(chosen, debug=debug, max_rounds=max_rounds).run(model)
    return (model, result) if report else model
