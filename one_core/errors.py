"""The errors the toolchain raises on purpose.

Every message names the file, subgraph, operator or tensor concerned and says what was expected,
so the command line can print it as one line.
"""

from __future__ import annotations


class OneError(Exception):
    """Base of every error the toolchain raises deliberately."""


class InvalidModelError(OneError):
    """A model file or an in-memory model breaks the format's or the IR's rules."""


class UnsupportedOperatorError(OneError):
    """One or more operators cannot be handled by a frontend, pass or backend."""

    def __init__(self, message: str, operators: list[str] | None = None) -> None:
        super().__init__(message)
        self.operators = list(operators or [])


class ConversionError(OneError):
    """A conversion between formats failed for a reason other than an unsupported operator."""


class InputError(OneError):
    """A user-supplied argument, path, option or input tensor is wrong."""
