"""one_core: the circle IR, the circle reader and writer, and the plugin hooks of the toolchain.

    m = one_core.load("model.tflite")
    m = one_core.optimize(m, level="O1")
    m = one_core.quantize(m, "calib.npz", dtype="int8")    # with a quantizer plugin installed
    one_core.save(m, "model.circle")
"""

from .api import Session, load, optimize, quantize, save
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
    "optimize",
    "quantize",
    "save",
    "verify",
]
