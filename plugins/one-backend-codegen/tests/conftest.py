"""The codegen tests reuse the runtime's operator harness (TensorFlow-made one-operator models)."""

import sys
from pathlib import Path

_RUNTIME_TESTS = Path(__file__).resolve().parents[2] / "one-backend-runtime" / "tests"
if str(_RUNTIME_TESTS) not in sys.path:
    sys.path.append(str(_RUNTIME_TESTS))
