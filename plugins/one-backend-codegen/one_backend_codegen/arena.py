"""Static memory: every activation gets an offset in one arena, planned from lifetimes.

A buffer lives from the step that writes it to the last step that reads it (model inputs from
before the first step, model outputs to the end). Buffers are placed largest first, each at the
lowest aligned offset where it overlaps no placed buffer whose lifetime it shares (the greedy
plan TFLite's arena planner also uses). Aliases (a RESHAPE's output is its input's bytes, an
elementwise output may overwrite an input read for the last time) share one buffer whose
lifetime covers all of its names."""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 64


@dataclass
class Buffer:
    """One planned region: its size, when it lives, where it goes."""

    size: int
    first: int
    last: int
    offset: int = -1
    names: list[int] = field(default_factory=list)


@dataclass
class ArenaPlan:
    """Offsets of every planned key and the arena's size in bytes."""

    offsets: dict[int, int]
    size: int
    buffers: list[Buffer]


class ArenaPlanner:
    """Collects buffers and their uses step by step, then places them."""

    def __init__(self) -> None:
        self._buffer_of: dict[int, Buffer] = {}
        self._buffers: list[Buffer] = []

    def define(self, key: int, size: int, step: int) -> None:
        """A new buffer `key` of `size` bytes, written at `step`."""
        b = Buffer(max(size, 1), step, step, names=[key])
        self._buffer_of[key] = b
        self._buffers.append(b)

    def alias(self, key: int, of: int, step: int) -> None:
        """`key` names the bytes of `of` from `step` on."""
        b = self._buffer_of[of]
        b.names.append(key)
        b.last = max(b.last, step)
        self._buffer_of[key] = b

    def use(self, key: int, step: int) -> None:
        b = self._buffer_of[key]
        b.last = max(b.last, step)

    def has(self, key: int) -> bool:
        return key in self._buffer_of

    def names_of(self, key: int) -> list[int]:
        """Every key sharing `key`'s buffer (aliases included)."""
        return list(self._buffer_of[key].names)

    def plan(self) -> ArenaPlan:
        placed: list[Buffer] = []
        for b in sorted(self._buffers, key=lambda b: (-b.size, b.first)):
            offset = 0
            for other in sorted((o for o in placed if o.first <= b.last and b.first <= o.last),
                                key=lambda o: o.offset):
                if offset + b.size <= other.offset:
                    break
                offset = max(offset, _align(other.offset + other.size))
            b.offset = offset
            placed.append(b)
        size = max((_align(b.offset + b.size) for b in placed), default=0)
        offsets = {k: b.offset for k, b in self._buffer_of.items()}
        return ArenaPlan(offsets, size, placed)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN
