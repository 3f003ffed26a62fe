"""Codegen back end: circle models as dependency-free C99 with a statically planned arena."""

from .generate import GeneratedProject, generate

__all__ = ["GeneratedProject", "generate"]
