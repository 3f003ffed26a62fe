"""one_core: the circle IR, the circle reader and writer, and the plugin hooks of the toolchain.

    m = one_core.load("model.tflite")
    one_core.save(m, "model.circle")
"""

from .api import Session, load, save
from .errors import ConversionError, InputError, InvalidModelError, OneError, UnsupportedOperatorError
from .ir import DType, Model, Operator, SignatureDef, Subgraph, Tensor, verify

__version__ = "0.1.0"

__all__ = [
    "ConversionError",
    "DType",
    "InputError",
    "InvalidModelError",
    "Model",
    "OneError",
    "Operator",
    "Session",
    "SignatureDef",
    "Subgraph",
    "Tensor",
    "UnsupportedOperatorError",
    "load",
    "save",
    "verify",
]
