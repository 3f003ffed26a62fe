"""CPU runtime back end: prepares circle models once and runs them with numpy kernels."""

from .backend import RuntimeBackend, RuntimeExecutable, TensorInfo
from .kernels.base import KernelFn, OpContext

__all__ = ["KernelFn", "OpContext", "RuntimeBackend", "RuntimeExecutable", "TensorInfo"]
