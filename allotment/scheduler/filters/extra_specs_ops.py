"""Matching a host value against an extra-spec requirement such as ``">= 4"``, ``"<in> avx2"`` or ``"s== QEMU"``.

A requirement starts with an operator word followed by its operand (the rest of the text):

``=``                  numeric, value >= operand (a *minimum*, as in Nova)
``==`` ``!=`` ``>=`` ``<=``   numeric comparisons
``s==`` ``s!=`` ``s<`` ``s<=`` ``s>`` ``s>=``   string comparisons
``<in>``               operand occurs in the value (substring, or member of a list value)
``<all-in>``           every whitespace-separated operand word occurs in the value
``<or>``               ``<or> a <or> b``: value equals one of the alternatives

A requirement that does not start with an operator is compared as an exact string.

Two kinds of trouble are kept apart: a requirement that cannot be evaluated (no operand, a
numeric operator with a non-numeric operand) raises FilterError, because the flavor or
aggregate is wrong for every host; a host value that is missing or not a number just does
not match.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection

from allotment.scheduler.errors import FilterError

__all__ = ["OPERATORS", "match"]

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}
_STRING: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}
_MEMBERSHIP = ("<in>", "<all-in>")
OPERATORS = frozenset(_NUMERIC) | frozenset(_STRING) | frozenset(_MEMBERSHIP) | {"<or>"}
_OR_SEPARATOR = re.compile(r"\s*<or>\s*")

Value = str | Collection[str] | None


def match(value: Value, requirement: str) -> bool:
    """True when ``value`` satisfies ``requirement``.

    ``value`` is normally text; a list or set of strings (a CPU feature list) is checked by
    membership for ``<in>``/``<all-in>`` and by its text form for every other operator.
    """
    words = requirement.split(None, 1)
    op = words[0] if words else ""
    operand = words[1].strip() if len(words) > 1 else ""
    if op not in OPERATORS:
        return value is not None and _text(value) == requirement
    if not operand:
        raise FilterError(f"extra spec requirement {requirement!r}: operator {op!r} needs an operand")

    if op in _NUMERIC:
        wanted = _number(operand)
        if wanted is None:
            raise FilterError(f"extra spec requirement {requirement!r}: {operand!r} is not a number")
        have = _number(_text(value)) if value is not None else None
        return have is not None and _NUMERIC[op](have, wanted)

    if value is None:
        return False
    if op in _STRING:
        return _STRING[op](_text(value), operand)
    if op == "<in>":
        return operand in value
    if op == "<all-in>":
        return all(word in value for word in operand.split())
    # <or>: the operand is "a <or> b <or> c" once the leading operator is gone.
    alternatives = [alt for alt in _OR_SEPARATOR.split(operand) if alt]
    return _text(value) in alternatives


def _text(value: str | Collection[str]) -> str:
    return value if isinstance(value, str) else str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
