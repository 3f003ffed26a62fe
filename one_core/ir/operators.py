"""The operator table: names, integer codes and the two-field opcode encoding.

Circle keeps TFLite's codes and adds circle-only operators with negative codes. Operator codes
are stored in two fields: `deprecated_builtin_code` (a signed byte, TFLite's original field) and
`builtin_code` (int32, added when codes outgrew a byte). Writers put the code in both fields when
it is below 127 (negative circle codes included) and 127 plus the real code otherwise.
"""

from __future__ import annotations

from ..circle._generated import BuiltinOperator
from ..errors import InvalidModelError

#: Operator name -> code, for every operator circle knows.
OPCODES: dict[str, int] = {
    name: value
    for name, value in vars(BuiltinOperator).items()
    if name.isupper() and isinstance(value, int) and name != "PLACEHOLDER_FOR_GREATER_OP_CODES"
}
#: Code -> operator name.
OPNAMES: dict[int, str] = {value: name for name, value in OPCODES.items()}

#: The deprecated_builtin_code value meaning "look at builtin_code".
EXTENDED_CODE_MARKER = 127


def opcode_of(name: str) -> int:
    """The code of an operator name; raises KeyError for unknown names."""
    return OPCODES[name]


def opcode_name(code: int, where: str = "operator code") -> str:
    """The name of an operator code; an unknown code is a model error."""
    try:
        return OPNAMES[code]
    except KeyError:
        raise InvalidModelError(f"{where}: unknown builtin operator code {code}") from None


def is_circle_only(name: str) -> bool:
    """True for operators TFLite does not have (circle's negative codes)."""
    return OPCODES.get(name, 0) < 0


def encode_opcode(code: int) -> tuple[int, int]:
    """(deprecated_builtin_code, builtin_code) to write for an operator code."""
    return (code if code < EXTENDED_CODE_MARKER else EXTENDED_CODE_MARKER), code


def decode_opcode(deprecated: int, builtin: int, where: str = "operator code") -> int:
    """The operator code stored in the two fields of an OperatorCode table.

    Files from before `builtin_code` existed leave it 0; writers that know only the new field
    leave `deprecated_builtin_code` 0. Anything else must agree.
    """
    if deprecated == EXTENDED_CODE_MARKER:
        if builtin < EXTENDED_CODE_MARKER:
            raise InvalidModelError(
                f"{where}: deprecated_builtin_code 127 needs builtin_code >= 127, got {builtin}"
            )
        return builtin
    if deprecated == 0:
        return builtin
    if builtin in (0, deprecated):
        return deprecated
    raise InvalidModelError(
        f"{where}: deprecated_builtin_code {deprecated} and builtin_code {builtin} disagree"
    )
