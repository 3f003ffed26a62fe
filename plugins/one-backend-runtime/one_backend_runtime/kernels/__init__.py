"""Kernels of the runtime, one module per family of operators."""
