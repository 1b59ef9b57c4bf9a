"""Query-string schemas for GET /allocation_candidates, one per microversion where they change.

1.10 resources (required); 1.16 limit; 1.17 required; 1.21 member_of; 1.25 the
request-group keys with numeric suffixes (``resources1`` ...) and group_policy;
1.31 in_tree; 1.33 string suffixes; 1.35 root_required; 1.36 same_subtree.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

__all__ = ["GROUP_KEYS", "NUMERIC_SUFFIX", "STRING_SUFFIX", "schema_for"]

NUMERIC_SUFFIX = r"[1-9][0-9]*"
STRING_SUFFIX = r"[a-zA-Z0-9_-]{1,64}"
GROUP_KEYS = ("resources", "required", "member_of", "in_tree")

_STRING = {"type": "string"}

GET_1_10: dict[str, Any] = {
    "type": "object",
    "properties": {"resources": {"type": "string"}},
    "required": ["resources"],
    "additionalProperties": False,
}

GET_1_16 = deepcopy(GET_1_10)
# A query value is always a string here; integers are accepted for callers passing a dict.
GET_1_16["properties"]["limit"] = {
    "type": ["integer", "string"],
    "pattern": "^[1-9][0-9]*$",
    "minimum": 1,
    "minLength": 1,
}

GET_1_17 = deepcopy(GET_1_16)
GET_1_17["properties"]["required"] = {"type": ["string"]}

GET_1_21 = deepcopy(GET_1_17)
GET_1_21["properties"]["member_of"] = {"type": ["string"]}


def _group_patterns(keys: tuple[str, ...], suffix: str) -> dict[str, Any]:
    return {f"^{key}({suffix})?$": dict(_STRING) for key in keys}


GET_1_25 = deepcopy(GET_1_21)
for _key in ("resources", "required", "member_of"):
    del GET_1_25["properties"][_key]
del GET_1_25["required"]
GET_1_25["patternProperties"] = _group_patterns(("resources", "required", "member_of"), NUMERIC_SUFFIX)
GET_1_25["properties"]["group_policy"] = {"type": "string", "enum": ["none", "isolate"]}

GET_1_31 = deepcopy(GET_1_25)
GET_1_31["patternProperties"].update(_group_patterns(("in_tree",), NUMERIC_SUFFIX))

GET_1_33 = deepcopy(GET_1_31)
GET_1_33["patternProperties"] = _group_patterns(GROUP_KEYS, STRING_SUFFIX)

GET_1_35 = deepcopy(GET_1_33)
GET_1_35["properties"]["root_required"] = {"type": ["string"]}

GET_1_36 = deepcopy(GET_1_35)
GET_1_36["properties"]["same_subtree"] = {"type": ["string"]}

_BY_VERSION = (
    ((1, 36), GET_1_36),
    ((1, 35), GET_1_35),
    ((1, 33), GET_1_33),
    ((1, 31), GET_1_31),
    ((1, 25), GET_1_25),
    ((1, 21), GET_1_21),
    ((1, 17), GET_1_17),
    ((1, 16), GET_1_16),
)


def schema_for(version: Any) -> dict[str, Any]:
    """The query schema in force at ``version`` (a microversion_parse Version)."""
    for at, schema in _BY_VERSION:
        if version.matches(at):
            return schema
    return GET_1_10
