"""ONNX frontend of the ONE toolchain: ONNX graphs converted operator by operator into circle."""

from .frontend import OnnxFrontend

__all__ = ["OnnxFrontend"]
