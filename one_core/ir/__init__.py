"""The circle IR: models, subgraphs, tensors, operators and their options."""

from . import options
from .compare import diff_models
from .dtypes import DType
from .graph import Subgraph
from .model import Model, SignatureDef
from .operator import Operator
from .operators import OPCODES, OPNAMES, decode_opcode, encode_opcode, is_circle_only
from .tensor import (
    BlockwiseQuantization,
    CustomQuantization,
    DimensionMetadata,
    MXQuantization,
    Quantization,
    Sparsity,
    Tensor,
    VariantSubType,
)
from .verify import verify

__all__ = [
    "OPCODES",
    "OPNAMES",
    "BlockwiseQuantization",
    "CustomQuantization",
    "DType",
    "DimensionMetadata",
    "MXQuantization",
    "Model",
    "Operator",
    "Quantization",
    "SignatureDef",
    "Sparsity",
    "Subgraph",
    "Tensor",
    "VariantSubType",
    "decode_opcode",
    "diff_models",
    "encode_opcode",
    "is_circle_only",
    "options",
    "verify",
]
