"""Example ONE frontend: multilayer perceptrons saved with numpy.savez into circle."""

from .frontend import NpzMlpFrontend

__all__ = ["NpzMlpFrontend"]
